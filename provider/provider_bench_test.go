package provider_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsfake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
)

func pmpDocument(b *testing.B) string {
	b.Helper()
	doc, _ := pmp.Document(func(name string) string { return fmt.Sprintf("%-48s", "value-of-"+name) })
	return doc
}

// BenchmarkMountCached is a republish: the pipeline after parsing, with the
// role, the credentials and the secret in the caches (AWS is an in-process
// fake and the Kubernetes API the loopback one, neither called after the
// first Mount).
func BenchmarkMountCached(b *testing.B) {
	sm := &awsfake.SM{Versions: []awsfake.Version{{ID: pmpSecret, VersionID: v1, Value: pmpDocument(b)}}}
	p := newProvider(b, edges{sm: sm, region: "eu-west-1"}, provider.Options{TokenAudience: "sts.amazonaws.com", Cache: true, SecretTTL: time.Hour, CacheSize: 64})
	req := &params.Request{
		Pod:                 params.Pod{Name: "pmp-0", Namespace: "pmp", UID: "uid", ServiceAccount: "pmp-secrets-access"},
		SecretProviderClass: "pmp-credentials",
		Region:              "eu-west-1",
		Objects:             []params.Object{{Name: "PMP-Production-Credentials", Mode: 0o440}},
		Mode:                0o644,
		Tokens: map[string]params.Token{"sts.amazonaws.com": {Value: testIssuer.Sign(issuer.Token{
			Namespace: "pmp", ServiceAccount: "pmp-secrets-access", PodName: "pmp-0", PodUID: "uid",
		})}},
	}
	ctx := context.Background()
	first, err := p.Mount(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	object.Derive(first.Memo, func() struct{} { return struct{}{} }) // the server keeps its response there

	b.ReportAllocs()
	for b.Loop() {
		res, err := p.Mount(ctx, req)
		if err != nil || len(res.Files) != 30 {
			b.Fatalf("Mount: %v", err)
		}
	}
}
