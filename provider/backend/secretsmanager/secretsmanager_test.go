package secretsmanager

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithy "github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsfake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/fetch"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

var _ API = (*awsfake.SM)(nil)

// Ref is a secret read as these tests name it; get reads it as the
// provider does, through fetch.
type Ref struct {
	ID, VersionID, VersionStage, Region string
	TTL                                 time.Duration
}

type fetcher struct{ *fetch.Fetcher }

func NewFetcher(api API, cfg fetch.Config) fetcher { return fetcher{fetch.New(&Info, New(api), cfg)} }

func (f fetcher) Get(ctx context.Context, id identity.Key, ref Ref, creds identity.PodCredentials) (*object.Version, error) {
	got, err := f.Fetch(ctx, id, fetch.Batch{Region: ref.Region, TTL: ref.TTL, Credentials: creds,
		Items: []fetch.Item{{Ref: backend.Ref{Name: ref.ID, Version: ref.VersionID, Label: ref.VersionStage}}}})
	if err != nil {
		return nil, err
	}
	return got[0], nil
}

type Config = fetch.Config

var fastRetry = retry.Policy{Budget: 100 * time.Millisecond, AttemptTimeout: 50 * time.Millisecond, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}

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
			_, err := f.Get(context.Background(), testIdentity, tt.ref, &awsfake.Creds{})
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
			// Only ResourceNotFoundException says the secret (or version)
			// does not exist: what an optional object may be left out for.
			var missing *backend.MissingError
			absent := errors.As(err, &missing)
			if want := isAPI(tt.err, "ResourceNotFoundException"); absent != want {
				t.Errorf("error names a missing secret: %v, want %v", absent, want)
			}
			if absent {
				want := &backend.MissingError{Region: tt.ref.Region, Refs: []backend.Ref{{Name: tt.ref.ID, Version: tt.ref.VersionID, Label: tt.ref.VersionStage}}}
				if diff := cmp.Diff(want, missing, cmpopts.IgnoreFields(backend.MissingError{}, "Err")); diff != "" {
					t.Errorf("missing (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func isAPI(err error, code string) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == code
}

func TestGetWithoutVersionID(t *testing.T) {
	f := NewFetcher(&awsfake.SM{Out: &secretsmanager.GetSecretValueOutput{Name: aws.String("pmp"), SecretString: aws.String("x")}}, Config{Retry: fastRetry})
	_, err := f.Get(context.Background(), testIdentity, Ref{ID: "pmp", Region: "eu-west-1"}, &awsfake.Creds{})
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
			s, err := NewFetcher(api, Config{Retry: fastRetry}).Get(context.Background(), testIdentity, tt.ref, awsfake.CachedCreds())
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

// testIdentity is the reader of the tests' secrets.
var testIdentity = identity.Key{RoleARN: "arn:aws:iam::111122223333:role/r", Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "eu-west-1"}
