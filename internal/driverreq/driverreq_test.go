package driverreq_test

import (
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// The provider's own parser reads back what the builder wrote, wherever
// the driver puts the token.
func TestBuildParsesBack(t *testing.T) {
	for _, inSecrets := range []bool{false, true} {
		r := driverreq.Request{
			PodName: "pmp-0", Namespace: "pmp", PodUID: "uid-1", ServiceAccount: "sa", SecretProviderClass: "spc",
			Parameters: map[string]string{"objects": "- objectName: PMP-X"}, Token: "jwt", TokensInSecrets: inSecrets,
		}
		m := r.Build()
		req, err := params.Parse(m.GetAttributes(), m.GetSecrets(), m.GetPermission())
		if err != nil {
			t.Fatalf("inSecrets=%v: %v", inSecrets, err)
		}
		if req.Tokens["sts.amazonaws.com"].Value != "jwt" || req.Pod.ServiceAccount != "sa" || req.Mode != 0o644 || req.Objects[0].Name != "PMP-X" {
			t.Errorf("inSecrets=%v: parsed %+v", inSecrets, req)
		}
	}
}
