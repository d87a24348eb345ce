package server_test

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/promtest"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
)

// outage is every Secrets Manager call failing for the test's length with
// fault.
func outage(e *env, fault awsemu.Fault) {
	fault.Operation = "secretsmanager:GetSecretValue"
	fault.Until = time.Now().Add(time.Hour)
	e.aws.Front.Inject(fault)
}

// staleEnv is a provider whose secrets are fresh for a second, kept an
// hour past it for an outage, holding one fetched secret whose window has
// ended.
func staleEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := newEnv(t, append([]envOption{func(o *provider.Options) {
		o.SecretTTL, o.StaleIfError, o.RetryBudget, o.AWSCallTimeout = time.Second, time.Hour, 2*time.Second, 300*time.Millisecond
	}}, opts...)...)
	e.putSecret("PMP-Production-Credentials", `{"VCS": {"GithubAdminPAT": "VALUE-SENTINEL-good"}}`)
	if _, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the freshness window ends
	return e
}

func TestStaleIfErrorServesTheLastGoodValueThroughAnOutage(t *testing.T) {
	for _, fault := range []awsemu.Fault{
		{Status: 503, Code: "ServiceUnavailable"},
		{Status: 500, Code: "InternalServiceError"},
		{Status: 400, Code: "ThrottlingException", Message: "Rate exceeded"},
		{Delay: awsemu.Hang}, // accepts the call, never answers
	} {
		t.Run(fault.Code+map[bool]string{true: "hung"}[fault.Delay > 0], func(t *testing.T) {
			e := staleEnv(t)
			logs := captureLogs(t)
			outage(e, fault)
			start := time.Now()
			for i := range 3 { // a new pod, then its republishes
				resp, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials"))
				if err != nil {
					t.Fatalf("Mount %d during the outage: %v; want the last good value", i, err)
				}
				if got := filesOf(resp)["VCS.GithubAdminPAT"]; got != "VALUE-SENTINEL-good" {
					t.Fatalf("Mount %d: file %q", i, got)
				}
			}
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("three Mounts took %s: after the first, a stale value answers at once", d)
			}
			if got := promtest.Value(t, e.reg, "pmp_cache_stale_served_total", "cache", "secrets"); got != 3 {
				t.Errorf("pmp_cache_stale_served_total{cache=secrets} = %v, want 3", got)
			}
			// Once per outage.
			loggedOnce(t, logs, "serving the last good version of a secret",
				`secret="PMP-Production-Credentials"`, `namespace="pmp"`, `serviceAccount="pmp-secrets-access"`)
			// Another identity never gets this one's value: its pod has no
			// cached secret and fails, saying the failure is transient.
			r := pmpReq("- objectName: PMP-Production-Credentials")
			r.Namespace, r.ServiceAccount = "other", "copycat"
			_, err := e.mount(r)
			if status.Code(err) != codes.Unknown || !strings.Contains(err.Error(), "transient") {
				t.Errorf("other identity during the outage: %v; want Unknown saying transient", err)
			}
		})
	}
}

func TestStaleIfErrorNeverAnswersARefusal(t *testing.T) {
	for _, fault := range []awsemu.Fault{
		{Status: 400, Code: "AccessDeniedException", Message: "not authorized"},
		{Status: 400, Code: "ResourceNotFoundException", Message: "Secrets Manager can't find the specified secret."},
		{Status: 400, Code: "SomeNewRefusalException", Message: "a 4xx the provider does not know"},
	} {
		t.Run(fault.Code, func(t *testing.T) {
			e := staleEnv(t)
			outage(e, fault)
			if _, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials")); err == nil {
				t.Fatal("Mount succeeded with the stale value after AWS refused it")
			}
			// Nor does a stale value come back when AWS then fails.
			e.aws.Front.Clear()
			outage(e, awsemu.Fault{Status: 503, Code: "ServiceUnavailable"})
			time.Sleep(100 * time.Millisecond)
			if _, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials")); err == nil {
				t.Fatal("outage after the refusal: the stale value answered")
			}
			if got := promtest.Value(t, e.reg, "pmp_cache_stale_served_total", "cache", "secrets"); got != 0 {
				t.Errorf("pmp_cache_stale_served_total = %v, want 0", got)
			}
		})
	}
}

func TestStaleIfErrorOffIsStrict(t *testing.T) {
	e := staleEnv(t, func(o *provider.Options) { o.StaleIfError = 0 })
	outage(e, awsemu.Fault{Status: 503, Code: "ServiceUnavailable"})
	_, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials"))
	if status.Code(err) != codes.Unknown || !strings.Contains(err.Error(), "this is transient") {
		t.Fatalf("--stale-if-error=0 during an outage: %v; want Unknown saying transient", err)
	}
}

// TestThrottledRefreshBacksOff: AWS throttles the refresh of a fetched
// secret (the fleet is past its quota). Even with --stale-if-error=0 the
// value held answers, counted as held back; the refresh made one call, not
// retried, and the next Mounts, within the entry's back-off (at least one
// more window), make no call at all.
func TestThrottledRefreshBacksOff(t *testing.T) {
	e := staleEnv(t, func(o *provider.Options) { o.StaleIfError = 0 })
	outage(e, awsemu.Fault{Status: 400, Code: "ThrottlingException", Message: "Rate exceeded"})
	const op = "secretsmanager:GetSecretValue"
	before := e.aws.Front.Count(op)
	for i := range 4 { // the pod's republish, then new pods of the identity
		resp, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials"))
		if err != nil {
			t.Fatalf("Mount %d while AWS throttles the refresh, --stale-if-error=0: %v; want the value held", i, err)
		}
		if got := filesOf(resp)["VCS.GithubAdminPAT"]; got != "VALUE-SENTINEL-good" {
			t.Fatalf("Mount %d: file %q", i, got)
		}
		if i == 0 {
			// The throttled refresh made one call: not retried, since
			// the value held answers for it.
			if got := e.aws.Front.Count(op) - before; got != 1 {
				t.Errorf("the throttled refresh made %d GetSecretValue calls, want 1", got)
			}
			before = e.aws.Front.Count(op)
		}
	}
	if got := e.aws.Front.Count(op); got != before {
		t.Errorf("%d GetSecretValue calls after the throttled refresh, want none within its back-off", got-before)
	}
	if got := promtest.Value(t, e.reg, "pmp_cache_throttled_total", "cache", "secrets"); got != 1 {
		t.Errorf("pmp_cache_throttled_total{cache=secrets} = %v, want 1", got)
	}
	if got := promtest.Value(t, e.reg, "pmp_cache_held_back", "cache", "secrets"); got != 1 {
		t.Errorf("pmp_cache_held_back{cache=secrets} = %v, want 1", got)
	}
}

// TestHungAWSCostsOneAttemptNotTheBudget: AWS accepts calls and never
// answers. Each attempt has its own timeout, so the Mount makes several
// and ends, with a final code saying it is transient, within its budget.
func TestHungAWSCostsOneAttemptNotTheBudget(t *testing.T) {
	e := newEnv(t, func(o *provider.Options) { o.RetryBudget, o.AWSCallTimeout = 3*time.Second, 400*time.Millisecond })
	e.putSecret("PMP-Production-Credentials", `{"A": "x"}`)
	e.aws.Front.Inject(awsemu.Fault{Operation: "sts:AssumeRoleWithWebIdentity", Delay: awsemu.Hang})
	start := time.Now()
	_, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials"))
	elapsed := time.Since(start)
	if status.Code(err) != codes.Unknown || !strings.Contains(err.Error(), "no answer in time") || !strings.Contains(err.Error(), "this is transient") {
		t.Fatalf("hung STS: %v; want Unknown, no answer in time, transient", err)
	}
	if elapsed > 4*time.Second {
		t.Errorf("Mount took %s, over its 3s budget", elapsed)
	}
	if got := e.aws.Front.Count("sts:AssumeRoleWithWebIdentity"); got < 3 {
		t.Errorf("%d STS attempts in the budget, want several (each has 400ms)", got)
	}
}

// TestUnansweringListener: the AWS endpoint is a listener that accepts
// connections and never answers. The Mount still ends in its budget.
func TestUnansweringListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	a := awsemu.Start(t)
	a.UseFrom(t, testRegion)
	a.Endpoint = "http://" + ln.Addr().String()
	a.UseFrom(t, testRegion)
	e := startProvider(t, a, func(o *provider.Options) { o.RetryBudget, o.AWSCallTimeout = 2*time.Second, 300*time.Millisecond })
	start := time.Now()
	_, err = e.mount(pmpReq("- objectName: PMP-Production-Credentials"))
	if status.Code(err) != codes.Unknown || !strings.Contains(err.Error(), "this is transient") {
		t.Fatalf("unanswering endpoint: %v; want Unknown saying transient", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Mount took %s, over its 2s budget", d)
	}
	mu.Lock()
	n := len(conns)
	mu.Unlock()
	if n < 3 {
		t.Errorf("%d connections in the budget, want several attempts", n)
	}
}

// TestShutdownLetsMountsInFlightFinish: SIGTERM (run's context ending)
// while a Mount waits on a slow AWS: the Mount succeeds, then the socket
// is gone.
func TestShutdownLetsMountsInFlightFinish(t *testing.T) {
	e := newEnv(t)
	e.putSecret("PMP-Production-Credentials", `{"A": "x"}`)
	e.aws.Front.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Delay: 600 * time.Millisecond})
	type result struct {
		files map[string]string
		err   error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := e.client.Mount(context.Background(), pmpReq("- objectName: PMP-Production-Credentials").Build())
		res <- result{filesOf(resp), err}
	}()
	waitUntil(t, func() bool { return e.aws.Front.Count("secretsmanager:GetSecretValue") == 1 })
	e.shutdown()
	r := <-res
	if r.err != nil || r.files["A"] != "x" {
		t.Fatalf("Mount in flight at shutdown: %v, files %v; want it to finish", r.err, r.files)
	}
	select {
	case err := <-e.served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, err := os.Stat(e.sock); !os.IsNotExist(err) {
		t.Errorf("socket after shutdown: %v; want it removed", err)
	}
}

// TestShutdownIsBounded: a Mount that outlasts the grace period does not
// hold the provider: Serve returns after the grace (1s here).
func TestShutdownIsBounded(t *testing.T) {
	e := newEnv(t)
	e.putSecret("PMP-Production-Credentials", `{"A": "x"}`)
	e.aws.Front.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Delay: awsemu.Hang})
	go e.client.Mount(context.Background(), pmpReq("- objectName: PMP-Production-Credentials").Build())
	waitUntil(t, func() bool { return e.aws.Front.Count("secretsmanager:GetSecretValue") == 1 })
	start := time.Now()
	e.shutdown()
	<-e.served
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("Serve returned %s after shutdown, want about the 1s grace", d)
	}
	if _, err := os.Stat(e.sock); !os.IsNotExist(err) {
		t.Errorf("socket after shutdown: %v; want it removed", err)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
