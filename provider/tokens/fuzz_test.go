package tokens

import (
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/json"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
)

// FuzzVerify: whatever the driver's token map holds, Verify never panics,
// never quotes the token, and accepts only a token whose claims the
// issuer signed.
func FuzzVerify(f *testing.F) {
	iss := issuer.New()
	good := iss.Sign(kubelet(issuer.Token{Expiry: time.Now().Add(24 * time.Hour)}))
	parts := strings.Split(good, ".")
	for _, s := range []string{
		good, "", ".", "..", "a.b.c", parts[0] + ".." + parts[2], parts[0] + "." + parts[1] + ".",
		"eyJhbGciOiJub25lIn0." + parts[1] + ".", "eyJhbGciOiJIUzI1NiJ9." + parts[1] + "." + parts[2],
		iss.Forger().Sign(kubelet(issuer.Token{})),
	} {
		f.Add(s)
	}
	signed, _ := base64.RawURLEncoding.DecodeString(parts[1])
	v := New(&fakeAPI{iss: iss}, DefaultConfig("sts.amazonaws.com"))
	f.Fuzz(func(t *testing.T, token string) {
		err := v.Verify(context.Background(), token, pod)
		if err != nil {
			for _, p := range strings.Split(token, ".") {
				if len(p) >= 16 && strings.Contains(err.Error(), p) {
					t.Fatalf("message quotes the token: %v", err)
				}
			}
			return
		}
		got := strings.Split(token, ".")
		if len(got) != 3 {
			t.Fatalf("accepted a token of %d parts", len(got))
		}
		payload, derr := base64.RawURLEncoding.DecodeString(got[1])
		if derr != nil || string(payload) != string(signed) {
			t.Fatalf("accepted claims the issuer never signed: %q", payload)
		}
	})
}

// FuzzClaims: for any claims the issuer's key signs, Verify accepts only
// claims that hold for the pod: the issuer, the audience, a current
// lifetime, the pod's service account and, when named, the pod.
func FuzzClaims(f *testing.F) {
	iss := issuer.New()
	now := time.Now()
	seed := func(t issuer.Token) {
		tok := iss.Sign(kubelet(t))
		p, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
		f.Add(p)
	}
	seed(issuer.Token{Expiry: now.Add(24 * time.Hour)})
	seed(issuer.Token{Audience: []string{"vault"}})
	seed(issuer.Token{Namespace: "other"})
	seed(issuer.Token{Subject: "system:serviceaccount:pmp:pmp-secrets-access:x"})
	f.Add([]byte(`{"iss":"https://kubernetes.default.svc","sub":"system:serviceaccount:pmp:pmp-secrets-access","aud":"sts.amazonaws.com","exp":9999999999}`))
	f.Add([]byte(`{"iss":"https://kubernetes.default.svc","sub":"system:serviceaccount:pmp:pmp-secrets-access","aud":["sts.amazonaws.com"],"exp":9999999999,"kubernetes.io":{"pod":{"name":"pmp-0","uid":"x"}}}`))
	f.Add([]byte(`{"exp":"soon"}`))
	f.Add([]byte(`null`))
	var once sync.Once
	var v *Verifier
	f.Fuzz(func(t *testing.T, payload []byte) {
		once.Do(func() { v = New(&fakeAPI{iss: iss}, DefaultConfig("sts.amazonaws.com")) })
		token := iss.SignPayload(payload)
		if err := v.Verify(context.Background(), token, pod); err != nil {
			return
		}
		var c struct {
			Iss string          `json:"iss"`
			Sub string          `json:"sub"`
			Aud json.RawMessage `json:"aud"`
			Exp *float64        `json:"exp"`
			K   *struct {
				Pod *struct {
					Name string `json:"name"`
					UID  string `json:"uid"`
				} `json:"pod"`
			} `json:"kubernetes.io"`
		}
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatalf("accepted claims that are not JSON: %q", payload)
		}
		switch {
		case c.Iss != iss.URL:
			t.Fatalf("accepted issuer %q", c.Iss)
		case c.Sub != pod.Subject():
			t.Fatalf("accepted subject %q", c.Sub)
		case !strings.Contains(string(c.Aud), `"sts.amazonaws.com"`):
			t.Fatalf("accepted audience %s", c.Aud)
		case c.Exp == nil || time.Unix(int64(*c.Exp), 0).Add(time.Minute).Before(time.Now()):
			t.Fatalf("accepted expiry %v", c.Exp)
		case c.K != nil && c.K.Pod != nil && (c.K.Pod.Name != pod.Name || c.K.Pod.UID != pod.UID):
			t.Fatalf("accepted pod %+v", *c.K.Pod)
		}
	})
}
