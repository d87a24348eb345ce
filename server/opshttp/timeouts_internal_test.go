package opshttp

import (
	"net/http"
	"testing"
)

// The provider's metrics server (zero Timeouts) bounds every phase of a
// connection.
func TestDefaultTimeoutsAreSet(t *testing.T) {
	s, err := Start("--metrics-addr", "127.0.0.1:0", http.NotFoundHandler(), Timeouts{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	got := Timeouts{ReadHeader: s.srv.ReadHeaderTimeout, Read: s.srv.ReadTimeout, Write: s.srv.WriteTimeout, Idle: s.srv.IdleTimeout}
	want := Timeouts{ReadHeader: DefaultReadHeaderTimeout, Read: DefaultReadTimeout, Write: DefaultWriteTimeout, Idle: DefaultIdleTimeout}
	if got != want {
		t.Errorf("timeouts = %+v, want %+v", got, want)
	}
	if p := PprofTimeouts().orDefaults(); p.Write <= 30e9 {
		t.Errorf("pprof write timeout %v does not fit a default 30s CPU profile", p.Write)
	}
}
