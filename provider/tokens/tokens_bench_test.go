package tokens

import (
	"context"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
)

// BenchmarkVerifyRemembered is a republish: the pod's token was verified
// on its first Mount and is remembered by its hash.
func BenchmarkVerifyRemembered(b *testing.B) {
	iss := issuer.New()
	v := New(&fakeAPI{iss: iss}, DefaultConfig("sts.amazonaws.com"))
	tok := iss.Sign(kubelet(issuer.Token{}))
	ctx := context.Background()
	if err := v.Verify(ctx, tok, pod); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(ctx, tok, pod); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyFirst is a pod's first Mount (or a refreshed token): the
// signature and claims are checked against keys already in hand.
func BenchmarkVerifyFirst(b *testing.B) {
	iss := issuer.New()
	tok := iss.Sign(kubelet(issuer.Token{}))
	api := &fakeAPI{iss: iss}
	ctx := context.Background()
	v := New(api, DefaultConfig("sts.amazonaws.com"))
	b.ReportAllocs()
	for b.Loop() {
		v.mu.Lock()
		clear(v.remembered)
		v.mu.Unlock()
		if err := v.Verify(ctx, tok, pod); err != nil {
			b.Fatal(err)
		}
	}
}
