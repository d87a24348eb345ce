package server_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
)

// loadIdentities makes n pod identities named prefix-i, each with its own
// namespace, service account, role and secret, and returns one Mount
// request per identity and the file each must get.
func (e *env) loadIdentities(prefix string, n int) (reqs []mountReq, want []string) {
	e.t.Helper()
	for i := range n {
		ns, sa := fmt.Sprintf("%s-ns-%d", prefix, i), fmt.Sprintf("%s-sa-%d", prefix, i)
		role := fmt.Sprintf("arn:aws:iam::123456789012:role/%s-role-%d", prefix, i)
		e.kube.PutServiceAccount(ns, sa, role)
		value := fmt.Sprintf("VALUE-SENTINEL-%s-%d", prefix, i)
		secret := fmt.Sprintf("%s-secret-%d", prefix, i)
		e.putSecret(secret, fmt.Sprintf(`{"Identity": {"Value": %q}}`, value))
		r := pmpReq("- objectName: " + secret)
		r.Namespace, r.ServiceAccount, r.PodName = ns, sa, fmt.Sprintf("pod-%d", i)
		r.PodUID = fmt.Sprintf("0b0e3c1e-0000-4000-8000-%012d", i)
		reqs, want = append(reqs, r), append(want, value)
	}
	return reqs, want
}

// kubeletTransient are the codes the kubelet treats as transient on a
// first mount (leaving the pod an empty volume): never a final answer.
var kubeletTransient = map[codes.Code]bool{codes.Unavailable: true, codes.DeadlineExceeded: true, codes.ResourceExhausted: true, codes.Aborted: true, codes.Canceled: true}

// storm sends mounts Mounts at once, round robin over reqs, and checks
// every answer: the identity's own value, or a final code with a message.
func (e *env) storm(reqs []mountReq, want []string, mounts int) (ok, failed int) {
	e.t.Helper()
	// Two pods per identity, each with its own token (signing one costs
	// milliseconds under -race); the rest of the Mounts are their
	// republishes.
	pods := make([]*v1alpha1.MountRequest, 2*len(reqs))
	for i := range pods {
		r := reqs[i%len(reqs)]
		r.PodName, r.PodUID = fmt.Sprintf("%s-%d", r.PodName, i), fmt.Sprintf("0b0e3c1e-0000-4000-9000-%012d", i)
		pods[i] = r.Build()
	}
	built := make([]*v1alpha1.MountRequest, mounts)
	for i := range built {
		built[i] = pods[i%len(pods)]
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, req := range built {
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			resp, err := e.client.Mount(ctx, req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				st := status.Convert(err)
				if failed <= 3 {
					e.t.Logf("failure: %s %s", st.Code(), st.Message())
				}
				if kubeletTransient[st.Code()] || st.Code() == codes.OK || st.Message() == "" {
					e.t.Errorf("Mount %d failed with %s %q: not a final code with a message", i, st.Code(), st.Message())
				}
				return
			}
			ok++
			files := filesOf(resp)
			if len(files) != 1 || files["Identity.Value"] != want[i%len(want)] {
				e.t.Errorf("Mount %d of identity %d got files %v, want only Identity.Value = %s", i, i%len(want), files, want[i%len(want)])
			}
		})
	}
	close(start)
	wg.Wait()
	return ok, failed
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(entries)
}

// settled waits until the goroutines and file descriptors are at most
// base plus slack (idle connections closing, handlers returning).
func settled(t *testing.T, baseG, baseFD, slack int) (g, fd int) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, fd = runtime.NumGoroutine(), openFDs(t)
		if (g <= baseG+slack && fd <= baseFD+slack) || time.Now().After(deadline) {
			return g, fd
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestThousandConcurrentMountsWithFaults: 1,000 Mounts at once of 50
// identities while 5% of AWS calls fail (5xx, throttling, slow): no pod
// gets another's secret, every failure has a final code, and the provider
// holds no more goroutines or file descriptors afterwards than after a
// smaller run of the same kind.
func TestThousandConcurrentMountsWithFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	e := newEnv(t, func(o *provider.Options) { o.RetryBudget, o.AWSCallTimeout = 8*time.Second, 2*time.Second })
	warmReqs, warmWant := e.loadIdentities("warm", 50)
	reqs, want := e.loadIdentities("load", 50)
	for _, f := range []awsemu.Fault{
		{Status: 503, Code: "ServiceUnavailable", Probability: 0.02},
		{Status: 400, Code: "ThrottlingException", Message: "Rate exceeded", Probability: 0.015},
		{Status: 500, Code: "InternalFailure", Probability: 0.01},
		{Delay: 2500 * time.Millisecond, Probability: 0.005}, // slower than the call timeout
	} {
		e.aws.Front.Inject(f)
	}

	// A first, smaller storm of other identities fills the connection
	// pools and starts what runs for the process's life.
	e.storm(warmReqs, warmWant, 200)
	e.aws.DropConnections() // the pools refill on demand, to at most 64 connections
	time.Sleep(300 * time.Millisecond)
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)

	start := time.Now()
	ok, failed := e.storm(reqs, want, 1000)
	elapsed := time.Since(start)
	calls := e.aws.Front.Total()
	t.Logf("1000 Mounts of 50 identities in %s: %d ok, %d failed with a final code; %d AWS calls in all", elapsed.Round(time.Millisecond), ok, failed, calls)
	if ok < 900 {
		t.Errorf("%d of 1000 Mounts succeeded: retries should carry most through 5%% faults", ok)
	}
	const slack = 8
	e.aws.DropConnections()
	if g, fd := settled(t, baseG, baseFD, slack); g > baseG+slack || fd > baseFD+slack {
		t.Errorf("after the storm: %d goroutines (%d before), %d fds (%d before): growth past %d", g, baseG, fd, baseFD, slack)
	}
}
