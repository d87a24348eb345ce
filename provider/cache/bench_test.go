package cache_test

import (
	"context"
	"testing"
	"time"
	"unique"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/cache"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
)

// secretKey is a key of the shape of provider/fetch's own: a batch's
// first ref (and its replica's), the others interned.
type secretKey struct {
	Identity       identity.Key
	Region         string
	TTL            time.Duration
	FailoverRegion string
	First          [2]backend.Ref
	Rest           unique.Handle[[backend.MaxBatch - 1][2]backend.Ref]
}

// keyOf is the key of a batch of one: no other refs to intern.
func keyOf(id identity.Key, region string, ttl time.Duration, ref backend.Ref) secretKey {
	return secretKey{Identity: id, Region: region, TTL: ttl, First: [2]backend.Ref{ref}}
}

// BenchmarkGetHit is a cached secret's lookup as a Mount makes it: the
// key built from the pod's identity and the object, then a hit.
func BenchmarkGetHit(b *testing.B) {
	c := cache.New[secretKey, int](1024)
	id := identity.Identity{RoleARN: "arn:aws:iam::111122223333:role/PMP-SecretsManager-Role", Namespace: "pmp", ServiceAccount: "pmp-secrets-access",
		Region: "eu-west-1", PodUID: "0b9e7c54-5f0e-4c53-9d3c-2f6a1f1f7a10"}
	ref := backend.Ref{Name: "PMP-Production-Credentials", Label: "AWSCURRENT"}
	load := func(context.Context) (int, time.Duration, error) { return 1, time.Hour, nil }
	ctx := context.Background()
	if _, err := c.Get(ctx, keyOf(id.Key(), "eu-west-1", time.Hour, ref), load); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if v, err := c.Get(ctx, keyOf(id.Key(), "eu-west-1", time.Hour, ref), load); err != nil || v != 1 {
			b.Fatal(v, err)
		}
	}
}
