package flatten_test

import (
	"fmt"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/flatten"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
)

// pmpDocument is the PMP credentials document (30 credentials in 11
// groups) with every credential set to a token-sized value.
func pmpDocument(b *testing.B) []byte {
	b.Helper()
	doc, _ := pmp.Document(func(name string) string { return fmt.Sprintf("%-48s", "value-of-"+name) })
	return []byte(doc)
}

// BenchmarkFlatten flattens the PMP document: once per secret version in
// the provider (the result is kept with the cached secret).
func BenchmarkFlatten(b *testing.B) {
	raw := pmpDocument(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		entries, err := flatten.Flatten(raw)
		if err != nil || len(entries) != 30 {
			b.Fatalf("Flatten: %d entries, %v", len(entries), err)
		}
	}
}
