package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

// DiscoveryAPI reads the cluster's service-account issuer discovery from
// the API server: the bodies of GET /.well-known/openid-configuration and
// GET /openid/v1/jwks. Kubernetes lets every service account read both
// (ClusterRoleBinding system:service-account-issuer-discovery). A refusal
// is a k8s.io/apimachinery api/errors StatusError; any other error is
// taken as transient. Package kubeapi implements it over HTTP; in tests
// internal/apifake serves internal/issuer's.
type DiscoveryAPI interface {
	OpenIDConfiguration(ctx context.Context) ([]byte, error)
	OpenIDKeys(ctx context.Context) ([]byte, error)
}

// keySource keeps the issuer and its keys, read again when they are older
// than KeysMaxAge or a token names a key id not among them (at most once
// per RefreshInterval), one read at a time. A read belongs to no caller:
// it runs detached, bounded by CallTimeout, and every caller waits for it
// only as long as its own context lets it; a caller that goes away ends
// neither the read nor anyone else's wait, and its cancellation is never
// taken as the read's result.
type keySource struct {
	api DiscoveryAPI
	cfg Config
	now func() time.Time

	mu sync.Mutex
	// state is the cluster's issuer and keys: holds nothing
	// identity-specific (one issuer for every pod).
	state *keySet
	// lastErr is the last read's failure, at lastAttempt: reads are not
	// tried again within failureBackoff of a failure. Holds nothing
	// identity-specific: the read's own failure (the API server's
	// answer, or its own timeout), never a caller's cancellation.
	lastErr     error
	lastAttempt time.Time
	// reading is the read under way, if any, which callers join: holds
	// nothing identity-specific (see state and lastErr).
	reading *keyRead
}

// keyRead is one read of the discovery document and keys: its result,
// once done is closed.
type keyRead struct {
	done chan struct{}
	set  *keySet
	err  error
}

// failureBackoff is the least time between two reads after a failed one.
const failureBackoff = time.Second

type keySet struct {
	issuer  string
	keys    []jose.JSONWebKey
	fetched time.Time
	// stale is when the set must be read again.
	stale time.Time
}

// matching is the issuer and the keys a token's key id may be verified
// with: the key with that id, or every key for a token without one.
type matching struct {
	issuer string
	keys   []jose.JSONWebKey
}

func (s *keySet) match(kid string) matching {
	m := matching{issuer: s.issuer}
	for _, k := range s.keys {
		if kid == "" || k.KeyID == kid {
			m.keys = append(m.keys, k)
		}
	}
	return m
}

func newKeySource(api DiscoveryAPI, cfg Config) *keySource {
	return &keySource{api: api, cfg: cfg, now: time.Now}
}

// lookup returns the keys for kid, reading them when needed: when none
// are in hand, when they are older than KeysMaxAge, and when kid is
// unknown or (reread) the keys refused a signature, provided they were
// read more than RefreshInterval ago. With keys in hand, a failed read
// keeps them: an API server outage does not stop tokens of a known key.
func (s *keySource) lookup(ctx context.Context, kid string, now time.Time, reread bool) (matching, error) {
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	if st != nil && now.Before(st.stale) {
		m := st.match(kid)
		if (len(m.keys) > 0 && !reread) || now.Sub(st.fetched) < s.cfg.RefreshInterval {
			return m, nil // an unknown key id, keys read just now: a forgery
		}
	}
	fresh, err := s.read(ctx, st)
	switch {
	case err == nil:
		return fresh.match(kid), nil
	case st != nil:
		return st.match(kid), nil
	default:
		return matching{}, err
	}
}

// read reads the discovery document and keys, unless another caller read
// them since seen (the set this caller found wanting): it joins the read
// under way, or starts one, and waits for it as long as ctx lets it.
func (s *keySource) read(ctx context.Context, seen *keySet) (*keySet, error) {
	s.mu.Lock()
	if st := s.state; st != seen && st != nil {
		s.mu.Unlock()
		return st, nil
	}
	rd := s.reading
	if rd == nil {
		if s.lastErr != nil && s.now().Sub(s.lastAttempt) < failureBackoff {
			err := s.lastErr
			s.mu.Unlock()
			return nil, err
		}
		rd = &keyRead{done: make(chan struct{})}
		s.reading = rd
		// The caller's values (its logger), not its cancellation.
		go s.run(context.WithoutCancel(ctx), rd)
	}
	s.mu.Unlock()
	select {
	case <-rd.done:
		return rd.set, rd.err
	case <-ctx.Done():
		return nil, mounterr.Wrap(mounterr.Transient, ctx.Err(), "waiting for the cluster's service-account issuer keys (transient; the kubelet retries)")
	}
}

// run is the read rd, detached from any caller (ctx has no cancellation):
// fetch bounds it by CallTimeout.
func (s *keySource) run(ctx context.Context, rd *keyRead) {
	rd.set, rd.err = s.fetch(ctx)
	s.mu.Lock()
	s.lastAttempt, s.lastErr = s.now(), rd.err
	if rd.err == nil {
		s.state = rd.set
	}
	s.reading = nil
	s.mu.Unlock()
	close(rd.done)
}

func (s *keySource) fetch(ctx context.Context) (*keySet, error) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	raw, err := s.api.OpenIDConfiguration(cctx)
	if err != nil {
		return nil, readError(err, "/.well-known/openid-configuration")
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Issuer == "" {
		return nil, mounterr.New(mounterr.Internal, "the API server's /.well-known/openid-configuration names no issuer")
	}
	raw, err = s.api.OpenIDKeys(cctx)
	if err != nil {
		return nil, readError(err, "/openid/v1/jwks")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, mounterr.New(mounterr.Internal, "the API server's /openid/v1/jwks is not a JSON Web Key Set: %v", err)
	}
	ks := &keySet{issuer: doc.Issuer, fetched: s.now()}
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if pub := k.Public(); pub.Valid() {
			ks.keys = append(ks.keys, pub)
		}
	}
	if len(ks.keys) == 0 {
		return nil, mounterr.New(mounterr.Internal, "the API server's /openid/v1/jwks holds no signing key")
	}
	ks.stale = ks.fetched.Add(s.cfg.KeysMaxAge - jitter(s.cfg.KeysMaxAge))
	return ks, nil
}

func readError(err error, path string) error {
	switch {
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return mounterr.Wrap(mounterr.Denied, err,
			"the provider may not read the cluster's service-account issuer keys (GET %s), which it verifies pod tokens with: bind its service account to the ClusterRole system:service-account-issuer-discovery (Kubernetes binds every service account to it by default), or grant get on the non-resource URLs /.well-known/openid-configuration and /openid/v1/jwks", path)
	case apierrors.IsNotFound(err):
		return mounterr.Wrap(mounterr.Invalid, err,
			"the API server does not serve service-account issuer discovery (GET %s), which the provider verifies pod tokens with (Kubernetes 1.21 and later do)", path)
	case errors.Is(err, context.DeadlineExceeded):
		return mounterr.Wrap(mounterr.Transient, err, "reading the cluster's service-account issuer keys (GET %s) timed out (transient; the kubelet retries)", path)
	default:
		return mounterr.Wrap(mounterr.Transient, err, "reading the cluster's service-account issuer keys (GET %s) failed (transient; the kubelet retries)", path)
	}
}
