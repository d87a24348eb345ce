package fetch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unique"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	smithy "github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsfake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend/parameterstore"
	sm "github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend/secretsmanager"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

// These tests read Secrets Manager secrets (awsfake.SM) through the
// secretsmanager backend: what a Fetcher adds to any backend.

// Ref is a secret read as these tests name it.
type Ref struct {
	ID, VersionID, VersionStage, Region string
	TTL                                 time.Duration
}

func (r Ref) backend() backend.Ref {
	return backend.Ref{Name: r.ID, Version: r.VersionID, Label: r.VersionStage}
}

// second is the Rest of a key of its.
func second(its []Item) unique.Handle[rest] { _, r := itemsKey(its); return r }

// secretsFetcher is a Fetcher of secrets, whose Get reads one as the
// provider does.
type secretsFetcher struct{ *Fetcher }

func NewFetcher(api sm.API, cfg Config) secretsFetcher {
	return secretsFetcher{New(&sm.Info, sm.New(api), cfg)}
}

func (f secretsFetcher) Get(ctx context.Context, id identity.Key, ref Ref, creds identity.PodCredentials) (*object.Version, error) {
	got, err := f.Fetch(ctx, id, Batch{Region: ref.Region, TTL: ref.TTL, Credentials: creds, Items: []Item{{Ref: ref.backend()}}})
	if err != nil {
		return nil, err
	}
	return got[0], nil
}

// fetch reads ref without the cache: the version, and how long it may be kept.
func (f secretsFetcher) fetch(ctx context.Context, ref Ref, creds identity.PodCredentials) (*object.Version, time.Duration, error) {
	got, ttl, err := f.read(ctx, ref.Region, []backend.Ref{ref.backend()}, ref.TTL, creds, false)
	if err != nil {
		return nil, ttl, err
	}
	return got[0], ttl, nil
}

var fastRetry = retry.Policy{Budget: 100 * time.Millisecond, AttemptTimeout: 50 * time.Millisecond, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}

func apiError(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }

func TestGetCache(t *testing.T) {
	out := &secretsmanager.GetSecretValueOutput{Name: aws.String("pmp"), VersionId: aws.String("v-1"), SecretString: aws.String("x")}
	tests := []struct {
		name      string
		cfg       Config
		err       error
		wantCalls int
	}{
		{name: "a secret is kept for its window", cfg: Config{Cache: true, SecretTTL: time.Minute, CacheSize: 8}, wantCalls: 1},
		{name: "cache off: every Get asks", cfg: Config{}, wantCalls: 3},
		{name: "a refusal is remembered", cfg: Config{Cache: true, SecretTTL: time.Minute, NegativeTTL: time.Minute, CacheSize: 8}, err: apiError("ResourceNotFoundException", ""), wantCalls: 1},
		{name: "a transient failure is not", cfg: Config{Cache: true, SecretTTL: time.Minute, NegativeTTL: time.Minute, CacheSize: 8}, err: apiError("SomethingNew", ""), wantCalls: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &awsfake.SM{Out: out, Err: tt.err}
			tt.cfg.Retry = fastRetry
			f := NewFetcher(api, tt.cfg)
			creds := &awsfake.Creds{}
			for range 3 {
				_, _ = f.Get(context.Background(), testIdentity, Ref{ID: "pmp", Region: "eu-west-1"}, creds)
			}
			if api.CallCount() != tt.wantCalls || creds.Gets() != tt.wantCalls {
				t.Errorf("GetSecretValue calls = %d, credentials asked %d times; want %d of each", api.CallCount(), creds.Gets(), tt.wantCalls)
			}
		})
	}
}

// TestRejectedCredentialsAreRenewedOnce: cached STS credentials that AWS
// refuses (expired, revoked) are dropped and the token exchanged again,
// once; credentials exchanged for this very call are not.
func TestRejectedCredentialsAreRenewedOnce(t *testing.T) {
	out := &secretsmanager.GetSecretValueOutput{Name: aws.String("pmp"), VersionId: aws.String("v-1"), SecretString: aws.String("x")}
	tests := []struct {
		name   string
		creds  *awsfake.Creds
		errs   []error
		wantOK bool
		// wantKeys are the access keys GetSecretValue was signed with.
		wantKeys    []string
		wantRenewed []string
		wantKind    mounterr.Kind
	}{
		{name: "expired session", creds: awsfake.CachedCreds(), errs: []error{apiError("ExpiredTokenException", "The security token included in the request is expired")},
			wantOK: true, wantKeys: []string{"ASIATEST1", "ASIATEST2"}, wantRenewed: []string{"ASIATEST1"}},
		{name: "unknown session (UnrecognizedClient)", creds: awsfake.CachedCreds(), errs: []error{apiError("UnrecognizedClientException", "The security token included in the request is invalid")},
			wantOK: true, wantKeys: []string{"ASIATEST1", "ASIATEST2"}, wantRenewed: []string{"ASIATEST1"}},
		{name: "bad signature", creds: awsfake.CachedCreds(), errs: []error{apiError("InvalidSignatureException", "x")},
			wantOK: true, wantKeys: []string{"ASIATEST1", "ASIATEST2"}, wantRenewed: []string{"ASIATEST1"}},
		{name: "sessions revoked", creds: awsfake.CachedCreds(), errs: []error{apiError("AccessDeniedException", "explicit deny in an inline policy (AWSRevokeOlderSessions)")},
			wantOK: true, wantKeys: []string{"ASIATEST1", "ASIATEST2"}, wantRenewed: []string{"ASIATEST1"}},
		{name: "refused again after the exchange: fail, no third try", creds: awsfake.CachedCreds(),
			errs:     []error{apiError("AccessDeniedException", "no"), apiError("AccessDeniedException", "no"), apiError("AccessDeniedException", "no")},
			wantKeys: []string{"ASIATEST1", "ASIATEST2"}, wantRenewed: []string{"ASIATEST1"}, wantKind: mounterr.Denied},
		{name: "fresh credentials refused: no second exchange", creds: &awsfake.Creds{}, errs: []error{apiError("ExpiredTokenException", "expired")},
			wantKeys: []string{"ASIATEST1"}, wantKind: mounterr.Unauthenticated},
		{name: "a refusal of the secret, not of the credentials", creds: awsfake.CachedCreds(), errs: []error{apiError("ResourceNotFoundException", "")},
			wantKeys: []string{"ASIATEST1"}, wantKind: mounterr.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &awsfake.SM{Out: out, CallErrs: tt.errs}
			f := NewFetcher(api, Config{Retry: fastRetry, Cache: true, SecretTTL: time.Minute, CacheSize: 8})
			s, err := f.Get(context.Background(), testIdentity, Ref{ID: "pmp", Region: "eu-west-1"}, tt.creds)
			if tt.wantOK && (err != nil || string(s.Value) != "x") {
				t.Fatalf("Get = %v, %v; want the secret", s, err)
			}
			if !tt.wantOK && mounterr.KindOf(err) != tt.wantKind {
				t.Errorf("Get error = %v (%s), want %s", err, mounterr.KindOf(err), tt.wantKind)
			}
			if diff := cmp.Diff(tt.wantKeys, api.AccessKeys()); diff != "" {
				t.Errorf("GetSecretValue signed with (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRenewed, tt.creds.Renewed()); diff != "" {
				t.Errorf("renewed (-want +got):\n%s", diff)
			}
		})
	}
}

// TestObjectWindow: an object's secretTTL is the window its entry is kept
// for, and objects of one secret that ask for different windows do not
// share an entry (one's window would otherwise decide for the other).
func TestObjectWindow(t *testing.T) {
	out := &secretsmanager.GetSecretValueOutput{Name: aws.String("pmp"), VersionId: aws.String("v-1"), SecretString: aws.String("x")}
	api := &awsfake.SM{Out: out}
	f := NewFetcher(api, Config{Retry: fastRetry, Cache: true, SecretTTL: time.Minute, CacheSize: 8})
	for _, tc := range []struct {
		ttl, want time.Duration
	}{{0, time.Minute}, {10 * time.Second, 10 * time.Second}, {time.Hour, time.Hour}} {
		_, got, err := f.fetch(context.Background(), Ref{ID: "pmp", Region: "eu-west-1", TTL: tc.ttl}, &awsfake.Creds{})
		if err != nil || got != tc.want {
			t.Errorf("TTL %s: kept for %s (%v), want %s", tc.ttl, got, err, tc.want)
		}
	}
	before := api.CallCount()
	creds := &awsfake.Creds{}
	for _, ttl := range []time.Duration{0, 10 * time.Second, 0, 10 * time.Second} {
		if _, err := f.Get(context.Background(), testIdentity, Ref{ID: "pmp", Region: "eu-west-1", TTL: ttl}, creds); err != nil {
			t.Fatal(err)
		}
	}
	if n := api.CallCount() - before; n != 2 {
		t.Errorf("two windows of one secret cost %d GetSecretValue calls, want 2 (one entry each)", n)
	}
}

// TestMaxTTLCapsObjectWindow: --max-secret-ttl caps every object's
// secretTTL: a secret read with a 24h window is read again once the cap
// has passed, so a deleted secret or a revoked permission is served at
// most that long; a window under the cap is kept as it is.
func TestMaxTTLCapsObjectWindow(t *testing.T) {
	now := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	api := &awsfake.SM{Out: &secretsmanager.GetSecretValueOutput{Name: aws.String("pmp"), VersionId: aws.String("v-1"), SecretString: aws.String("one")}}
	f := NewFetcher(api, Config{Retry: fastRetry, Cache: true, SecretTTL: 30 * time.Second, MaxTTL: time.Hour, CacheSize: 8, Clock: clock})
	get := func(ttl time.Duration) string {
		t.Helper()
		s, err := f.Get(context.Background(), testIdentity, Ref{ID: "pmp", Region: "eu-west-1", TTL: ttl}, awsfake.CachedCreds())
		if err != nil {
			t.Fatal(err)
		}
		return string(s.Value)
	}
	if got := get(24 * time.Hour); got != "one" {
		t.Fatalf("first read: %q", got)
	}
	api.Out = &secretsmanager.GetSecretValueOutput{Name: aws.String("pmp"), VersionId: aws.String("v-2"), SecretString: aws.String("two")}
	advance(time.Hour - time.Second)
	if got := get(24 * time.Hour); got != "one" || api.CallCount() != 1 {
		t.Fatalf("within the cap: %q after %d calls, want the cached value", got, api.CallCount())
	}
	advance(2 * time.Second)
	if got := get(24 * time.Hour); got != "two" || api.CallCount() != 2 {
		t.Errorf("past the cap: %q after %d calls, want the secret read again (secretTTL 24h capped to 1h)", got, api.CallCount())
	}
	for _, tc := range []struct{ ttl, want time.Duration }{{0, 30 * time.Second}, {10 * time.Minute, 10 * time.Minute}, {time.Hour, time.Hour}, {24 * time.Hour, time.Hour}} {
		if _, got, err := f.fetch(context.Background(), Ref{ID: "pmp", Region: "eu-west-1", TTL: f.cfg.Window(tc.ttl)}, awsfake.CachedCreds()); err != nil || got != tc.want {
			t.Errorf("secretTTL %s: kept for %s (%v), want %s", tc.ttl, got, err, tc.want)
		}
	}
}

// TestCacheMaxBytes: with room in bytes for one secret of an identity,
// a second identity's fetch pushes the first out, however many entries
// --cache-size allows.
func TestCacheMaxBytes(t *testing.T) {
	doc := `{"VCS":{"BitbucketProjectAdminPAT":"` + strings.Repeat("v", 4000) + `","GithubAdminPAT":"x"}}`
	api := &awsfake.SM{Out: &secretsmanager.GetSecretValueOutput{Name: aws.String("pmp"), VersionId: aws.String("v1"), SecretString: aws.String(doc)}}
	f := NewFetcher(api, Config{Retry: fastRetry, Cache: true, SecretTTL: time.Hour, CacheSize: 1024, CacheMaxBytes: 12000})
	ref := Ref{ID: "pmp", Region: "eu-west-1"}
	for _, sa := range []string{"a", "a", "b", "b", "a"} {
		s, err := f.Get(context.Background(), identity.Key{Namespace: "pmp", ServiceAccount: sa}, ref, awsfake.CachedCreds())
		if err != nil {
			t.Fatal(err)
		}
		// The value, its entries and their files: more than twice the value.
		if got := s.Size(); got < 2*int64(len(doc)) {
			t.Fatalf("Size() = %d, want at least twice the %d-byte value", got, len(doc))
		}
	}
	if api.CallCount() != 3 {
		t.Errorf("GetSecretValue called %d times, want 3 (a, b, then a again: one secret fits)", api.CallCount())
	}
	if st := f.Stats(); st.Entries != 1 || st.Bytes > 12000 || st.Bytes == 0 {
		t.Errorf("Stats() = %+v, want 1 entry of at most 12000 bytes", st)
	}
}

// testIdentity is the reader of the tests' secrets.
var testIdentity = identity.Key{RoleARN: "arn:aws:iam::111122223333:role/r", Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "eu-west-1"}

// TestKey: a secret read with a failover region is kept apart from the
// same secret read without one, and each says what it is in a log line
// from its own fields.
func TestKey(t *testing.T) {
	ref := backend.Ref{Name: "PMP", Label: "AWSCURRENT"}
	plain := Key{info: &sm.Info, Identity: testIdentity, Region: "us-east-1", TTL: time.Minute, First: Item{Ref: ref}}
	withReplica := Key{info: &sm.Info, Identity: testIdentity, Region: "us-east-1", TTL: time.Minute, FailoverRegion: "us-west-2",
		First: Item{Ref: ref, Replica: backend.Ref{Name: "PMP-Replica", Label: "AWSCURRENT"}}}
	if plain == withReplica {
		t.Error("a read with a failover region has the key of a read without one")
	}
	id := []any{"role", "arn:aws:iam::111122223333:role/r", "namespace", "pmp", "serviceAccount", "pmp-sa"}
	if diff := cmp.Diff(append([]any{"secret", "PMP", "region", "us-east-1"}, id...), plain.LogFields()); diff != "" {
		t.Errorf("LogFields() (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(append([]any{"secret", "PMP", "region", "us-east-1", "failoverRegion", "us-west-2"}, id...), withReplica.LogFields()); diff != "" {
		t.Errorf("LogFields() with a failover region (-want +got):\n%s", diff)
	}
	// The bound in bytes counts the key's strings as well as its struct.
	long := plain
	long.First = Item{Ref: backend.Ref{Name: strings.Repeat("x", 1000), Label: "AWSCURRENT"}}
	if long.size()-plain.size() != 997 {
		t.Errorf("size() grows by %d for 997 more bytes of secret id", long.size()-plain.size())
	}
}

// TestBatchKey: a batch read with a failover region is kept apart from the
// same batch read without one, and each says what it is in a log line from
// its own fields.
func TestBatchKey(t *testing.T) {
	id := identity.Key{RoleARN: "arn:aws:iam::111122223333:role/r", Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "us-east-1"}
	a, b := backend.Ref{Name: "/app/a"}, backend.Ref{Name: "/app/b"}
	plain := Key{info: &parameterstore.Info, Identity: id, Region: "us-east-1", First: Item{Ref: a}, Rest: second([]Item{{Ref: a}, {Ref: b}})}
	withReplicas := plain
	withReplicas.FailoverRegion = "us-west-2"
	withReplicas.First, withReplicas.Rest = itemsKey([]Item{{Ref: a, Replica: a}, {Ref: b, Replica: b}})
	if plain == withReplicas {
		t.Error("a batch read with a failover region has the key of one read without")
	}
	idFields := []any{"role", "arn:aws:iam::111122223333:role/r", "namespace", "pmp", "serviceAccount", "pmp-sa"}
	if diff := cmp.Diff(append([]any{"parameters", "/app/a,/app/b", "region", "us-east-1"}, idFields...), plain.LogFields()); diff != "" {
		t.Errorf("LogFields() (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(append([]any{"parameters", "/app/a,/app/b", "region", "us-east-1", "failoverRegion", "us-west-2"}, idFields...), withReplicas.LogFields()); diff != "" {
		t.Errorf("LogFields() with a failover region (-want +got):\n%s", diff)
	}
}

// bigParameters answers GetParameters with every name asked for, each a
// 4,000-byte String parameter of version 1.
type bigParameters struct {
	mu    sync.Mutex
	calls int
}

func (b *bigParameters) GetParameters(_ context.Context, in *ssm.GetParametersInput, _ ...func(*ssm.Options)) (*ssm.GetParametersOutput, error) {
	b.mu.Lock()
	b.calls++
	b.mu.Unlock()
	out := &ssm.GetParametersOutput{}
	for _, n := range in.Names {
		out.Parameters = append(out.Parameters, ssmtypes.Parameter{Name: aws.String(n), Value: aws.String(strings.Repeat("v", 4000)), Version: 1, Type: ssmtypes.ParameterTypeString})
	}
	return out, nil
}

// TestCacheMaxBytesBoundsParameters: --cache-max-bytes bounds Parameter
// Store's cache as it does Secrets Manager's: with room for one batch of
// ten large parameters, a second identity's batch pushes the first out,
// however many entries --cache-size allows.
func TestCacheMaxBytesBoundsParameters(t *testing.T) {
	api := &bigParameters{}
	f := New(&parameterstore.Info, parameterstore.New(api), Config{Retry: fastRetry, Cache: true, SecretTTL: time.Hour, CacheSize: 1024, CacheMaxBytes: 60000})
	var items []Item
	for i := range 10 {
		items = append(items, Item{Ref: backend.Ref{Name: fmt.Sprintf("/pmp/p%d", i)}})
	}
	for _, sa := range []string{"a", "a", "b", "b", "a"} {
		if _, err := f.Fetch(context.Background(), identity.Key{Namespace: "pmp", ServiceAccount: sa}, Batch{Region: "eu-west-1", Items: items, Credentials: awsfake.CachedCreds()}); err != nil {
			t.Fatal(err)
		}
	}
	if api.calls != 3 {
		t.Errorf("GetParameters called %d times, want 3 (a, b, then a again: one batch fits)", api.calls)
	}
	if st := f.Stats(); st.Entries != 1 || st.Bytes > 60000 || st.Bytes < 40000 {
		t.Errorf("Stats() = %+v, want 1 entry of 40,000 to 60,000 bytes", st)
	}
}
