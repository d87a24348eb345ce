package tokens

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/testclock"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

// fakeAPI serves an issuer's discovery as the API server does, counts the
// reads, and fails them with err when set.
type fakeAPI struct {
	mu     sync.Mutex
	iss    *issuer.Issuer
	err    error
	reads  int
	issuer string // overrides the discovery document's issuer when set
}

var _ DiscoveryAPI = (*fakeAPI)(nil)

func (f *fakeAPI) OpenIDConfiguration(context.Context) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.err != nil {
		return nil, f.err
	}
	if f.issuer != "" {
		return []byte(`{"issuer": "` + f.issuer + `"}`), nil
	}
	return f.iss.Discovery(), nil
}

func (f *fakeAPI) OpenIDKeys(context.Context) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return f.iss.JWKS(), nil
}

func (f *fakeAPI) Reads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func (f *fakeAPI) set(iss *issuer.Issuer, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if iss != nil {
		f.iss = iss
	}
	f.err = err
}

var pod = Pod{Name: "pmp-0", Namespace: "pmp", UID: "0b0e3c1e-0000-4000-8000-000000000001", ServiceAccount: "pmp-secrets-access"}

// kubelet is the token the kubelet issues for pod.
func kubelet(t issuer.Token) issuer.Token {
	if t.Namespace == "" {
		t.Namespace = pod.Namespace
	}
	if t.ServiceAccount == "" {
		t.ServiceAccount = pod.ServiceAccount
	}
	if t.PodName == "" {
		t.PodName = pod.Name
	}
	if t.PodUID == "" {
		t.PodUID = pod.UID
	}
	return t
}

func newVerifier(t *testing.T) (*Verifier, *fakeAPI, *issuer.Issuer, *testclock.Clock) {
	t.Helper()
	iss := issuer.New()
	api := &fakeAPI{iss: iss}
	v := New(api, DefaultConfig("sts.amazonaws.com"))
	c := testclock.New(time.Now())
	v.now, v.keys.now = c.Now, c.Now
	return v, api, iss, c
}

// wantRefused checks err is the refusal of check, which never quotes the
// token.
func wantRefused(t *testing.T, err error, token, check string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Verify accepted the token, want the %s check to fail", check)
	}
	if got := mounterr.KindOf(err); got != mounterr.Unauthenticated {
		t.Errorf("kind = %s, want Unauthenticated (%v)", got, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "failed the "+check+" check") {
		t.Errorf("message does not name the %s check: %s", check, msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message lacks %q: %s", w, msg)
		}
	}
	for _, part := range strings.Split(token, ".") {
		if len(part) >= 8 && strings.Contains(msg, part) {
			t.Errorf("message quotes the token: %s", msg)
		}
	}
}

func TestVerifyAcceptsTheKubeletsToken(t *testing.T) {
	v, api, iss, _ := newVerifier(t)
	for _, tok := range []issuer.Token{
		kubelet(issuer.Token{}),
		kubelet(issuer.Token{Audience: []string{"vault", "sts.amazonaws.com"}}),
		// kubectl create token: bound to no pod, names the service account.
		{Namespace: pod.Namespace, ServiceAccount: pod.ServiceAccount},
	} {
		if err := v.Verify(context.Background(), iss.Sign(tok), pod); err != nil {
			t.Errorf("Verify(%+v): %v", tok, err)
		}
	}
	if got := api.Reads(); got != 1 {
		t.Errorf("discovery read %d times, want once: the keys are kept", got)
	}
}

func TestVerifyRefuses(t *testing.T) {
	_, _, iss, _ := newVerifier(t)
	now := time.Now()
	forger := iss.Forger()
	tests := []struct {
		name  string
		token string
		pod   Pod
		check string
		want  []string
	}{
		{name: "not a JWT", token: "not-a-token-at-all", check: "format"},
		{name: "empty", token: "", check: "format"},
		{name: "three parts of junk", token: "eyJhbGciOiJSUzI1NiJ9.junkjunkjunk.c2lnbmF0dXJl", check: "signature"},
		{name: "unsigned (alg none)", token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", check: "format"},
		{name: "over-long", token: strings.Repeat("a", MaxTokenBytes+1), check: "format", want: []string{"16384 bytes"}},
		{name: "forged: same key id, another key", token: forger.Sign(kubelet(issuer.Token{})), check: "signature",
			want: []string{"/openid/v1/jwks"}},
		{name: "another issuer", token: iss.Sign(kubelet(issuer.Token{Issuer: "https://evil.example"})), check: "issuer",
			want: []string{`"https://evil.example"`, `"https://kubernetes.default.svc"`}},
		{name: "another audience", token: iss.Sign(kubelet(issuer.Token{Audience: []string{"vault"}})), check: "audience",
			want: []string{`"vault"`, "--token-audience"}},
		{name: "expired", token: iss.Sign(kubelet(issuer.Token{IssuedAt: now.Add(-2 * time.Hour)})), check: "expiry",
			want: []string{"expired at " + now.Add(-time.Hour).UTC().Format("2006-01-02T15")}},
		{name: "no expiry", token: iss.Sign(kubelet(issuer.Token{NoExpiry: true})), check: "expiry"},
		{name: "not yet valid", token: iss.Sign(kubelet(issuer.Token{NotBefore: now.Add(time.Hour)})), check: "not before"},
		{name: "another namespace's service account", token: iss.Sign(kubelet(issuer.Token{Namespace: "other", ServiceAccount: "copycat"})), check: "subject",
			want: []string{`"system:serviceaccount:other:copycat"`, `"system:serviceaccount:pmp:pmp-secrets-access"`}},
		{name: "another service account of the namespace", token: iss.Sign(kubelet(issuer.Token{ServiceAccount: "default"})), check: "subject"},
		{name: "a subject that is no service account", token: iss.Sign(kubelet(issuer.Token{Subject: "system:node:node-1"})), check: "subject",
			want: []string{"not a service account"}},
		{name: "another pod's token", token: iss.Sign(kubelet(issuer.Token{PodName: "pmp-1", PodUID: "uid-of-pmp-1"})), check: "pod",
			want: []string{`"pmp/pmp-1"`, `"uid-of-pmp-1"`}},
		{name: "the pod's name, another pod's uid (a pod deleted and made again)", token: iss.Sign(kubelet(issuer.Token{PodUID: "uid-of-the-old-pod"})), check: "pod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, api, _, _ := newVerifier(t)
			err := v.Verify(context.Background(), tt.token, pod)
			wantRefused(t, err, tt.token, tt.check, tt.want...)
			if !strings.HasPrefix(err.Error(), `the service account token of pod "pmp/pmp-0" failed the `) {
				t.Errorf("message = %s", err)
			}
			if v.Remembered() != 0 {
				t.Error("a refused token was remembered")
			}
			if tt.check == "format" && api.Reads() != 0 {
				t.Errorf("a token that is no JWT made %d reads of the issuer's keys", api.Reads())
			}
		})
	}
}

func TestRememberedTokensAreCheckedAgainstEachMount(t *testing.T) {
	v, api, iss, c := newVerifier(t)
	tok := iss.Sign(kubelet(issuer.Token{}))
	if err := v.Verify(context.Background(), tok, pod); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.remembered[sha256.Sum256([]byte(tok))]; !ok || v.Remembered() != 1 {
		t.Fatal("the verified token is not remembered by its SHA-256")
	}
	// The same (valid) token sent for another pod's identity.
	other := Pod{Name: "victim-0", Namespace: "victim", UID: "uid-victim", ServiceAccount: "victim-sa"}
	wantRefused(t, v.Verify(context.Background(), tok, other), tok, "subject")
	sameSA := pod
	sameSA.Name, sameSA.UID = "pmp-7", "uid-of-pmp-7"
	wantRefused(t, v.Verify(context.Background(), tok, sameSA), tok, "pod")
	if err := v.Verify(context.Background(), tok, pod); err != nil {
		t.Errorf("the remembered token for its own pod: %v", err)
	}
	if got := api.Reads(); got != 1 {
		t.Errorf("discovery read %d times, want 1", got)
	}
	// Past its expiry (and the leeway) it is refused, remembered or not.
	c.Advance(time.Hour + 31*time.Second)
	wantRefused(t, v.Verify(context.Background(), tok, pod), tok, "expiry")
}

func TestLeeway(t *testing.T) {
	v, _, iss, c := newVerifier(t)
	tok := iss.Sign(kubelet(issuer.Token{NotBefore: c.Now().Add(20 * time.Second)}))
	if err := v.Verify(context.Background(), tok, pod); err != nil {
		t.Errorf("nbf 20s ahead (a node clock behind): %v", err)
	}
	c.Advance(time.Hour + 20*time.Second)
	if err := v.Verify(context.Background(), tok, pod); err != nil {
		t.Errorf("exp 20s ago: %v", err)
	}
}

func TestKeysAreReadAgainForAnUnknownKeyIDAtABoundedRate(t *testing.T) {
	v, api, iss, c := newVerifier(t)
	if err := v.Verify(context.Background(), iss.Sign(kubelet(issuer.Token{})), pod); err != nil {
		t.Fatal(err)
	}
	// The issuer rotates to a new key: its tokens name a key id not yet
	// seen, and the keys are read again.
	rotated := iss.Rotated("test-key-2")
	api.set(rotated, nil)
	c.Advance(DefaultConfig("").RefreshInterval)
	if err := v.Verify(context.Background(), rotated.Sign(kubelet(issuer.Token{})), pod); err != nil {
		t.Fatalf("token of the rotated key: %v", err)
	}
	if got := api.Reads(); got != 2 {
		t.Fatalf("reads = %d, want 2", got)
	}
	// A flood of tokens of unknown keys within the refresh interval costs
	// no read.
	forger := rotated.Forger()
	for i := range 50 {
		// Each token its own (a second apart): a token already verified is
		// remembered even once its key is gone, until it expires.
		tok := kubelet(issuer.Token{IssuedAt: c.Now().Add(-time.Duration(i+1) * time.Second)})
		forged := iss.Sign(tok) // the old key, gone from the set
		if i%2 == 1 {
			forged = forger.Sign(tok) // the known key id, another key
		}
		wantRefused(t, v.Verify(context.Background(), forged, pod), forged, "signature")
	}
	if got := api.Reads(); got != 2 {
		t.Errorf("reads = %d after forged tokens, want still 2", got)
	}
}

func TestKeysAreReadAgainForAKeyReplacedUnderItsID(t *testing.T) {
	v, api, iss, c := newVerifier(t)
	if err := v.Verify(context.Background(), iss.Sign(kubelet(issuer.Token{})), pod); err != nil {
		t.Fatal(err)
	}
	replaced := iss.Forger()
	api.set(replaced, nil)
	c.Advance(DefaultConfig("").RefreshInterval)
	if err := v.Verify(context.Background(), replaced.Sign(kubelet(issuer.Token{})), pod); err != nil {
		t.Fatalf("token of the replaced key: %v", err)
	}
	if got := api.Reads(); got != 2 {
		t.Errorf("reads = %d, want 2", got)
	}
}

func TestKeysAreReadAgainWhenOld(t *testing.T) {
	v, api, iss, c := newVerifier(t)
	for range 2 {
		if err := v.Verify(context.Background(), iss.Sign(kubelet(issuer.Token{})), pod); err != nil {
			t.Fatal(err)
		}
		c.Advance(DefaultConfig("").KeysMaxAge)
	}
	if got := api.Reads(); got != 2 {
		t.Errorf("reads = %d, want 2: keys older than KeysMaxAge are read again", got)
	}
}

func TestKeyReadFailures(t *testing.T) {
	gr := schema.GroupResource{Resource: "openid"}
	tests := []struct {
		name string
		err  error
		kind mounterr.Kind
		want string
	}{
		{name: "forbidden", err: apierrors.NewForbidden(gr, "jwks", errors.New("no")), kind: mounterr.Denied,
			want: "bind its service account to the ClusterRole system:service-account-issuer-discovery"},
		{name: "unauthorized", err: apierrors.NewUnauthorized("who are you"), kind: mounterr.Denied, want: "system:service-account-issuer-discovery"},
		{name: "not served", err: apierrors.NewGenericServerResponse(http.StatusNotFound, "GET", gr, "", "", 0, true), kind: mounterr.Invalid,
			want: "does not serve service-account issuer discovery"},
		{name: "unreachable", err: errors.New("dial tcp 127.0.0.1:6443: connect: connection refused"), kind: mounterr.Transient,
			want: "failed (transient; the kubelet retries)"},
		{name: "overloaded", err: apierrors.NewTooManyRequests("slow down", 1), kind: mounterr.Transient, want: "transient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, api, iss, _ := newVerifier(t)
			api.set(nil, tt.err)
			err := v.Verify(context.Background(), iss.Sign(kubelet(issuer.Token{})), pod)
			if err == nil {
				t.Fatal("Verify succeeded without keys")
			}
			if got := mounterr.KindOf(err); got != tt.kind {
				t.Errorf("kind = %s, want %s", got, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("message lacks %q: %s", tt.want, err)
			}
		})
	}
}

func TestKnownKeysOutliveAnAPIOutage(t *testing.T) {
	v, api, iss, c := newVerifier(t)
	if err := v.Verify(context.Background(), iss.Sign(kubelet(issuer.Token{})), pod); err != nil {
		t.Fatal(err)
	}
	api.set(nil, errors.New("connection refused"))
	c.Advance(DefaultConfig("").KeysMaxAge) // due for a read, which fails
	if err := v.Verify(context.Background(), iss.Sign(kubelet(issuer.Token{})), pod); err != nil {
		t.Errorf("a token of a known key during an API outage: %v", err)
	}
	// Reads after a failure wait for the backoff: one read per second at
	// most, however many Mounts.
	before := api.Reads()
	for range 20 {
		_ = v.Verify(context.Background(), iss.Sign(kubelet(issuer.Token{})), pod)
	}
	if got := api.Reads() - before; got != 0 {
		t.Errorf("%d reads within the failure backoff, want 0", got)
	}
}

func TestRememberedTokensAreBounded(t *testing.T) {
	iss := issuer.New()
	cfg := DefaultConfig("sts.amazonaws.com")
	cfg.Remember = 3
	v := New(&fakeAPI{iss: iss}, cfg)
	for i := range 10 {
		p := pod
		p.Name = "pmp-" + string(rune('a'+i))
		if err := v.Verify(context.Background(), iss.Sign(kubelet(issuer.Token{PodName: p.Name})), p); err != nil {
			t.Fatal(err)
		}
	}
	if got := v.Remembered(); got != 3 {
		t.Errorf("remembered %d tokens, want the bound 3", got)
	}
}

func TestServiceAccountOf(t *testing.T) {
	tests := []struct {
		sub      string
		ns, name string
		ok       bool
	}{
		{sub: "system:serviceaccount:pmp:pmp-secrets-access", ns: "pmp", name: "pmp-secrets-access", ok: true},
		{sub: "system:serviceaccount:pmp:"},
		{sub: "system:serviceaccount::sa"},
		{sub: "system:serviceaccount:pmp"},
		{sub: "system:serviceaccount:a:b:c"},
		{sub: "system:serviceaccounts:pmp:sa"},
		{sub: "system:node:node-1"},
		{sub: ""},
	}
	for _, tt := range tests {
		ns, name, ok := serviceAccountOf(tt.sub)
		if ns != tt.ns || name != tt.name || ok != tt.ok {
			t.Errorf("serviceAccountOf(%q) = %q, %q, %v; want %q, %q, %v", tt.sub, ns, name, ok, tt.ns, tt.name, tt.ok)
		}
	}
}

func TestConcurrentFirstTokensReadTheKeysOnce(t *testing.T) {
	v, api, iss, _ := newVerifier(t)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		p := pod
		p.Name = "pmp-" + string(rune('a'+i))
		tok := iss.Sign(kubelet(issuer.Token{PodName: p.Name}))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := v.Verify(context.Background(), tok, p); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := api.Reads(); got != 1 {
		t.Errorf("32 concurrent first Mounts read the keys %d times, want once", got)
	}
}

func TestSignedClaimsThatAreNotClaims(t *testing.T) {
	v, _, iss, _ := newVerifier(t)
	for _, payload := range []string{`{"exp": "soon"}`, `[1, 2]`, `not json`} {
		tok := iss.SignPayload([]byte(payload))
		wantRefused(t, v.Verify(context.Background(), tok, pod), tok, "format", "claims")
	}
}

// TestVerifyForAnotherAudience: EKS Pod Identity's token is for the
// audience pods.eks.amazonaws.com; it is verified as any other, and a
// token is accepted only for the audience it is for, remembered or not.
func TestVerifyForAnotherAudience(t *testing.T) {
	const podIdentity = "pods.eks.amazonaws.com"
	v, _, iss, _ := newVerifier(t)
	ctx := context.Background()
	piTok := iss.Sign(kubelet(issuer.Token{Audience: []string{podIdentity}}))
	stsTok := iss.Sign(kubelet(issuer.Token{}))
	if err := v.VerifyFor(ctx, piTok, podIdentity, pod); err != nil {
		t.Fatalf("the Pod Identity token: %v", err)
	}
	if err := v.VerifyFor(ctx, piTok, podIdentity, pod); err != nil || v.Remembered() != 1 {
		t.Fatalf("the remembered Pod Identity token: %v (%d remembered)", err, v.Remembered())
	}
	// Remembered, and still refused for the provider's own audience.
	wantRefused(t, v.Verify(ctx, piTok, pod), piTok, "audience", `"pods.eks.amazonaws.com"`, "--token-audience")
	if err := v.Verify(ctx, stsTok, pod); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, v.VerifyFor(ctx, stsTok, podIdentity, pod), stsTok, "audience",
		`"sts.amazonaws.com"`, `the CSIDriver's tokenRequests must include the audience "pods.eks.amazonaws.com"`)
	forged := iss.Forger().Sign(kubelet(issuer.Token{Audience: []string{podIdentity}}))
	wantRefused(t, v.VerifyFor(ctx, forged, podIdentity, pod), forged, "signature")
}

// hangingAPI is the API server slow to answer the discovery document:
// each read waits for release, or ends with its context, as an HTTP
// client's does. started says a read is under way.
type hangingAPI struct {
	*fakeAPI
	started chan struct{}
	release chan struct{}
}

func (h *hangingAPI) OpenIDConfiguration(ctx context.Context) ([]byte, error) {
	select {
	case h.started <- struct{}{}:
	default:
	}
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return h.fakeAPI.OpenIDConfiguration(ctx)
}

// TestAFirstCallerThatGoesAwayFailsNoOtherMount: the keys are read at
// start-up for the first Mount; its pod is deleted while the read is under
// way. The read goes on for the Mounts after it, which get keys, not the
// first caller's cancellation.
func TestAFirstCallerThatGoesAwayFailsNoOtherMount(t *testing.T) {
	iss := issuer.New()
	api := &hangingAPI{fakeAPI: &fakeAPI{iss: iss}, started: make(chan struct{}, 1), release: make(chan struct{})}
	v := New(api, DefaultConfig("sts.amazonaws.com"))
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- v.Verify(ctx, iss.Sign(kubelet(issuer.Token{})), pod) }()
	<-api.started
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) || mounterr.KindOf(err) != mounterr.Transient {
		t.Errorf("the cancelled first caller got %v, want its own cancellation, transient", err)
	}
	close(api.release)
	if err := v.Verify(context.Background(), iss.Sign(kubelet(issuer.Token{})), pod); err != nil {
		t.Fatalf("a Mount after the first caller went away: %v; want its token verified with the keys read", err)
	}
	if got := api.Reads(); got != 1 {
		t.Errorf("the keys were read %d times, want once: the read the first caller started went on", got)
	}
}

// TestAKeyReadHasItsOwnTimeout: a read no caller bounds (no deadline)
// still ends, at CallTimeout, with the read's own failure.
func TestAKeyReadHasItsOwnTimeout(t *testing.T) {
	iss := issuer.New()
	api := &hangingAPI{fakeAPI: &fakeAPI{iss: iss}, started: make(chan struct{}, 1), release: make(chan struct{})}
	cfg := DefaultConfig("sts.amazonaws.com")
	cfg.CallTimeout = time.Millisecond
	v := New(api, cfg)
	err := v.Verify(context.Background(), iss.Sign(kubelet(issuer.Token{})), pod)
	if !errors.Is(err, context.DeadlineExceeded) || mounterr.KindOf(err) != mounterr.Transient || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("Verify with the API server hung = %v; want the read's own timeout, transient", err)
	}
}
