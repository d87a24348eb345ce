package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/cache"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/secrets"
)

// secretKey is a key of the shape of provider/secrets' own.
type secretKey struct {
	Identity identity.Key
	Ref      secrets.Ref
}

// BenchmarkGetHit is a cached secret's lookup as a Mount makes it: the
// key built from the pod's identity and the object, then a hit.
func BenchmarkGetHit(b *testing.B) {
	c := cache.New[secretKey, int](1024)
	id := identity.Identity{RoleARN: "arn:aws:iam::111122223333:role/PMP-SecretsManager-Role", Namespace: "pmp", ServiceAccount: "pmp-secrets-access",
		Region: "eu-west-1", PodUID: "0b9e7c54-5f0e-4c53-9d3c-2f6a1f1f7a10"}
	ref := secrets.Ref{ID: "PMP-Production-Credentials", VersionStage: "AWSCURRENT", Region: "eu-west-1", TTL: time.Hour}
	load := func(context.Context) (int, time.Duration, error) { return 1, time.Hour, nil }
	ctx := context.Background()
	if _, err := c.Get(ctx, secretKey{id.Key(), ref}, load); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if v, err := c.Get(ctx, secretKey{id.Key(), ref}, load); err != nil || v != 1 {
			b.Fatal(v, err)
		}
	}
}
