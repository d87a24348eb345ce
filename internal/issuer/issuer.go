// Package issuer stands in for the cluster's service-account token issuer
// in tests, the demo and the benchmark harness: it signs tokens shaped as
// the kubelet's (the claims of a TokenRequest bound to a pod) and serves the
// OIDC discovery document and the JWKS the API server serves, so the
// provider verifies them exactly as it verifies real ones.
package issuer

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// DefaultURL is the issuer the local e2e cluster's API server is given
// (--service-account-issuer), and the one tokens carry by default.
const DefaultURL = "https://kubernetes.default.svc"

// Paths the API server serves discovery on.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/openid/v1/jwks"
)

// Issuer signs service-account tokens with one RSA key.
type Issuer struct {
	// URL is the iss claim and the discovery document's issuer.
	URL    string
	kid    string
	key    *rsa.PrivateKey
	signer jose.Signer

	mu     sync.Mutex
	issued []string
}

// maxIssued bounds the tokens Issued remembers.
const maxIssued = 10_000

var (
	sharedOnce sync.Once
	sharedKey  *rsa.PrivateKey
	sharedErr  error
)

// New returns an issuer at DefaultURL. Every issuer New returns in one
// process shares one key (RSA key generation costs up to a second on a
// busy machine); use Forger for a different key.
func New() *Issuer {
	sharedOnce.Do(func() { sharedKey, sharedErr = rsa.GenerateKey(rand.Reader, 2048) })
	if sharedErr != nil {
		panic(fmt.Sprintf("issuer: generating a key: %v", sharedErr))
	}
	return newIssuer(DefaultURL, "test-key-1", sharedKey)
}

// Forger returns an issuer with the same URL and key id as i but a key of
// its own: its tokens look like i's and carry a signature i's keys refuse.
func (i *Issuer) Forger() *Issuer { return i.Rotated(i.kid) }

// Rotated returns the issuer i becomes when it signs with a new key of id
// kid.
func (i *Issuer) Rotated(kid string) *Issuer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("issuer: generating a key: %v", err))
	}
	return newIssuer(i.URL, kid, key)
}

func newIssuer(url, kid string, key *rsa.PrivateKey) *Issuer {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		panic(fmt.Sprintf("issuer: %v", err))
	}
	return &Issuer{URL: url, kid: kid, key: key, signer: signer}
}

// Token says what a token is for. Zero fields take the kubelet's values for
// the pod: sub system:serviceaccount:NAMESPACE:SERVICEACCOUNT, audience
// sts.amazonaws.com, issued now, expiring in an hour.
type Token struct {
	Namespace, ServiceAccount string
	// PodName and PodUID bind the token to a pod, as the kubelet's are;
	// both empty: an unbound token (kubectl create token).
	PodName, PodUID string
	Audience        []string
	// Subject overrides the sub claim.
	Subject string
	// Issuer overrides the iss claim.
	Issuer    string
	IssuedAt  time.Time
	NotBefore time.Time
	Expiry    time.Time
	// NoExpiry leaves the exp claim out.
	NoExpiry bool
}

// kubernetesClaims is the "kubernetes.io" claim of a bound token.
type kubernetesClaims struct {
	Namespace      string `json:"namespace"`
	Pod            *ref   `json:"pod,omitempty"`
	ServiceAccount ref    `json:"serviceaccount"`
}

type ref struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Sign returns the signed token.
func (i *Issuer) Sign(t Token) string {
	now := time.Now()
	if t.IssuedAt.IsZero() {
		t.IssuedAt = now
	}
	if t.NotBefore.IsZero() {
		t.NotBefore = t.IssuedAt
	}
	if t.Expiry.IsZero() {
		t.Expiry = t.IssuedAt.Add(time.Hour)
	}
	if len(t.Audience) == 0 {
		t.Audience = []string{"sts.amazonaws.com"}
	}
	if t.Subject == "" {
		t.Subject = "system:serviceaccount:" + t.Namespace + ":" + t.ServiceAccount
	}
	if t.Issuer == "" {
		t.Issuer = i.URL
	}
	std := jwt.Claims{
		Issuer: t.Issuer, Subject: t.Subject, Audience: jwt.Audience(t.Audience),
		IssuedAt: jwt.NewNumericDate(t.IssuedAt), NotBefore: jwt.NewNumericDate(t.NotBefore),
	}
	if !t.NoExpiry {
		std.Expiry = jwt.NewNumericDate(t.Expiry)
	}
	k := kubernetesClaims{Namespace: t.Namespace, ServiceAccount: ref{Name: t.ServiceAccount, UID: "sa-uid-" + t.ServiceAccount}}
	if t.PodName != "" || t.PodUID != "" {
		k.Pod = &ref{Name: t.PodName, UID: t.PodUID}
	}
	s, err := jwt.Signed(i.signer).Claims(std).Claims(map[string]any{"kubernetes.io": k}).Serialize()
	if err != nil {
		panic(fmt.Sprintf("issuer: signing: %v", err))
	}
	i.mu.Lock()
	if len(i.issued) < maxIssued {
		i.issued = append(i.issued, s)
	}
	i.mu.Unlock()
	return s
}

// SignPayload signs payload as a token's claims, as it is: for tests of
// claims the kubelet would never write.
func (i *Issuer) SignPayload(payload []byte) string {
	jws, err := i.signer.Sign(payload)
	if err != nil {
		panic(fmt.Sprintf("issuer: signing: %v", err))
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		panic(fmt.Sprintf("issuer: %v", err))
	}
	return s
}

// Issued returns the tokens signed so far (the first 10,000), so a test
// can check that none of them shows up where it must not.
func (i *Issuer) Issued() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]string(nil), i.issued...)
}

// Discovery is the OIDC discovery document, as the API server serves it.
func (i *Issuer) Discovery() []byte {
	b, _ := json.Marshal(map[string]any{
		"issuer":                                i.URL,
		"jwks_uri":                              "https://127.0.0.1:6443" + JWKSPath,
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
	return b
}

// JWKS is the issuer's public key set, as the API server serves it.
func (i *Issuer) JWKS() []byte {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &i.key.PublicKey, KeyID: i.kid, Algorithm: string(jose.RS256), Use: "sig",
	}}})
	if err != nil {
		panic(fmt.Sprintf("issuer: %v", err))
	}
	return b
}

// Register serves the discovery document and the JWKS on mux, at the API
// server's paths and as strictly as it does: the JWKS only to a client
// that accepts application/jwk-set+json (the API server answers 406 Not
// Acceptable to one that asks for application/json only).
func (i *Issuer) Register(mux *http.ServeMux) {
	serve := func(body []byte, mediaType string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if accept := r.Header.Get("Accept"); accept != "" && !strings.Contains(accept, mediaType) && !strings.Contains(accept, "*/*") {
				http.Error(w, "406: Not Acceptable\n\nAvailable representations: "+mediaType, http.StatusNotAcceptable)
				return
			}
			w.Header().Set("Content-Type", mediaType)
			_, _ = w.Write(body)
		}
	}
	mux.HandleFunc("GET "+DiscoveryPath, serve(i.Discovery(), "application/json"))
	mux.HandleFunc("GET "+JWKSPath, serve(i.JWKS(), "application/jwk-set+json"))
}
