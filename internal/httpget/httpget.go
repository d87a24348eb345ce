// Package httpget is the tests' GET of an operations endpoint (/metrics,
// the probes, pprof): its status and body, failing the test when the
// request cannot be made.
package httpget

import (
	"io"
	"net/http"
	"testing"
)

// Get GETs url and returns the answer's status code and body.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}
