package probes_test

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/httpget"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/opshttp"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/probes"
)

// blockingMounter holds every Mount until release is closed.
type blockingMounter struct{ started, release chan struct{} }

func (m blockingMounter) Mount(ctx context.Context, _ *params.Request) (*provider.Result, error) {
	m.started <- struct{}{}
	<-m.release
	return nil, context.Canceled
}

// The probes follow what the driver would see on the socket: not live
// before it is served, live and then ready (once the AWS configuration has
// loaded) while it serves, neither once shutdown has begun, Mounts still
// finishing.
func TestProbesFollowTheSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "pmph")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := server.SocketPath(dir, "pmp")
	h := probes.NewHealth(sock)
	srv := httptest.NewServer(opshttp.Handler(prometheus.NewRegistry(), h))
	defer srv.Close()

	expect := func(path string, code int, text string) {
		t.Helper()
		got, body := httpget.Get(t, srv.URL+path)
		if got != code || !strings.Contains(body, text) {
			t.Errorf("%s = %d %q, want %d with %q", path, got, body, code, text)
		}
	}
	expect("/healthz", 503, "does not answer a health check")
	expect("/readyz", 503, "AWS configuration not loaded")

	ln, err := server.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	m := blockingMounter{started: make(chan struct{}, 1), release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, ln, &server.Server{Mounter: m}, 10*time.Second) }()

	expect("/healthz", 200, "ok")
	expect("/readyz", 503, "AWS configuration not loaded")
	h.ConfigLoaded()
	expect("/readyz", 200, "ok")

	// A Mount in flight keeps the server in its graceful stop.
	go func() {
		conn := dialDriver(t, sock)
		defer conn.close()
		_, _ = conn.mount()
	}()
	<-m.started
	cancel()
	// GracefulStop closes the listener at once (and with it the socket
	// file) and the health service says NOT_SERVING: either way, neither
	// probe passes while the last Mounts finish.
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _ := httpget.Get(t, srv.URL+"/healthz")
		if code == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz during shutdown = %d, want 503", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, _ := httpget.Get(t, srv.URL+"/readyz"); code != 503 {
		t.Errorf("/readyz during shutdown = %d, want 503", code)
	}
	close(m.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	expect("/healthz", 503, "does not answer a health check")
}
