package server_test

import (
	"context"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/promtest"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/metrics"
)

// serveServer serves s on a fresh socket and returns a connection to it
// and the registry s counts in.
func serveServer(t *testing.T, s *server.Server) (*grpc.ClientConn, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.NewMounts(reg)
	if err != nil {
		t.Fatal(err)
	}
	s.Metrics = m
	dir, err := os.MkdirTemp("", "pmp")
	if err != nil {
		t.Fatal(err)
	}
	sock := server.SocketPath(dir, "pmp")
	ln, err := server.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, ln, s, time.Second) }()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		<-done
		os.RemoveAll(dir)
	})
	return conn, reg
}

// gateMounter holds every Mount until release is closed, and records the
// most Mounts it had at once.
type gateMounter struct {
	entered chan struct{}
	release chan struct{}

	mu       sync.Mutex
	in, most int
}

func newGate() *gateMounter {
	return &gateMounter{entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (m *gateMounter) Mount(context.Context, *params.Request) (*provider.Result, error) {
	m.mu.Lock()
	m.in++
	m.most = max(m.most, m.in)
	m.mu.Unlock()
	m.entered <- struct{}{}
	<-m.release
	m.mu.Lock()
	m.in--
	m.mu.Unlock()
	return pmpResult(), nil
}

// waitFor polls until cond holds; the test's own timeout bounds it.
func waitFor(cond func() bool) {
	for !cond() {
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMountsOverTheBoundWait: with --max-concurrent-mounts at 2, 5 Mounts
// at once are all answered: 2 at a time, the other 3 waiting (counted by
// pmp_mounts_waiting) instead of being refused.
func TestMountsOverTheBoundWait(t *testing.T) {
	gate := newGate()
	conn, reg := serveServer(t, &server.Server{Mounter: gate, MaxConcurrentMounts: 2})
	client := v1alpha1.NewCSIDriverProviderClient(conn)
	const n = 5
	errs := make(chan error, n)
	for range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			resp, err := client.Mount(ctx, pmpReq("- objectName: PMP-Production-Credentials").Build())
			if err == nil && len(resp.GetFiles()) != 30 {
				err = status.Errorf(codes.Internal, "%d files, want 30", len(resp.GetFiles()))
			}
			errs <- err
		}()
	}
	<-gate.entered
	<-gate.entered
	waitFor(func() bool { return promtest.Value(t, reg, "pmp_mounts_waiting") == n-2 })
	close(gate.release)
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Mount: %v", err)
		}
	}
	if gate.most != 2 {
		t.Errorf("%d Mounts answered at once, want 2", gate.most)
	}
	if got := promtest.Value(t, reg, "pmp_mounts_waiting"); got != 0 {
		t.Errorf("pmp_mounts_waiting = %v after every Mount was answered", got)
	}
}

// TestBusyMountFailsWithAFinalCode: a Mount that gets no slot before its
// deadline fails with Unknown, saying the provider is busy and that it is
// transient, and the driver gets that answer before its own call's
// deadline: not ResourceExhausted or DeadlineExceeded, which leave a pod's
// first mount an empty volume.
func TestBusyMountFailsWithAFinalCode(t *testing.T) {
	gate := newGate()
	conn, reg := serveServer(t, &server.Server{Mounter: gate, MaxConcurrentMounts: 1})
	client := v1alpha1.NewCSIDriverProviderClient(conn)
	first := make(chan error, 1)
	go func() {
		_, err := client.Mount(context.Background(), pmpReq("- objectName: PMP-Production-Credentials").Build())
		first <- err
	}()
	<-gate.entered

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := client.Mount(ctx, pmpReq("- objectName: PMP-Production-Credentials").Build())
	msg := status.Convert(err).Message()
	if status.Code(err) != codes.Unknown || !strings.Contains(msg, "busy") || !strings.Contains(msg, "transient") {
		t.Errorf("Mount with every slot taken = %v, want Unknown saying the provider is busy, transiently", err)
	}
	finalCode(t, err)
	if got := promtest.Value(t, reg, "pmp_mounts_total", "result", metrics.ResultTransient, "code", "Unknown"); got != 1 {
		t.Errorf("pmp_mounts_total{result=transient,code=Unknown} = %v, want 1", got)
	}

	close(gate.release)
	if err := <-first; err != nil {
		t.Errorf("the Mount holding the slot: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.Mount(ctx, pmpReq("- objectName: PMP-Production-Credentials").Build()); err != nil {
		t.Errorf("a Mount once the slot is free: %v", err)
	}
}

// rawCodec sends a []byte as the message itself, without copying it.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}
func (rawCodec) Unmarshal(mem.BufferSlice, any) error { return nil }
func (rawCodec) Name() string                         { return "proto" }

// TestHugeRequestIsNotRead: a request far over the transport's limit
// (twice MaxRequestBytes) is refused from its size alone: the provider does
// not read it (its allocations stay within a few MiB), so parallel huge
// requests cannot exhaust the node's memory. (gRPC answers it with
// ResourceExhausted, which it writes itself; a request between
// MaxRequestBytes and the transport's limit is refused with Internal:
// TestOversizedRequestIsFinal.)
func TestHugeRequestIsNotRead(t *testing.T) {
	conn, _ := serveServer(t, &server.Server{Mounter: panicMounter{}, MaxConcurrentMounts: 4})
	huge := make([]byte, 60<<20)
	for i := range huge {
		huge[i] = byte(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := conn.Invoke(ctx, v1alpha1.CSIDriverProvider_Mount_FullMethodName, huge, new([]byte), grpc.ForceCodecV2(rawCodec{}))
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Error("a 60 MiB Mount was not refused")
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Errorf("refusing a 60 MiB request allocated %d MiB: it was read", n>>20)
	}
	runtime.KeepAlive(huge)
}

// TestLargestRealRequestIsServed: a request just under MaxRequestBytes
// (parameters of the largest SecretProviderClass the API server stores
// are under half of it) is served.
func TestLargestRealRequestIsServed(t *testing.T) {
	conn, _ := serveServer(t, &server.Server{Mounter: panicMounter{}, MaxConcurrentMounts: 4})
	client := v1alpha1.NewCSIDriverProviderClient(conn)
	r := pmpReq("- objectName: PMP-Production-Credentials")
	r.Parameters["padding"] = strings.Repeat("x", server.MaxRequestBytes-64<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := client.Mount(ctx, r.Build())
	if err != nil || len(resp.GetFiles()) != 30 {
		t.Errorf("Mount of %d bytes = %d files, %v; want served", server.MaxRequestBytes-64<<10, len(resp.GetFiles()), err)
	}
}
