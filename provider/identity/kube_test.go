package identity

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

// flakyKube answers each read with the next of its failures, then with a
// service account annotated with role and a node labelled eu-west-1. A
// failure errHang blocks until the read's context ends: a hung API server.
type flakyKube struct {
	mu       sync.Mutex
	failures []error
	forever  error // after failures, when set
	calls    int
}

var errHang = errors.New("hang")

var _ KubeAPI = (*flakyKube)(nil)

func (f *flakyKube) next(ctx context.Context) error {
	f.mu.Lock()
	f.calls++
	err := f.forever
	if len(f.failures) > 0 {
		err, f.failures = f.failures[0], f.failures[1:]
	}
	f.mu.Unlock()
	if err == errHang {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (f *flakyKube) ServiceAccountMeta(ctx context.Context, namespace, name string) (*metav1.ObjectMeta, error) {
	if err := f.next(ctx); err != nil {
		return nil, err
	}
	return &metav1.ObjectMeta{Namespace: namespace, Name: name, Annotations: map[string]string{RoleAnnotation: testIdentity.RoleARN}}, nil
}

func (f *flakyKube) NodeMeta(ctx context.Context, name string) (*metav1.ObjectMeta, error) {
	if err := f.next(ctx); err != nil {
		return nil, err
	}
	return &metav1.ObjectMeta{Name: name, Labels: map[string]string{RegionLabel: "eu-west-1"}}, nil
}

// fastKubeRetry gives reads 50ms each within a budget of 300ms.
var fastKubeRetry = retry.Policy{Budget: 300 * time.Millisecond, AttemptTimeout: 50 * time.Millisecond, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}

var (
	unavailable = apierrors.NewServiceUnavailable("etcd is away")
	throttled   = apierrors.NewTooManyRequests("slow down", 1)
	errRefused  = errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
)

// TestReadsAreRetried: a service account or node read that fails
// transiently (API server restarting, overloaded, hung) is retried within
// the budget, each read with its own timeout; a refusal is not retried.
func TestReadsAreRetried(t *testing.T) {
	tests := []struct {
		name      string
		failures  []error
		forever   error
		wantCalls int
		wantKind  mounterr.Kind // zero with wantOK
		wantOK    bool
		want      string
	}{
		{name: "unavailable twice", failures: []error{unavailable, unavailable}, wantCalls: 3, wantOK: true},
		{name: "throttled, refused connection", failures: []error{throttled, errRefused}, wantCalls: 3, wantOK: true},
		{name: "a hung read times out on its own", failures: []error{errHang}, wantCalls: 2, wantOK: true},
		{name: "down for longer than the budget", forever: errRefused, wantKind: mounterr.Transient, want: "kept failing for"},
		{name: "not found is an answer", failures: []error{apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccounts"}, "x")}, wantCalls: 1, wantKind: mounterr.NotFound},
		{name: "forbidden is an answer", failures: []error{apierrors.NewForbidden(schema.GroupResource{Resource: "serviceaccounts"}, "x", errors.New("no"))}, wantCalls: 1, wantKind: mounterr.Denied},
	}
	for _, tt := range tests {
		for _, read := range []string{"role", "region"} {
			t.Run(tt.name+"/"+read, func(t *testing.T) {
				if read == "region" && tt.wantKind == mounterr.NotFound {
					return // a missing node is no region: TestNodeRegionErrors
				}
				api := &flakyKube{failures: append([]error(nil), tt.failures...), forever: tt.forever}
				k := NewKube(api, KubeConfig{NodeName: "node-1", Cache: true, SecretTTL: time.Minute, CacheSize: 8, Retry: fastKubeRetry})
				var err error
				if read == "role" {
					_, err = k.RoleARN(context.Background(), "pmp", "pmp-sa")
				} else {
					_, err = k.NodeRegion(context.Background())
				}
				if tt.wantOK {
					if err != nil {
						t.Fatalf("read failed: %v", err)
					}
				} else {
					if got := mounterr.KindOf(err); got != tt.wantKind {
						t.Errorf("kind = %s (%v), want %s", got, err, tt.wantKind)
					}
					if !strings.Contains(fmtErr(err), tt.want) {
						t.Errorf("message lacks %q: %v", tt.want, err)
					}
				}
				if tt.wantCalls > 0 && api.calls != tt.wantCalls {
					t.Errorf("calls = %d, want %d", api.calls, tt.wantCalls)
				}
			})
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestNodeRegionErrors(t *testing.T) {
	for _, tt := range []struct {
		name     string
		failure  error
		wantNone bool // a *NoRegionError
		wantKind mounterr.Kind
		want     string
	}{
		{name: "no such node", failure: apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, "node-1"), wantNone: true, want: "node node-1 does not exist"},
		{name: "transient", failure: errRefused, wantKind: mounterr.Transient, want: "node node-1's topology.kubernetes.io/region label from the Kubernetes API"},
		{name: "forbidden", failure: apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "node-1", errors.New("no")), wantKind: mounterr.Denied, want: "grant it get on nodes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := NewKube(&flakyKube{forever: tt.failure}, KubeConfig{NodeName: "node-1", CacheSize: 8, Retry: fastKubeRetry})
			_, err := k.NodeRegion(context.Background())
			var none *NoRegionError
			if got := errors.As(err, &none); got != tt.wantNone {
				t.Errorf("NoRegionError = %v, want %v (%v)", got, tt.wantNone, err)
			}
			if !tt.wantNone && mounterr.KindOf(err) != tt.wantKind {
				t.Errorf("kind = %s, want %s (%v)", mounterr.KindOf(err), tt.wantKind, err)
			}
			if !strings.Contains(fmtErr(err), tt.want) {
				t.Errorf("message lacks %q: %v", tt.want, err)
			}
		})
	}
}

// testClock is a settable clock for the role cache.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestRoleServedFromCacheWhileTheAPIServerIsUnreachable: a service
// account's role seen recently answers while the API server does not
// (within StaleIfError); one never seen, or seen too long ago, fails with
// a message saying the read is transient; a refusal is honoured at once.
func TestRoleServedFromCacheWhileTheAPIServerIsUnreachable(t *testing.T) {
	newKube := func(stale time.Duration) (*Kube, *flakyKube, *testClock) {
		f := &flakyKube{}
		clk := &testClock{t: time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)}
		k := NewKube(f, KubeConfig{Cache: true, SecretTTL: time.Minute, CacheSize: 8, Retry: fastKubeRetry, StaleIfError: stale, Clock: clk.now})
		return k, f, clk
	}
	ctx := context.Background()
	t.Run("recently seen", func(t *testing.T) {
		k, f, clk := newKube(time.Hour)
		if _, err := k.RoleARN(ctx, "pmp", "sa"); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		f.forever = errRefused
		f.mu.Unlock()
		clk.advance(30 * time.Minute)
		role, err := k.RoleARN(ctx, "pmp", "sa")
		if err != nil || role != testIdentity.RoleARN {
			t.Fatalf("API server unreachable, role read 30m ago: %q, %v; want the cached role", role, err)
		}
		if s := k.Stats(); s.Stale != 1 {
			t.Errorf("stats %+v, want one stale answer", s)
		}
		_, err = k.RoleARN(ctx, "pmp", "never-seen")
		if mounterr.KindOf(err) != mounterr.Transient || !strings.Contains(err.Error(), "service account pmp/never-seen") || !strings.Contains(err.Error(), "this is transient") {
			t.Errorf("never seen: %v; want a transient error naming the service account", err)
		}
		clk.advance(31 * time.Minute) // past freshness + StaleIfError
		if _, err := k.RoleARN(ctx, "pmp", "sa"); mounterr.KindOf(err) != mounterr.Transient {
			t.Errorf("role read over an hour past its window: %v; want the transient error", err)
		}
	})
	t.Run("refusal", func(t *testing.T) {
		k, f, clk := newKube(time.Hour)
		k.RoleARN(ctx, "pmp", "sa")
		f.mu.Lock()
		f.failures = []error{apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccounts"}, "sa")}
		f.forever = errRefused
		f.mu.Unlock()
		clk.advance(2 * time.Minute)
		if _, err := k.RoleARN(ctx, "pmp", "sa"); mounterr.KindOf(err) != mounterr.NotFound {
			t.Fatalf("deleted service account: %v; want NotFound", err)
		}
		if _, err := k.RoleARN(ctx, "pmp", "sa"); err == nil {
			t.Fatal("after the deletion, an unreachable API server brought the role back")
		}
	})
	t.Run("off", func(t *testing.T) {
		k, f, clk := newKube(0)
		k.RoleARN(ctx, "pmp", "sa")
		f.mu.Lock()
		f.forever = errRefused
		f.mu.Unlock()
		clk.advance(2 * time.Minute)
		if _, err := k.RoleARN(ctx, "pmp", "sa"); mounterr.KindOf(err) != mounterr.Transient {
			t.Fatalf("StaleIfError 0: %v; want the transient error", err)
		}
	})
}
