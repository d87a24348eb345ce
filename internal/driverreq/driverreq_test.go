package driverreq_test

import (
	"context"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/apifake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/tokens"
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

// With an issuer and no token, the request carries the kubelet's token for
// the pod: signed, for the audience, naming the pod.
func TestBuildSignsTheKubeletsToken(t *testing.T) {
	iss := issuer.New()
	m := driverreq.Request{
		PodName: "pmp-0", Namespace: "pmp", PodUID: "uid-1", ServiceAccount: "sa", SecretProviderClass: "spc",
		Parameters: map[string]string{"objects": "- objectName: PMP-X"}, Issuer: iss,
	}.Build()
	req, err := params.Parse(m.GetAttributes(), m.GetSecrets(), m.GetPermission())
	if err != nil {
		t.Fatal(err)
	}
	v := tokens.New(apifake.StartWith(t, iss).Client(), tokens.DefaultConfig("sts.amazonaws.com"))
	if err := v.Verify(context.Background(), req.Tokens["sts.amazonaws.com"].Value, tokens.Pod(req.Pod)); err != nil {
		t.Errorf("the built token does not verify for its pod: %v", err)
	}
}
