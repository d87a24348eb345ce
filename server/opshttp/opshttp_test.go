package opshttp_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/httpget"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/opshttp"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/probes"
)

func start(t *testing.T, h http.Handler, to opshttp.Timeouts) *opshttp.Server {
	t.Helper()
	s, err := opshttp.Start("--metrics-addr", "127.0.0.1:0", h, to)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// closedWithin reports whether the server closes conn within d, reading
// (and dropping) whatever it sends first.
func closedWithin(t *testing.T, conn net.Conn, d time.Duration) bool {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// A client that never finishes its headers, or idles on a kept-alive
// connection, is cut off: it cannot hold a connection and its goroutine.
func TestMetricsServerCutsSlowAndIdleClients(t *testing.T) {
	s := start(t, opshttp.Handler(prometheus.NewRegistry(), probes.NewHealth("/nonexistent.sock")),
		opshttp.Timeouts{ReadHeader: 200 * time.Millisecond, Read: 300 * time.Millisecond, Idle: 300 * time.Millisecond})

	slow, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(slow, "GET /metrics HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(t, slow, 3*time.Second) {
		t.Error("a client that never ends its headers is still connected after 3s")
	}

	idle, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := io.WriteString(idle, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics = %d", resp.StatusCode)
	}
	if !closedWithin(t, idle, 3*time.Second) {
		t.Error("an idle kept-alive connection is still open after 3s")
	}
}

func TestStartNamesTheFlagOfABadAddress(t *testing.T) {
	_, err := opshttp.Start("--metrics-addr", "127.0.0.1:notaport", http.NotFoundHandler(), opshttp.Timeouts{})
	if err == nil || !strings.HasPrefix(err.Error(), "--metrics-addr: ") {
		t.Errorf("err = %v, want one starting with --metrics-addr", err)
	}
}

func TestPprofOnItsOwnServerOnly(t *testing.T) {
	p := start(t, opshttp.PprofHandler(), opshttp.PprofTimeouts())
	m := start(t, opshttp.Handler(prometheus.NewRegistry(), probes.NewHealth("/nonexistent.sock")), opshttp.Timeouts{})
	if code, body := httpget.Get(t, "http://"+p.Addr()+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof index = %d", code)
	}
	if code, _ := httpget.Get(t, "http://"+p.Addr()+"/debug/pprof/goroutine?debug=1"); code != 200 {
		t.Errorf("goroutine profile = %d", code)
	}
	if code, _ := httpget.Get(t, "http://"+m.Addr()+"/debug/pprof/"); code != 404 {
		t.Errorf("pprof on the metrics server = %d, want 404", code)
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:6060", "127.0.0.2:6060", "[::1]:6060", "localhost:6060", "127.0.0.1:0"} {
		if err := opshttp.CheckLoopback(ok); err != nil {
			t.Errorf("CheckLoopback(%q) = %v", ok, err)
		}
	}
	for _, c := range []struct{ addr, want string }{
		{":6060", "every interface"},
		{"0.0.0.0:6060", "not a loopback address"},
		{"[::]:6060", "not a loopback address"},
		{"10.0.0.1:6060", "not a loopback address"},
		{"node-1:6060", "not a loopback address"},
		{"127.0.0.1", "not host:port"},
	} {
		if err := opshttp.CheckLoopback(c.addr); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckLoopback(%q) = %v, want an error with %q", c.addr, err, c.want)
		}
	}
}
