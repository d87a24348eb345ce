package server_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/server"
)

// staleSocket leaves a socket at path as a killed provider does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
}

func TestListenReplacesStaleSocketAndRestrictsIt(t *testing.T) {
	dir, err := os.MkdirTemp("", "pmp")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := server.SocketPath(dir, "pmp")
	staleSocket(t, sock)
	ln, err := server.Listen(sock)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer ln.Close()
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("%s is %v, want a socket", sock, fi.Mode())
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("socket mode %#o, want 0600: only its owner may connect", perm)
	}
}

func TestListenDirectory(t *testing.T) {
	base, err := os.MkdirTemp("", "pmp")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	listen := func(dir string) error {
		ln, err := server.Listen(server.SocketPath(dir, "pmp"))
		if err == nil {
			ln.Close()
		}
		return err
	}
	t.Run("a missing directory is made 0700", func(t *testing.T) {
		dir := filepath.Join(base, "made")
		if err := listen(dir); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("directory mode = %v, %v; want 0700", fi.Mode(), err)
		}
	})
	for i, mode := range []os.FileMode{0o700, 0o755, 0o777 | os.ModeSticky} {
		t.Run(fmt.Sprintf("a %v directory", mode), func(t *testing.T) {
			dir := filepath.Join(base, fmt.Sprintf("m%d", i))
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, mode); err != nil {
				t.Fatal(err)
			}
			if err := listen(dir); err != nil {
				t.Errorf("Listen: %v", err)
			}
		})
	}
	t.Run("a directory others may write to is refused", func(t *testing.T) {
		dir := filepath.Join(base, "open")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := listen(dir); err == nil || !strings.Contains(err.Error(), "writable by other users") {
			t.Errorf("Listen = %v, want a refusal", err)
		}
	})
	t.Run("a file that is not a socket is left alone", func(t *testing.T) {
		dir := filepath.Join(base, "file")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		path := server.SocketPath(dir, "pmp")
		if err := os.WriteFile(path, []byte("not mine"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := listen(dir); err == nil || !strings.Contains(err.Error(), "is not a socket") {
			t.Errorf("Listen = %v, want a refusal", err)
		}
		if b, _ := os.ReadFile(path); string(b) != "not mine" {
			t.Error("Listen removed or changed a file that was not its socket")
		}
	})
}

func TestServeAnswersHealthAndStopsCleanly(t *testing.T) {
	dir, err := os.MkdirTemp("", "pmp")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := server.SocketPath(dir, "pmp")
	ln, err := server.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, ln, &server.Server{}, time.Second) }()

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, svc := range []string{"", "v1alpha1.CSIDriverProvider"} {
		resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q = %v, %v; want SERVING", svc, resp.GetStatus(), err)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket still there after stop: %v", err)
	}
}

// TestListenLeavesASuccessorsSocket: a second instance replaces the first
// one's socket (a rolling update's surge); the first, stopping, leaves the
// second one's socket in place, and the driver's next dial reaches the
// second. The last instance still removes its own socket on stop.
func TestListenLeavesASuccessorsSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "pmp")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := server.SocketPath(dir, "pmp")
	first, err := server.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	second, err := server.Listen(sock)
	if err != nil {
		t.Fatalf("Listen while another instance serves: %v", err)
	}
	defer second.Close()
	first.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := second.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("dialing the socket after the first instance stopped: %v", err)
	}
	c.Close()
	if err := <-accepted; err != nil {
		t.Errorf("the second instance did not get the connection: %v", err)
	}
	second.Close()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the last instance left its socket after stopping: %v", err)
	}
}
