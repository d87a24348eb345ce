// Package tokens verifies the service-account token the driver passes with
// every Mount, before anything is read or served for it: its signature
// against the keys of the cluster's service-account issuer (the API
// server's OIDC discovery), its issuer, audience and lifetime, and that its
// subject and pod are the Mount's pod. Without this, any process that can
// reach the provider's socket could name another pod's namespace and
// service account with a junk token and be served that pod's cached secret.
//
// A verified token is remembered by its SHA-256 (never the token) until it
// expires, so a republish costs a hash and a map lookup, not a signature
// check.
package tokens

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

// Pod is the pod a Mount says it is for. Its fields are params.Pod's, in
// the same order, so one converts to the other.
type Pod struct {
	Name           string
	Namespace      string
	UID            string
	ServiceAccount string
}

// Subject is the sub claim of the pod's service account's tokens.
func (p Pod) Subject() string {
	return "system:serviceaccount:" + p.Namespace + ":" + p.ServiceAccount
}

// Config tunes a Verifier.
type Config struct {
	// Audience must be among the token's audiences (--token-audience).
	Audience string
	// Leeway is the clock skew allowed on exp and nbf.
	Leeway time.Duration
	// RefreshInterval is the least time between two reads of the issuer's
	// keys when a token names a key id not yet seen, so tokens with made-up
	// key ids cannot make the provider hammer the API server.
	RefreshInterval time.Duration
	// KeysMaxAge is how long keys are used before they are read again (an
	// issuer that drops a key stops its tokens within it), and the longest
	// a verified token is remembered.
	KeysMaxAge time.Duration
	// Remember bounds the verified tokens remembered.
	Remember int
	// CallTimeout bounds one read of the discovery document or the keys.
	CallTimeout time.Duration
}

// DefaultConfig is what the provider runs with, for audience.
func DefaultConfig(audience string) Config {
	return Config{
		Audience: audience, Leeway: 30 * time.Second, RefreshInterval: 10 * time.Second,
		KeysMaxAge: time.Hour, Remember: 4096, CallTimeout: 5 * time.Second,
	}
}

// MaxTokenBytes bounds a token: a kubelet token is about 1 KiB.
const MaxTokenBytes = 16 << 10

// algorithms are the signature algorithms a Kubernetes issuer may use
// (RSA or ECDSA keys); never "none" or an HMAC.
var algorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512,
}

// Verifier verifies tokens. It is safe for concurrent use.
type Verifier struct {
	// keys: holds nothing identity-specific (the cluster's issuer keys and
	// the read's own failure; see keySource).
	keys *keySource
	cfg  Config
	now  func() time.Time

	mu sync.Mutex
	// remembered: keyed by identity (the token's SHA-256, and each entry's
	// namespace, service account and pod are checked against the Mount's).
	remembered map[[sha256.Size]byte]verified
}

// verified is what is remembered of a verified token: whom it names, and
// until when it may be taken as verified.
type verified struct {
	namespace, serviceAccount string
	// bound: the token names a pod (the kubelet's do), podName and podUID.
	bound           bool
	podName, podUID string
	// audiences are the token's aud, checked per Verify: the same token
	// may be verified for one audience and presented for another.
	audiences []string
	until     time.Time
}

// New returns a verifier of tokens against the issuer api serves.
func New(api DiscoveryAPI, cfg Config) *Verifier {
	return &Verifier{keys: newKeySource(api, cfg), cfg: cfg, now: time.Now, remembered: map[[sha256.Size]byte]verified{}}
}

// Verify checks that token is a token of the cluster's issuer for the
// audience, valid now, and for pod. A refused token is a mounterr
// Unauthenticated error that says which check failed and never quotes the
// token; a failure to read the issuer's keys is Transient or Denied.
func (v *Verifier) Verify(ctx context.Context, token string, pod Pod) error {
	return v.VerifyFor(ctx, token, v.cfg.Audience, pod)
}

// VerifyFor is Verify for a token of another audience than the
// Verifier's, such as pods.eks.amazonaws.com for EKS Pod Identity: the
// same issuer, keys and checks, and the token must be for audience.
func (v *Verifier) VerifyFor(ctx context.Context, token, audience string, pod Pod) error {
	_, err := v.VerifyBound(ctx, token, audience, pod)
	return err
}

// VerifyBound is VerifyFor, and reports whether the token is bound to the
// pod: it names the pod (the kubelet's tokens do), so the pod's name and
// UID are proven, not only its service account. EKS Pod Identity tags a
// session with them.
func (v *Verifier) VerifyBound(ctx context.Context, token, audience string, pod Pod) (bound bool, err error) {
	if len(token) > MaxTokenBytes {
		return false, v.refused(pod, "format", fmt.Sprintf("it is %d bytes long, over the %d bytes of any service account token", len(token), MaxTokenBytes))
	}
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
	now := v.now()
	v.mu.Lock()
	got, ok := v.remembered[sum]
	if ok && !now.Before(got.until) {
		delete(v.remembered, sum)
		ok = false
	}
	v.mu.Unlock()
	if ok {
		return got.bound, v.matches(got, audience, pod)
	}
	got, err = v.verify(ctx, token, pod, now)
	if err != nil {
		return false, err
	}
	if err := v.matches(got, audience, pod); err != nil {
		return false, err
	}
	v.remember(sum, got)
	return got.bound, nil
}

// claims are the claims read from a token.
type claims struct {
	jwt.Claims
	Kubernetes *struct {
		Namespace string `json:"namespace"`
		Pod       *struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"pod"`
	} `json:"kubernetes.io"`
}

func (v *Verifier) verify(ctx context.Context, token string, pod Pod, now time.Time) (verified, error) {
	tok, err := jwt.ParseSigned(token, algorithms)
	if err != nil {
		return verified{}, v.refused(pod, "format", "it is not a JWT signed with RSA or ECDSA (the kubelet's service account tokens are)")
	}
	kid := ""
	if len(tok.Headers) > 0 {
		kid = tok.Headers[0].KeyID
	}
	var c claims
	var ks matching
	verifiedSig := false
	// A signature the keys refuse has the keys read again once (a key
	// replaced under the same id), at most once per RefreshInterval.
	for attempt := 0; attempt < 2 && !verifiedSig; attempt++ {
		if ks, err = v.keys.lookup(ctx, kid, now, attempt > 0); err != nil {
			return verified{}, err
		}
		for _, k := range ks.keys {
			if tok.Claims(k) == nil { // no destination: the signature only
				verifiedSig = true
				break
			}
		}
	}
	if !verifiedSig {
		return verified{}, v.refused(pod, "signature",
			"it is not signed by a key of the cluster's service-account issuer (the API server's /openid/v1/jwks): only tokens the kubelet issued for the pod are accepted")
	}
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil { // verified just above
		return verified{}, v.refused(pod, "format", "its claims are not the JSON claims of a service account token")
	}
	switch {
	case c.Issuer != ks.issuer:
		return verified{}, v.refused(pod, "issuer", fmt.Sprintf("it was issued by %.256q, not by the cluster's service-account issuer %.256q", c.Issuer, ks.issuer))
	case c.Expiry == nil:
		return verified{}, v.refused(pod, "expiry", "it has no expiry (exp)")
	case now.After(c.Expiry.Time().Add(v.cfg.Leeway)):
		return verified{}, v.refused(pod, "expiry", fmt.Sprintf("it expired at %s", c.Expiry.Time().UTC().Format(time.RFC3339)))
	case c.NotBefore != nil && now.Add(v.cfg.Leeway).Before(c.NotBefore.Time()):
		return verified{}, v.refused(pod, "not before", fmt.Sprintf("it is not valid before %s", c.NotBefore.Time().UTC().Format(time.RFC3339)))
	}
	ns, sa, ok := serviceAccountOf(c.Subject)
	if !ok {
		return verified{}, v.refused(pod, "subject", fmt.Sprintf("its subject %.256q is not a service account (system:serviceaccount:NAMESPACE:NAME)", c.Subject))
	}
	got := verified{namespace: ns, serviceAccount: sa, audiences: c.Audience}
	if c.Kubernetes != nil && c.Kubernetes.Pod != nil {
		got.bound, got.podName, got.podUID = true, c.Kubernetes.Pod.Name, c.Kubernetes.Pod.UID
	}
	got.until = c.Expiry.Time().Add(v.cfg.Leeway)
	if limit := now.Add(v.cfg.KeysMaxAge); limit.Before(got.until) {
		got.until = limit
	}
	return got, nil
}

// matches checks that a verified token is for audience and pod.
func (v *Verifier) matches(got verified, audience string, pod Pod) error {
	if !slices.Contains(got.audiences, audience) {
		hint := "the CSIDriver's tokenRequests audience must be the provider's --token-audience"
		if audience != v.cfg.Audience {
			hint = fmt.Sprintf("the CSIDriver's tokenRequests must include the audience %q", audience)
		}
		return v.refused(pod, "audience", fmt.Sprintf("it is for the audience %.256q, not %q: %s", strings.Join(got.audiences, ","), audience, hint))
	}
	if got.namespace != pod.Namespace || got.serviceAccount != pod.ServiceAccount {
		return v.refused(pod, "subject", fmt.Sprintf("it is for %.256q, not for the pod's service account %.256q",
			"system:serviceaccount:"+got.namespace+":"+got.serviceAccount, pod.Subject()))
	}
	if !got.bound {
		return nil // not bound to a pod: the service account is all it names
	}
	if got.podName != pod.Name || got.podUID != pod.UID {
		return v.refused(pod, "pod", fmt.Sprintf("it was issued to pod %.256q (uid %.64q), not to this pod (uid %.64q)",
			got.namespace+"/"+got.podName, got.podUID, pod.UID))
	}
	return nil
}

func (v *Verifier) remember(sum [sha256.Size]byte, got verified) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, dup := v.remembered[sum]; !dup && len(v.remembered) >= max(v.cfg.Remember, 1) {
		// The rule of the provider's small caches: a random entry makes
		// room. An expired one is preferred when a few tries find one.
		victim, found := [sha256.Size]byte{}, false
		now := v.now()
		tries := 0
		for k, e := range v.remembered { // map order is random
			victim, found = k, true
			if tries++; !now.Before(e.until) || tries >= 4 {
				break
			}
		}
		if found {
			delete(v.remembered, victim)
		}
	}
	v.remembered[sum] = got
}

// Remembered is how many verified tokens are remembered.
func (v *Verifier) Remembered() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.remembered)
}

func (v *Verifier) refused(pod Pod, check, why string) error {
	return mounterr.New(mounterr.Unauthenticated, "the service account token of pod %.256q failed the %s check: %s",
		pod.Namespace+"/"+pod.Name, check, why)
}

// serviceAccountOf splits system:serviceaccount:NAMESPACE:NAME.
func serviceAccountOf(sub string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(sub, "system:serviceaccount:")
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	if !ok || namespace == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return namespace, name, true
}

// jitter is a random fraction of d, up to a tenth, so providers on many
// nodes do not all re-read the keys in the same second.
func jitter(d time.Duration) time.Duration {
	return time.Duration(rand.Int64N(int64(d)/10 + 1))
}
