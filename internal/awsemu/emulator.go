package awsemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
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

// ErrNoEmulator is returned when KUMO_BIN names no emulator binary.
var ErrNoEmulator = errors.New("KUMO_BIN is not set: these tests run against the kumo AWS emulator; run them with make test, which builds it (tools/build.sh kumo)")

// Binary returns the emulator binary named by $KUMO_BIN. Tests never build
// it themselves: make test, make demo and make bench pass it in.
func Binary() (string, error) {
	p := os.Getenv("KUMO_BIN")
	if p == "" {
		return "", ErrNoEmulator
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("KUMO_BIN=%s: %w (run make tools to build it)", p, err)
	}
	return p, nil
}

// StartEmulator starts the emulator on a free 127.0.0.1 port, retrying on another
// port if the chosen one was taken meanwhile. Its ARNs name the region of
// AWS_DEFAULT_REGION, else us-east-1.
func StartEmulator() (*Emulator, error) { return StartEmulatorIn("") }

// StartEmulatorIn is StartEmulator for an emulator of region: kumo serves
// one region per process, and its ARNs name it.
func StartEmulatorIn(region string) (*Emulator, error) {
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
		if region != "" {
			cmd.Env = append(cmd.Env, "AWS_DEFAULT_REGION="+region)
		}
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
