package identity

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithy "github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsfake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

var _ STSAPI = (*awsfake.STS)(nil)

// fastRetry gives transient failures a budget short enough for unit tests.
var fastRetry = retry.Policy{Budget: 100 * time.Millisecond, AttemptTimeout: 50 * time.Millisecond, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}

var testIdentity = Identity{RoleARN: "arn:aws:iam::123456789012:role/pmp", Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "eu-west-1"}

const trust = "the role's trust policy must allow sts:AssumeRoleWithWebIdentity from the cluster's OIDC provider with conditions <issuer>:sub = system:serviceaccount:pmp:pmp-sa and <issuer>:aud = sts.amazonaws.com"

func apiError(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }

func TestCredentialsErrors(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		noCred   bool
		wantKind mounterr.Kind
		wantMsg  string
	}{
		{name: "trust policy refuses", err: apiError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"), wantKind: mounterr.Denied,
			wantMsg: "STS refused to let pmp/pmp-sa assume role arn:aws:iam::123456789012:role/pmp (AccessDenied): " + trust},
		{name: "token refused", err: apiError("InvalidIdentityToken", "No OpenIDConnect provider found in your account"), wantKind: mounterr.Unauthenticated,
			wantMsg: "STS refused the service account token of pmp/pmp-sa for role arn:aws:iam::123456789012:role/pmp (InvalidIdentityToken: No OpenIDConnect provider found in your account): register the cluster's OIDC issuer as an IAM identity provider with audience sts.amazonaws.com; " + trust},
		{name: "token expired", err: apiError("ExpiredTokenException", "Token expired"), wantKind: mounterr.Unauthenticated,
			wantMsg: "STS refused the service account token of pmp/pmp-sa for role arn:aws:iam::123456789012:role/pmp (ExpiredTokenException: Token expired): register the cluster's OIDC issuer as an IAM identity provider with audience sts.amazonaws.com; " + trust},
		{name: "claim rejected", err: apiError("IDPRejectedClaim", ""), wantKind: mounterr.Unauthenticated,
			wantMsg: "STS refused the service account token of pmp/pmp-sa for role arn:aws:iam::123456789012:role/pmp (IDPRejectedClaim): register the cluster's OIDC issuer as an IAM identity provider with audience sts.amazonaws.com; " + trust},
		{name: "bad parameter", err: apiError("InvalidParameterValue", "bad role"), wantKind: mounterr.Invalid,
			wantMsg: "STS rejected the request for role arn:aws:iam::123456789012:role/pmp (InvalidParameterValue: bad role): check the eks.amazonaws.com/role-arn annotation of service account pmp/pmp-sa"},
		{name: "validation error", err: apiError("ValidationError", "too long"), wantKind: mounterr.Invalid,
			wantMsg: "STS rejected the request for role arn:aws:iam::123456789012:role/pmp (ValidationError: too long): check the eks.amazonaws.com/role-arn annotation of service account pmp/pmp-sa"},
		{name: "malformed policy", err: apiError("MalformedPolicyDocument", "x"), wantKind: mounterr.Invalid,
			wantMsg: "STS rejected the request for role arn:aws:iam::123456789012:role/pmp (MalformedPolicyDocument: x): check the eks.amazonaws.com/role-arn annotation of service account pmp/pmp-sa"},
		{name: "region disabled", err: apiError("RegionDisabledException", "not active"), wantKind: mounterr.Denied,
			wantMsg: "STS is not activated in region eu-west-1 for this account: activate it in IAM account settings or set the SecretProviderClass region"},
		{name: "unknown code", err: apiError("SomethingNew", "what is this"), wantKind: mounterr.Transient,
			wantMsg: "STS AssumeRoleWithWebIdentity for role arn:aws:iam::123456789012:role/pmp failed (SomethingNew: what is this)"},
		{name: "not an API error", err: errors.New("proxy said no"), wantKind: mounterr.Transient,
			wantMsg: "STS AssumeRoleWithWebIdentity for role arn:aws:iam::123456789012:role/pmp failed (transient; the kubelet retries): proxy said no"},
		{name: "throttled past the budget", err: apiError("Throttling", "Rate exceeded"), wantKind: mounterr.Transient,
			wantMsg: "STS AssumeRoleWithWebIdentity for role arn:aws:iam::123456789012:role/pmp kept failing for 0s (Throttling: Rate exceeded); this is transient: the kubelet retries the mount"},
		{name: "no credentials in the answer", noCred: true, wantKind: mounterr.Internal,
			wantMsg: "STS answered AssumeRoleWithWebIdentity for role arn:aws:iam::123456789012:role/pmp without credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &awsfake.STS{Err: tt.err, NoCredentials: tt.noCred}
			c := NewCredentials(api, CredentialsConfig{Retry: fastRetry, Cache: true, CacheSize: 8})
			_, _, err := c.Get(context.Background(), testIdentity, "token")
			if err == nil {
				t.Fatal("Get succeeded")
			}
			if got := mounterr.KindOf(err); got != tt.wantKind {
				t.Errorf("kind = %s, want %s", got, tt.wantKind)
			}
			if diff := cmp.Diff(tt.wantMsg, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("error %v does not wrap the STS error", err)
			}
		})
	}
}

func TestCredentialsExchange(t *testing.T) {
	api := &awsfake.STS{}
	c := NewCredentials(api, CredentialsConfig{Retry: fastRetry, RefreshLead: 5 * time.Minute, Cache: true, CacheSize: 8})
	creds, _, err := c.Get(context.Background(), testIdentity, "the-pod-token")
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "ASIATEST1" || !creds.CanExpire {
		t.Errorf("credentials = %+v", creds)
	}
	want := &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(testIdentity.RoleARN), RoleSessionName: aws.String("pmp-pmp-pmp-sa"), WebIdentityToken: aws.String("the-pod-token"),
	}
	if diff := cmp.Diff(want, api.LastExchange(), cmp.AllowUnexported(sts.AssumeRoleWithWebIdentityInput{})); diff != "" {
		t.Errorf("STS input (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"eu-west-1"}, api.ExchangeRegions()); diff != "" {
		t.Errorf("STS regions (-want +got):\n%s", diff)
	}
}

func TestCredentialsCache(t *testing.T) {
	tests := []struct {
		name      string
		cache     bool
		err       error
		wantCalls int
	}{
		{name: "credentials are kept", cache: true, wantCalls: 1},
		{name: "cache off: every Get asks STS", cache: false, wantCalls: 3},
		{name: "a refusal is remembered", cache: true, err: apiError("AccessDenied", "no"), wantCalls: 1},
		{name: "a transient failure is not", cache: true, err: apiError("SomethingNew", "later"), wantCalls: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &awsfake.STS{Err: tt.err}
			c := NewCredentials(api, CredentialsConfig{Retry: fastRetry, RefreshLead: 5 * time.Minute, NegativeTTL: time.Minute, Cache: tt.cache, CacheSize: 8})
			for range 3 {
				_, _, _ = c.Get(context.Background(), testIdentity, "token")
			}
			if api.Exchanges() != tt.wantCalls {
				t.Errorf("STS calls = %d, want %d", api.Exchanges(), tt.wantCalls)
			}
		})
	}
}

func TestCredentialsRenew(t *testing.T) {
	api := &awsfake.STS{}
	c := NewCredentials(api, CredentialsConfig{Retry: fastRetry, RefreshLead: 5 * time.Minute, Cache: true, CacheSize: 8})
	ctx := context.Background()
	first, fresh, err := c.Get(ctx, testIdentity, "token")
	if err != nil || !fresh {
		t.Fatalf("first Get = %v, fresh %v", err, fresh)
	}
	if _, fresh, _ := c.Get(ctx, testIdentity, "token"); fresh {
		t.Error("second Get says fresh: want the cached credentials")
	}
	renewed, err := c.Renew(ctx, testIdentity, "token", first)
	if err != nil || renewed.AccessKeyID == first.AccessKeyID {
		t.Fatalf("Renew = %v, %v; want new credentials", renewed.AccessKeyID, err)
	}
	// Another Mount refused the same old credentials meanwhile: it gets the
	// new ones without a third exchange.
	again, err := c.Renew(ctx, testIdentity, "token", first)
	if err != nil || again.AccessKeyID != renewed.AccessKeyID {
		t.Errorf("second Renew of the old credentials = %v, %v; want %s", again.AccessKeyID, err, renewed.AccessKeyID)
	}
	if api.Exchanges() != 2 {
		t.Errorf("STS calls = %d, want 2", api.Exchanges())
	}
	if got, _, _ := c.Get(ctx, testIdentity, "token"); got.AccessKeyID != renewed.AccessKeyID {
		t.Errorf("Get after Renew = %s, want the renewed %s", got.AccessKeyID, renewed.AccessKeyID)
	}
}
