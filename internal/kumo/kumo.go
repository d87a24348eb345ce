// Package kumo runs the kumo AWS emulator (STS, Secrets Manager with
// version stages) as a child process on a free loopback port, for the
// tests, the demo and the benchmark harness.
package kumo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Emulator is a running kumo.
type Emulator struct {
	// Endpoint is its URL, e.g. http://127.0.0.1:40123.
	Endpoint string
	cancel   context.CancelFunc
	done     chan struct{}
}

// Stop ends the emulator and waits for it.
func (e *Emulator) Stop() {
	e.cancel()
	<-e.done
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary returns the emulator binary: $KUMO_BIN, or the one hack/tools.sh
// builds (and caches outside the repo) on first use.
func Binary() (string, error) {
	binOnce.Do(func() {
		if p := os.Getenv("KUMO_BIN"); p != "" {
			binPath = p
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		var out, errb bytes.Buffer
		cmd := exec.Command(filepath.Join(root, "hack", "tools.sh"), "kumo")
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			binErr = fmt.Errorf("building kumo with hack/tools.sh: %v: %s", err, errb.String())
			return
		}
		binPath = strings.TrimSpace(out.String())
	})
	return binPath, binErr
}

// Start starts the emulator on a free 127.0.0.1 port, retrying on another
// port if the chosen one was taken meanwhile.
func Start() (*Emulator, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	var lastLogs string
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, bin, "--host", "127.0.0.1", "--port", fmt.Sprint(port))
		cmd.Env = append(os.Environ(), "KUMO_DATA_DIR=")
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			cancel()
			return nil, fmt.Errorf("starting kumo: %w", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		u := fmt.Sprintf("http://127.0.0.1:%d", port)
		if waitHTTP(u, done) {
			return &Emulator{Endpoint: u, cancel: cancel, done: done}, nil
		}
		cancel()
		<-done
		lastLogs = logs.String()
	}
	return nil, errors.New("kumo did not start: " + lastLogs)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitHTTP(u string, exited <-chan struct{}) bool {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		resp, err := http.Get(u + "/")
		if err == nil {
			resp.Body.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
