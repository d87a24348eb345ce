package secrets

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithy "github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsfake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/awsretry"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

var _ API = (*awsfake.SM)(nil)

var fastRetry = awsretry.Policy{Budget: 100 * time.Millisecond, AttemptTimeout: 50 * time.Millisecond, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}

// fakeCreds hands out credentials ASIATEST1, ASIATEST2, ... : Get the
// current ones (fresh the first time, cached after), Renew the next ones.
type fakeCreds struct {
	mu      sync.Mutex
	n       int
	gets    int
	renewed []string // the access keys Renew was told were rejected
}

var _ Credentials = (*fakeCreds)(nil)

func (f *fakeCreds) current() aws.Credentials {
	return aws.Credentials{AccessKeyID: fmt.Sprintf("ASIATEST%d", f.n), SecretAccessKey: "s", SessionToken: "t"}
}

func (f *fakeCreds) Get(context.Context) (aws.Credentials, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	fresh := f.n == 0
	if fresh {
		f.n = 1
	}
	return f.current(), fresh, nil
}

func (f *fakeCreds) Renew(_ context.Context, rejected aws.Credentials) (aws.Credentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.renewed = append(f.renewed, rejected.AccessKeyID)
	f.n++
	return f.current(), nil
}

// cachedCreds are credentials a previous Mount exchanged.
func cachedCreds() *fakeCreds { return &fakeCreds{n: 1} }

func apiError(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }

const policyHint = "the role's IAM policy must allow secretsmanager:GetSecretValue and secretsmanager:DescribeSecret on "

func TestGetErrors(t *testing.T) {
	pmp := Ref{ID: "PMP-Production-Credentials", Region: "eu-west-1"}
	arn := Ref{ID: "arn:aws:secretsmanager:us-east-1:123456789012:secret:PMP-Production-Credentials-AbCdEf", Region: "us-east-1"}
	version := Ref{ID: "PMP-Production-Credentials", VersionID: "v-1", Region: "eu-west-1"}
	stage := Ref{ID: "PMP-Production-Credentials", VersionStage: "AWSPREVIOUS", Region: "eu-west-1"}
	tests := []struct {
		name     string
		ref      Ref
		err      error
		wantKind mounterr.Kind
		wantMsg  string
	}{
		{name: "IAM policy refuses", ref: pmp, err: apiError("AccessDeniedException", "not authorized"), wantKind: mounterr.Denied,
			wantMsg: "access to secret PMP-Production-Credentials in eu-west-1 was denied (AccessDeniedException): " + policyHint + "arn:aws:secretsmanager:eu-west-1:ACCOUNT_ID:secret:PMP-Production-Credentials*"},
		{name: "IAM policy refuses an ARN", ref: arn, err: apiError("AccessDeniedException", "not authorized"), wantKind: mounterr.Denied,
			wantMsg: "access to secret " + arn.ID + " in us-east-1 was denied (AccessDeniedException): " + policyHint + "arn:aws:secretsmanager:us-east-1:ACCOUNT_ID:secret:PMP-Production-Credentials-AbCdEf*"},
		{name: "secret not found", ref: pmp, err: apiError("ResourceNotFoundException", "no such secret"), wantKind: mounterr.NotFound,
			wantMsg: "secret PMP-Production-Credentials was not found in region eu-west-1: check objectName (and objectVersion/objectVersionLabel) and the region (SecretProviderClass region, AWS_REGION or the node's topology.kubernetes.io/region label)"},
		{name: "version not found", ref: version, err: apiError("ResourceNotFoundException", "no such version"), wantKind: mounterr.NotFound,
			wantMsg: "secret version v-1 of PMP-Production-Credentials was not found in region eu-west-1: check objectName (and objectVersion/objectVersionLabel) and the region (SecretProviderClass region, AWS_REGION or the node's topology.kubernetes.io/region label)"},
		{name: "stage not found", ref: stage, err: apiError("ResourceNotFoundException", ""), wantKind: mounterr.NotFound,
			wantMsg: "secret version AWSPREVIOUS of PMP-Production-Credentials was not found in region eu-west-1: check objectName (and objectVersion/objectVersionLabel) and the region (SecretProviderClass region, AWS_REGION or the node's topology.kubernetes.io/region label)"},
		{name: "KMS refuses", ref: pmp, err: apiError("DecryptionFailure", "kms"), wantKind: mounterr.Denied,
			wantMsg: "secret PMP-Production-Credentials could not be decrypted (DecryptionFailure): the role needs kms:Decrypt on the secret's KMS key"},
		{name: "scheduled for deletion", ref: pmp, err: apiError("InvalidRequestException", "marked for deletion"), wantKind: mounterr.NotFound,
			wantMsg: "secret PMP-Production-Credentials cannot be read (InvalidRequestException: marked for deletion): it may be scheduled for deletion; restore it or point objectName at another secret"},
		{name: "bad parameter", ref: version, err: apiError("InvalidParameterException", "bad version id"), wantKind: mounterr.Invalid,
			wantMsg: "Secrets Manager rejected the request for PMP-Production-Credentials (InvalidParameterException: bad version id): check objectName, objectVersion and objectVersionLabel"},
		{name: "credentials refused", ref: pmp, err: apiError("UnrecognizedClientException", "bad token"), wantKind: mounterr.Unauthenticated,
			wantMsg: "Secrets Manager did not accept the role credentials for PMP-Production-Credentials (UnrecognizedClientException: bad token)"},
		{name: "bad signature", ref: pmp, err: apiError("InvalidSignatureException", "sig"), wantKind: mounterr.Unauthenticated,
			wantMsg: "Secrets Manager did not accept the role credentials for PMP-Production-Credentials (InvalidSignatureException: sig)"},
		{name: "expired credentials", ref: pmp, err: apiError("ExpiredTokenException", "expired"), wantKind: mounterr.Unauthenticated,
			wantMsg: "Secrets Manager did not accept the role credentials for PMP-Production-Credentials (ExpiredTokenException: expired)"},
		{name: "unknown code", ref: pmp, err: apiError("SomethingNew", "what is this"), wantKind: mounterr.Transient,
			wantMsg: "Secrets Manager GetSecretValue for PMP-Production-Credentials in eu-west-1 failed (SomethingNew: what is this)"},
		{name: "not an API error", ref: pmp, err: errors.New("proxy said no"), wantKind: mounterr.Transient,
			wantMsg: "Secrets Manager GetSecretValue for PMP-Production-Credentials in eu-west-1 failed (transient; the kubelet retries): proxy said no"},
		{name: "unavailable past the budget", ref: pmp, err: apiError("ServiceUnavailable", "try later"), wantKind: mounterr.Transient,
			wantMsg: "Secrets Manager GetSecretValue for PMP-Production-Credentials in eu-west-1 kept failing for 0s (ServiceUnavailable: try later); this is transient: the kubelet retries the mount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFetcher(&awsfake.SM{Err: tt.err}, Config{Retry: fastRetry, Cache: true, SecretTTL: time.Minute, CacheSize: 8})
			_, err := f.Get(context.Background(), testIdentity, tt.ref, &fakeCreds{})
			if err == nil {
				t.Fatal("Get succeeded")
			}
			if got := mounterr.KindOf(err); got != tt.wantKind {
				t.Errorf("kind = %s, want %s", got, tt.wantKind)
			}
			if diff := cmp.Diff(tt.wantMsg, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("error %v does not wrap the Secrets Manager error", err)
			}
		})
	}
}

func TestGetWithoutVersionID(t *testing.T) {
	f := NewFetcher(&awsfake.SM{Out: &secretsmanager.GetSecretValueOutput{Name: aws.String("pmp"), SecretString: aws.String("x")}}, Config{Retry: fastRetry})
	_, err := f.Get(context.Background(), testIdentity, Ref{ID: "pmp", Region: "eu-west-1"}, &fakeCreds{})
	if got := mounterr.KindOf(err); got != mounterr.Internal {
		t.Errorf("Get() error = %v (%s), want Internal", err, got)
	}
}

func TestGetAsksForTheVersion(t *testing.T) {
	out := &secretsmanager.GetSecretValueOutput{
		ARN: aws.String("arn:aws:secretsmanager:eu-west-1:123456789012:secret:pmp-AbCdEf"), Name: aws.String("pmp"),
		VersionId: aws.String("v-2"), SecretBinary: []byte("binary"),
	}
	tests := []struct {
		name string
		ref  Ref
		want *secretsmanager.GetSecretValueInput
	}{
		{name: "current", ref: Ref{ID: "pmp", Region: "eu-west-1"}, want: &secretsmanager.GetSecretValueInput{SecretId: aws.String("pmp")}},
		{name: "version id", ref: Ref{ID: "pmp", VersionID: "v-2", Region: "eu-west-1"}, want: &secretsmanager.GetSecretValueInput{SecretId: aws.String("pmp"), VersionId: aws.String("v-2")}},
		{name: "stage", ref: Ref{ID: "pmp", VersionStage: "AWSPREVIOUS", Region: "eu-west-1"}, want: &secretsmanager.GetSecretValueInput{SecretId: aws.String("pmp"), VersionStage: aws.String("AWSPREVIOUS")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &awsfake.SM{Out: out}
			s, err := NewFetcher(api, Config{Retry: fastRetry}).Get(context.Background(), testIdentity, tt.ref, cachedCreds())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, api.LastInput(), cmp.AllowUnexported(secretsmanager.GetSecretValueInput{})); diff != "" {
				t.Errorf("input (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"eu-west-1"}, api.Regions()); diff != "" {
				t.Errorf("regions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"ASIATEST1"}, api.AccessKeys()); diff != "" {
				t.Errorf("signed with (-want +got):\n%s", diff)
			}
			if s.Name != "pmp" || s.VersionID != "v-2" || string(s.Value) != "binary" || s.ARN != aws.ToString(out.ARN) {
				t.Errorf("secret = %+v", s)
			}
		})
	}
}

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
			creds := &fakeCreds{}
			for range 3 {
				_, _ = f.Get(context.Background(), testIdentity, Ref{ID: "pmp", Region: "eu-west-1"}, creds)
			}
			if api.CallCount() != tt.wantCalls || creds.gets != tt.wantCalls {
				t.Errorf("GetSecretValue calls = %d, credentials asked %d times; want %d of each", api.CallCount(), creds.gets, tt.wantCalls)
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
		creds  *fakeCreds
		errs   []error
		wantOK bool
		// wantKeys are the access keys GetSecretValue was signed with.
		wantKeys    []string
		wantRenewed []string
		wantKind    mounterr.Kind
	}{
		{name: "expired session", creds: cachedCreds(), errs: []error{apiError("ExpiredTokenException", "The security token included in the request is expired")},
			wantOK: true, wantKeys: []string{"ASIATEST1", "ASIATEST2"}, wantRenewed: []string{"ASIATEST1"}},
		{name: "unknown session (UnrecognizedClient)", creds: cachedCreds(), errs: []error{apiError("UnrecognizedClientException", "The security token included in the request is invalid")},
			wantOK: true, wantKeys: []string{"ASIATEST1", "ASIATEST2"}, wantRenewed: []string{"ASIATEST1"}},
		{name: "bad signature", creds: cachedCreds(), errs: []error{apiError("InvalidSignatureException", "x")},
			wantOK: true, wantKeys: []string{"ASIATEST1", "ASIATEST2"}, wantRenewed: []string{"ASIATEST1"}},
		{name: "sessions revoked", creds: cachedCreds(), errs: []error{apiError("AccessDeniedException", "explicit deny in an inline policy (AWSRevokeOlderSessions)")},
			wantOK: true, wantKeys: []string{"ASIATEST1", "ASIATEST2"}, wantRenewed: []string{"ASIATEST1"}},
		{name: "refused again after the exchange: fail, no third try", creds: cachedCreds(),
			errs:     []error{apiError("AccessDeniedException", "no"), apiError("AccessDeniedException", "no"), apiError("AccessDeniedException", "no")},
			wantKeys: []string{"ASIATEST1", "ASIATEST2"}, wantRenewed: []string{"ASIATEST1"}, wantKind: mounterr.Denied},
		{name: "fresh credentials refused: no second exchange", creds: &fakeCreds{}, errs: []error{apiError("ExpiredTokenException", "expired")},
			wantKeys: []string{"ASIATEST1"}, wantKind: mounterr.Unauthenticated},
		{name: "a refusal of the secret, not of the credentials", creds: cachedCreds(), errs: []error{apiError("ResourceNotFoundException", "")},
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
			if diff := cmp.Diff(tt.wantRenewed, tt.creds.renewed); diff != "" {
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
		_, got, err := f.fetch(context.Background(), Ref{ID: "pmp", Region: "eu-west-1", TTL: tc.ttl}, &fakeCreds{})
		if err != nil || got != tc.want {
			t.Errorf("TTL %s: kept for %s (%v), want %s", tc.ttl, got, err, tc.want)
		}
	}
	before := api.CallCount()
	creds := &fakeCreds{}
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
		s, err := f.Get(context.Background(), testIdentity, Ref{ID: "pmp", Region: "eu-west-1", TTL: ttl}, cachedCreds())
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
		if _, got, err := f.fetch(context.Background(), Ref{ID: "pmp", Region: "eu-west-1", TTL: f.cfg.Window(tc.ttl)}, cachedCreds()); err != nil || got != tc.want {
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
		s, err := f.Get(context.Background(), identity.Key{Namespace: "pmp", ServiceAccount: sa}, ref, cachedCreds())
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
	ref := Ref{ID: "PMP", Region: "us-east-1", VersionStage: "AWSCURRENT", TTL: time.Minute}
	plain := key{Identity: testIdentity, Ref: ref}
	withReplica := key{Identity: testIdentity, Ref: ref, Replica: Replica{Region: "us-west-2", ID: "PMP-Replica", VersionStage: "AWSCURRENT"}}
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
	long.Ref.ID = strings.Repeat("x", 1000)
	if long.size()-plain.size() != 997 {
		t.Errorf("size() grows by %d for 997 more bytes of secret id", long.size()-plain.size())
	}
}
