package cache

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSharedBudget: two caches sharing one bound in bytes (the secrets'
// and the parameters' under --cache-max-bytes). One may use all of it
// while the other holds nothing; the other's insertions then take back
// the first's least recently used entries, not its own; together they
// never hold more than the bound.
func TestSharedBudget(t *testing.T) {
	b := NewBudget(100)
	size := func(v string) int64 { return int64(len(v)) }
	secrets, _ := newCache(100)
	secrets.ShareBytes(b, func(string) int64 { return 0 }, size)
	parameters, _ := newCache(100)
	parameters.ShareBytes(b, func(string) int64 { return 0 }, size)
	var l loader
	get := func(c *Cache[string, string], key string, n int) {
		t.Helper()
		if _, err := c.Get(context.Background(), key, l.fn(strings.Repeat("x", n), time.Hour, nil)); err != nil {
			t.Fatal(err)
		}
		if b.Used() > 100 {
			t.Fatalf("after %s: the caches hold %d bytes together, over the bound of 100", key, b.Used())
		}
	}
	for _, k := range []string{"s1", "s2", "s3", "s4"} {
		get(secrets, k, 25)
	}
	if st := secrets.Stats(); st.Entries != 4 || st.Bytes != 100 {
		t.Fatalf("secrets alone: %+v, want all 4 entries, the whole 100 bytes", st)
	}
	get(parameters, "p1", 25) // the secrets hold over their share (50): s1 goes
	get(parameters, "p2", 25) // s2 goes
	cached := map[string]bool{}
	for _, k := range []string{"s1", "s2", "s3", "s4"} {
		_, cached[k] = secrets.Peek(k)
	}
	for _, k := range []string{"p1", "p2"} {
		_, cached[k] = parameters.Peek(k)
	}
	want := map[string]bool{"s1": false, "s2": false, "s3": true, "s4": true, "p1": true, "p2": true}
	if diff := cmp.Diff(want, cached); diff != "" {
		t.Errorf("cached keys (-want +got):\n%s", diff)
	}
	// At their shares, a cache's insertion gives back its own entries.
	get(parameters, "p3", 25)
	if _, ok := parameters.Peek("p1"); ok {
		t.Error("p1 is still cached: the parameters, at their share, should give back their own")
	}
	if st := secrets.Stats(); st.Entries != 2 || st.Bytes != 50 {
		t.Errorf("secrets at their share: %+v, want 2 entries of 50 bytes kept", st)
	}
	// What a cache forgets is given back to the budget.
	secrets.Forget("s3")
	secrets.Forget("s4")
	if got, want := b.Used(), parameters.Stats().Bytes; got != want {
		t.Errorf("Used() = %d after the secrets forgot theirs, want the parameters' %d", got, want)
	}
}
