package server_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
)

// TestBadTokensGetNothingOfACachedIdentity: any root process on the node
// can reach the provider's socket. One that names a pod whose secret is
// cached, with a token that is not that pod's, is refused before any AWS
// call, whatever the caches hold.
func TestBadTokensGetNothingOfACachedIdentity(t *testing.T) {
	for _, cacheOn := range []bool{true, false} {
		e := newEnv(t, func(o *provider.Options) { o.Cache = cacheOn })
		doc, _ := pmpTemplate(secretValue)
		e.putSecret("PMP-Production-Credentials", doc)
		victim := pmpReq("- objectName: PMP-Production-Credentials")
		if _, err := e.mount(victim); err != nil {
			t.Fatalf("the victim's own Mount: %v", err)
		}
		for _, b := range badTokens() {
			t.Run(b.name, func(t *testing.T) {
				e.aws.Front.ResetCounts()
				r := victim
				r.Token = b.token
				resp, err := e.mount(r)
				if err == nil {
					t.Fatalf("cache %v: served %d files for a bad token", cacheOn, len(resp.GetFiles()))
				}
				st := status.Convert(err)
				if st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), "failed the "+b.check+" check") {
					t.Errorf("cache %v: %v, want Unauthenticated naming the %s check", cacheOn, err, b.check)
				}
				if strings.Contains(st.Message(), b.token) {
					t.Error("message quotes the token")
				}
				if n := e.aws.Front.Total(); n != 0 {
					t.Errorf("cache %v: a bad token cost %d AWS calls (%v), want 0", cacheOn, n, e.aws.Front.Counts())
				}
			})
		}
	}
}

// badToken is a token a process other than the driver might send in a
// Mount of pod pmp/pmp-0, and the check that refuses it.
type badToken struct{ name, token, check string }

func badTokens() []badToken {
	pmpPod := func(t issuer.Token) issuer.Token {
		t.Namespace, t.ServiceAccount = "pmp", "pmp-secrets-access"
		if t.PodName == "" {
			t.PodName, t.PodUID = "pmp-0", "0b0e3c1e-0000-4000-8000-000000000001"
		}
		return t
	}
	return []badToken{
		{name: "junk", token: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", check: "signature"},
		{name: "forged", token: testForger.Sign(pmpPod(issuer.Token{})), check: "signature"},
		{name: "expired", token: testIssuer.Sign(pmpPod(issuer.Token{IssuedAt: time.Now().Add(-2 * time.Hour)})), check: "expiry"},
		{name: "another audience", token: testIssuer.Sign(pmpPod(issuer.Token{Audience: []string{"https://kubernetes.default.svc"}})), check: "audience"},
		{name: "another namespace's service account", token: testIssuer.Sign(issuer.Token{Namespace: "other", ServiceAccount: "copycat"}), check: "subject"},
		{name: "another service account of the namespace", token: testIssuer.Sign(issuer.Token{Namespace: "pmp", ServiceAccount: "no-role"}), check: "subject"},
		{name: "another pod's", token: testIssuer.Sign(pmpPod(issuer.Token{PodName: "pmp-9", PodUID: "uid-9"})), check: "pod"},
	}
}
