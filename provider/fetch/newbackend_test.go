package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	smithy "github.com/aws/smithy-go"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsfake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/testclock"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/fetch"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

// vault is a backend the provider does not have, written as a new one
// would be: it implements backend.Reader and nothing else (a read of its
// values, by region), and can be made to fail as no emulator can. The
// tests below check that fetch gives it what it gives Secrets Manager and
// Parameter Store: retries, caching per identity, coalescing, negative
// caching, stale-if-error and failover.
type vault struct {
	mu sync.Mutex
	// values are the values by region and name; version is their version.
	values  map[string]map[string]string
	version int
	// down fails every read in a region with its error; failNext the
	// next n reads anywhere.
	down     map[string]error
	failNext int
	// gate, when not nil, holds every read until it is closed.
	gate  chan struct{}
	calls []string // "region: name, name", one per read
}

var _ backend.Reader = (*vault)(nil)

var vaultInfo = backend.Info{
	Service: "Vault", Name: "Vault", Noun: "value", Cache: "values", Batch: 3, Call: "Read",
	Actions:   []string{"vault:Read"},
	What:      func(refs []backend.Ref) string { return "values " + names(refs) },
	LogFields: func(refs []backend.Ref) []any { return []any{"values", names(refs)} },
	StaleLog:  "serving the last good values of a vault read",
	Outage:    backend.Outage,
}

func names(refs []backend.Ref) string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.Name
	}
	return strings.Join(out, ", ")
}

// unavailable is the service failing: retried, then an outage.
var unavailable = &smithy.GenericAPIError{Code: "ServiceUnavailable", Message: "down"}

func (v *vault) Read(ctx context.Context, region string, refs []backend.Ref, _ aws.Credentials) ([]*object.Version, error) {
	v.mu.Lock()
	v.calls = append(v.calls, region+": "+names(refs))
	gate := v.gate
	v.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.down[region]; err != nil {
		return nil, err
	}
	if v.failNext > 0 {
		v.failNext--
		return nil, unavailable
	}
	out := make([]*object.Version, len(refs))
	for i, r := range refs {
		value, ok := v.values[region][r.Name]
		if !ok {
			return nil, mounterr.New(mounterr.NotFound, "value %s not found in %s", r.Name, region)
		}
		out[i] = &object.Version{Name: r.Name, VersionID: fmt.Sprint(v.version), Value: []byte(value)}
	}
	return out, nil
}

func (v *vault) Explain(region string, refs []backend.Ref, err error) *mounterr.Error {
	return &mounterr.Error{Kind: mounterr.Transient, Err: err, Msg: "vault read of " + names(refs) + " in " + region + " failed: " + mounterr.Reason(err)}
}

func (v *vault) callCount() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.calls)
}

func (v *vault) set(f func(v *vault)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f(v)
}

var (
	alice = identity.Key{RoleARN: "arn:aws:iam::111122223333:role/alice", Namespace: "a", ServiceAccount: "alice", Region: "eu-west-1"}
	bob   = identity.Key{RoleARN: "arn:aws:iam::111122223333:role/bob", Namespace: "b", ServiceAccount: "bob", Region: "eu-west-1"}
)

func newVault(t *testing.T, clock *testclock.Clock, staleIfError time.Duration) (*vault, *fetch.Fetcher) {
	t.Helper()
	v := &vault{values: map[string]map[string]string{
		"eu-west-1":    {"a": "A", "b": "B", "c": "C", "d": "D"},
		"eu-central-1": {"a-dr": "A from the replica"},
	}, version: 1, down: map[string]error{}}
	f := fetch.New(&vaultInfo, v, fetch.Config{
		Retry: retry.Policy{Budget: 200 * time.Millisecond, AttemptTimeout: 100 * time.Millisecond, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
		Cache: true, SecretTTL: time.Minute, NegativeTTL: 10 * time.Second, CacheSize: 16, StaleIfError: staleIfError, Clock: clock.Now,
	})
	return v, f
}

func read(ctx context.Context, f *fetch.Fetcher, who identity.Key, names ...string) ([]*object.Version, error) {
	items := make([]fetch.Item, len(names))
	for i, n := range names {
		items[i] = fetch.Item{Ref: backend.Ref{Name: n}}
	}
	return f.Fetch(ctx, who, fetch.Batch{Region: "eu-west-1", Items: items, Credentials: awsfake.CachedCreds()})
}

// TestNewBackendGetsWhatFetchGives: a backend that implements only
// backend.Reader is retried, cached per identity, coalesced, remembers
// refusals, serves its last good values through an outage and reads the
// failover region when its own is out.
func TestNewBackendGetsWhatFetchGives(t *testing.T) {
	ctx := context.Background()
	t.Run("cached per identity, in batches", func(t *testing.T) {
		v, f := newVault(t, testclock.New(time.Now()), 0)
		for range 3 {
			got, err := read(ctx, f, alice, "a", "b")
			if err != nil || string(got[0].Value) != "A" || string(got[1].Value) != "B" {
				t.Fatalf("read = %v, %v; want A and B in the order asked", got, err)
			}
		}
		if _, err := read(ctx, f, bob, "a", "b"); err != nil {
			t.Fatal(err)
		}
		if n := v.callCount(); n != 2 {
			t.Errorf("%d reads for 3 of one identity and 1 of another, want 2 (one per identity)", n)
		}
		if st := f.Stats(); st.Hits != 2 || st.Misses != 2 {
			t.Errorf("Stats() = %+v, want 2 hits and 2 misses", st)
		}
		if got := fetch.Split([]fetch.Item{{Ref: backend.Ref{Name: "d"}}, {Ref: backend.Ref{Name: "a"}}, {Ref: backend.Ref{Name: "c"}}, {Ref: backend.Ref{Name: "a"}}, {Ref: backend.Ref{Name: "b"}}}, vaultInfo.Batch); len(got) != 2 || len(got[0]) != 3 || got[0][0].Ref.Name != "a" || got[1][0].Ref.Name != "d" {
			t.Errorf("Split = %+v, want [a b c] [d]: sorted, once each, at most Batch", got)
		}
	})
	t.Run("retried through a transient failure", func(t *testing.T) {
		v, f := newVault(t, testclock.New(time.Now()), 0)
		v.set(func(v *vault) { v.failNext = 1 })
		if _, err := read(ctx, f, alice, "a"); err != nil {
			t.Fatalf("read after one failure: %v, want it retried", err)
		}
		if n := v.callCount(); n != 2 {
			t.Errorf("%d reads, want 2 (a failure, its retry)", n)
		}
	})
	t.Run("coalesced", func(t *testing.T) {
		v, f := newVault(t, testclock.New(time.Now()), 0)
		gate := make(chan struct{})
		v.set(func(v *vault) { v.gate = gate })
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := read(ctx, f, alice, "a")
				errs <- err
			}()
		}
		for v.callCount() == 0 {
			time.Sleep(time.Millisecond)
		}
		for f.Stats().Coalesced < 9 {
			time.Sleep(time.Millisecond) // the other nine wait on the first
		}
		close(gate)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := v.callCount(); n != 1 {
			t.Errorf("%d reads for 10 concurrent Mounts of one batch, want 1", n)
		}
	})
	t.Run("a refusal is remembered", func(t *testing.T) {
		v, f := newVault(t, testclock.New(time.Now()), 0)
		for range 2 {
			if _, err := read(ctx, f, alice, "nope"); mounterr.KindOf(err) != mounterr.NotFound {
				t.Fatalf("read of a missing value: %v, want NotFound", err)
			}
		}
		if n := v.callCount(); n != 1 {
			t.Errorf("%d reads, want 1: a refusal is kept for NegativeTTL", n)
		}
	})
	t.Run("stale if error, for the same identity only", func(t *testing.T) {
		clock := testclock.New(time.Now())
		v, f := newVault(t, clock, time.Hour)
		if _, err := read(ctx, f, alice, "a"); err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * time.Minute)
		v.set(func(v *vault) { v.down["eu-west-1"] = unavailable })
		got, err := read(ctx, f, alice, "a")
		if err != nil || string(got[0].Value) != "A" {
			t.Fatalf("during the outage: %v, %v; want the last good value", got, err)
		}
		if _, err := read(ctx, f, bob, "a"); err == nil || !strings.Contains(err.Error(), "vault read of a in eu-west-1 failed: ServiceUnavailable: down") {
			t.Errorf("another identity during the outage: %v, want the backend's own message (Explain)", err)
		}
		if st := f.Stats(); st.Stale == 0 {
			t.Errorf("Stats().Stale = 0, want the stale answer counted")
		}
	})
	t.Run("failover", func(t *testing.T) {
		v, f := newVault(t, testclock.New(time.Now()), 0)
		v.set(func(v *vault) { v.down["eu-west-1"] = unavailable })
		got, err := f.Fetch(ctx, alice, fetch.Batch{Region: "eu-west-1", Credentials: awsfake.CachedCreds(),
			Items:          []fetch.Item{{Ref: backend.Ref{Name: "a"}, Replica: backend.Ref{Name: "a-dr"}}},
			FailoverRegion: "eu-central-1", FailoverCredentials: awsfake.CachedCreds()})
		if err != nil || string(got[0].Value) != "A from the replica" || got[0].VersionID != "eu-central-1/1" {
			t.Fatalf("read with its region out = %+v, %v; want the replica's value, its version naming the failover region", got, err)
		}
		if n := f.FailoverServed(); n != 1 {
			t.Errorf("FailoverServed() = %d, want 1", n)
		}
		v.set(func(v *vault) { v.down["eu-central-1"] = errors.New("refused") })
		if _, err := read(ctx, f, bob, "a"); err == nil {
			t.Error("a read without a failover region was served")
		}
	})
}
