// Package opshttp is the provider's operations HTTP servers: /metrics,
// /healthz and /readyz on --metrics-addr, and pprof on --pprof-addr, which
// must be a loopback address. Every connection's phases are bounded.
package opshttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/klog/v2"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/metrics"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/probes"
)

// Timeouts bound each connection of an HTTP server, so a client that
// sends slowly, reads slowly or idles cannot hold a connection (and its
// goroutine) for ever. A zero field takes the default of Start.
type Timeouts struct {
	// ReadHeader bounds reading the request headers; Read the whole
	// request.
	ReadHeader, Read time.Duration
	// Write bounds the time from the end of the request headers to the
	// end of the response.
	Write time.Duration
	// Idle bounds the wait for the next request on a kept-alive
	// connection.
	Idle time.Duration
}

// The defaults of the metrics server: a scrape, even of every Go runtime
// metric, writes in milliseconds.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
)

// PprofTimeouts are the pprof server's: a CPU profile or trace writes for
// its ?seconds (30 by default), so writes get longer.
func PprofTimeouts() Timeouts { return Timeouts{Write: 2 * time.Minute} }

func (t Timeouts) orDefaults() Timeouts {
	if t.ReadHeader == 0 {
		t.ReadHeader = DefaultReadHeaderTimeout
	}
	if t.Read == 0 {
		t.Read = DefaultReadTimeout
	}
	if t.Write == 0 {
		t.Write = DefaultWriteTimeout
	}
	if t.Idle == 0 {
		t.Idle = DefaultIdleTimeout
	}
	return t
}

// Server is a running HTTP server.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Start serves h on addr until Stop. flag names the address's flag in
// errors and logs (--metrics-addr, --pprof-addr).
func Start(flag, addr string, h http.Handler, t Timeouts) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	t = t.orDefaults()
	s := &Server{ln: ln, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    16 << 10,
	}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			klog.ErrorS(err, "HTTP server stopped", "flag", flag)
		}
	}()
	klog.InfoS("serving HTTP", "flag", flag, "addr", s.Addr())
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Stop shuts the server down, giving open requests a few seconds.
func (s *Server) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

// Handler serves --metrics-addr: /metrics from g, and /healthz and
// /readyz from h (not nil).
func Handler(g prometheus.Gatherer, h *probes.Health) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(g))
	mux.Handle("GET /healthz", h.LiveHandler())
	mux.Handle("GET /readyz", h.ReadyHandler())
	return mux
}

// PprofHandler serves the runtime profiles under /debug/pprof/, on a mux
// of its own: never on the metrics port.
func PprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// CheckLoopback returns an error unless addr is host:port with a loopback
// host (127.0.0.0/8, ::1 or localhost): profiles show memory, and so may
// show secrets held in it.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	if host == "" {
		return fmt.Errorf("%q listens on every interface: give a loopback host, e.g. 127.0.0.1%s", addr, addr)
	}
	return fmt.Errorf("%q is not a loopback address: profiles show the process's memory, so pprof listens on 127.0.0.1, ::1 or localhost only (reach it with kubectl port-forward)", addr)
}
