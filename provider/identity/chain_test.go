package identity

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsfake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

const crossAccount = "arn:aws:iam::444455556666:role/pmp-reader"

func chained(id Identity, role, externalID string, d time.Duration) Identity {
	id.Target = Target{RoleARN: role, ExternalID: externalID, Duration: d}
	return id
}

func TestChainAssumesTheTargetWithThePodsOwnCredentials(t *testing.T) {
	api := &awsfake.STS{}
	c := NewCredentials(api, CredentialsConfig{Retry: fastRetry, RefreshLead: 5 * time.Minute, Cache: true, CacheSize: 8})
	ctx := context.Background()
	id := chained(testIdentity, crossAccount, "pmp-prod", 15*time.Minute)
	creds, fresh, err := c.Get(ctx, id, "the-pod-token")
	if err != nil || !fresh {
		t.Fatalf("Get = %v, fresh %v", err, fresh)
	}
	if creds.AccessKeyID != "ASIACHAIN1-ASIATEST1" {
		t.Errorf("credentials = %s, want the target's, assumed as the pod's own ASIATEST1", creds.AccessKeyID)
	}
	want := []awsfake.Assumed{{In: &sts.AssumeRoleInput{
		RoleArn: aws.String(crossAccount), RoleSessionName: aws.String("pmp-pmp-pmp-sa"), ExternalId: aws.String("pmp-prod"), DurationSeconds: aws.Int32(900),
	}, Caller: "ASIATEST1", Region: "eu-west-1"}}
	if diff := cmp.Diff(want, api.Assumed(), cmp.AllowUnexported(sts.AssumeRoleInput{})); diff != "" {
		t.Errorf("AssumeRole calls (-want +got):\n%s", diff)
	}
	if _, fresh, _ := c.Get(ctx, id, "the-pod-token"); fresh {
		t.Error("second Get assumed the role again: want the cached credentials")
	}
	// Another target of the same pod: its own credentials are reused.
	if _, _, err := c.Get(ctx, chained(testIdentity, "arn:aws:iam::777788889999:role/other", "", 0), "the-pod-token"); err != nil {
		t.Fatal(err)
	}
	// The pod's own identity, without a target, is the cached own credentials.
	if own, fresh, _ := c.Get(ctx, testIdentity, "the-pod-token"); fresh || own.AccessKeyID != "ASIATEST1" {
		t.Errorf("own credentials = %s (fresh %v), want the cached ASIATEST1", own.AccessKeyID, fresh)
	}
	if api.Exchanges() != 1 || len(api.Assumed()) != 2 {
		t.Errorf("STS calls: %d AssumeRoleWithWebIdentity, %d AssumeRole; want 1 and 2", api.Exchanges(), len(api.Assumed()))
	}
	if in := api.Assumed()[1].In; in.ExternalId != nil || in.DurationSeconds != nil {
		t.Errorf("no external id or duration set, sent %v and %v", in.ExternalId, in.DurationSeconds)
	}
}

// TestChainIsKeptPerPodIdentityAndTarget: the target's credentials are
// never shared with another pod identity, even when both assume the same
// target role: each assumes it with its own credentials, which the
// target's trust policy judges.
func TestChainIsKeptPerPodIdentityAndTarget(t *testing.T) {
	api := &awsfake.STS{}
	c := NewCredentials(api, CredentialsConfig{Retry: fastRetry, RefreshLead: 5 * time.Minute, Cache: true, CacheSize: 8})
	ctx := context.Background()
	a := chained(testIdentity, crossAccount, "", 0)
	b := a
	b.Namespace, b.ServiceAccount = "other", "copycat"
	pi := a
	pi.Source, pi.RoleARN = PodIdentity, ""
	ca, _, _ := c.Get(ctx, a, "token-a")
	api.AssumeErr = apiError("AccessDenied", "not trusted")
	_, _, errB := c.Get(ctx, b, "token-b")
	if mounterr.KindOf(errB) != mounterr.Denied {
		t.Errorf("the other pod identity: %v, want the target's refusal", errB)
	}
	if got, fresh, _ := c.Get(ctx, a, "token-a"); got.AccessKeyID != ca.AccessKeyID || fresh {
		t.Errorf("the first pod after the refusal: %s (fresh %v), want its cached %s", got.AccessKeyID, fresh, ca.AccessKeyID)
	}
	api.AssumeErr = nil
	if _, _, err := c.Get(ctx, chained(testIdentity, crossAccount, "another-id", 0), "token-a"); err != nil {
		t.Fatal(err)
	}
	keys := map[Key]bool{}
	for _, id := range []Identity{a, b, pi, a.Own(), chained(testIdentity, crossAccount, "another-id", 0), chained(testIdentity, crossAccount, "", 20*time.Minute)} {
		keys[id.Key()] = true
	}
	if len(keys) != 6 {
		t.Errorf("%d distinct keys for 6 identities", len(keys))
	}
	callers := map[string]bool{}
	for _, a := range api.Assumed() {
		callers[a.Caller] = true
	}
	if len(callers) < 2 {
		t.Errorf("AssumeRole callers %v: want each pod identity's own credentials", callers)
	}
}

func TestChainErrors(t *testing.T) {
	irsaTrust := `the trust policy of role arn:aws:iam::444455556666:role/pmp-reader must allow sts:AssumeRole for the principal {"AWS": "arn:aws:iam::123456789012:role/pmp"}`
	tests := []struct {
		name       string
		id         Identity
		err        error
		wantKind   mounterr.Kind
		wantMsg    string
		notWantMsg string
	}{
		{name: "trust policy refuses (IRSA)", id: chained(testIdentity, crossAccount, "", 0), err: apiError("AccessDenied", "not authorized to perform sts:AssumeRole"), wantKind: mounterr.Denied,
			wantMsg: "STS refused to let arn:aws:iam::123456789012:role/pmp (the identity of pmp/pmp-sa) assume role arn:aws:iam::444455556666:role/pmp-reader (AccessDenied: not authorized to perform sts:AssumeRole): " +
				irsaTrust + ", and the permission policy of arn:aws:iam::123456789012:role/pmp must allow sts:AssumeRole on arn:aws:iam::444455556666:role/pmp-reader",
			notWantMsg: "ExternalId"},
		{name: "trust policy refuses, with an external id", id: chained(testIdentity, crossAccount, "pmp-prod", 0), err: apiError("AccessDenied", "x"), wantKind: mounterr.Denied,
			wantMsg: irsaTrust + ` with the condition {"StringEquals": {"sts:ExternalId": "pmp-prod"}}`},
		{name: "trust policy refuses (Pod Identity)", id: chained(podIdentity, crossAccount, "", 0), err: apiError("AccessDenied", "x"), wantKind: mounterr.Denied,
			wantMsg: "STS refused to let the IAM role of the EKS Pod Identity association of service account pmp/pmp-sa (the identity of pmp/pmp-sa) assume role arn:aws:iam::444455556666:role/pmp-reader (AccessDenied: x): the trust policy of role arn:aws:iam::444455556666:role/pmp-reader must allow sts:AssumeRole for the ARN of the role of the service account's EKS Pod Identity association as the principal {\"AWS\": ROLE_ARN}"},
		{name: "duration over the role's maximum", id: chained(testIdentity, crossAccount, "", time.Hour), err: apiError("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."), wantKind: mounterr.Invalid,
			wantMsg: "STS rejected AssumeRole of role arn:aws:iam::444455556666:role/pmp-reader (ValidationError: The requested DurationSeconds exceeds the MaxSessionDuration set for this role.): check assumeRoleArn, assumeRoleExternalId and assumeRoleDurationSeconds"},
		{name: "unknown code", id: chained(testIdentity, crossAccount, "", 0), err: apiError("SomethingNew", "?"), wantKind: mounterr.Transient,
			wantMsg: "STS AssumeRole of role arn:aws:iam::444455556666:role/pmp-reader for pmp/pmp-sa failed (SomethingNew: ?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &awsfake.STS{AssumeErr: tt.err}
			c := NewCredentials(api, CredentialsConfig{Retry: fastRetry, Cache: true, CacheSize: 8, Agent: NewAgent(newAgent(t).url(), "")})
			_, _, err := c.Get(context.Background(), tt.id, "token")
			if err == nil {
				t.Fatal("Get succeeded")
			}
			if got := mounterr.KindOf(err); got != tt.wantKind {
				t.Errorf("kind = %s, want %s", got, tt.wantKind)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error = %s\nwant it to contain %s", err, tt.wantMsg)
			}
			if tt.notWantMsg != "" && strings.Contains(err.Error(), tt.notWantMsg) {
				t.Errorf("error = %s\nwant no %s", err, tt.notWantMsg)
			}
			if !errors.Is(err, tt.err) {
				t.Error("the error does not wrap STS's")
			}
		})
	}
}

// TestChainRenewsRevokedOwnCredentials: cached own credentials that STS
// refuses (expired, or their session revoked) are exchanged once more and
// the target assumed with the new ones; fresh ones are not.
func TestChainRenewsRevokedOwnCredentials(t *testing.T) {
	api := &awsfake.STS{}
	c := NewCredentials(api, CredentialsConfig{Retry: fastRetry, RefreshLead: 5 * time.Minute, Cache: true, CacheSize: 8})
	ctx := context.Background()
	if _, _, err := c.Get(ctx, testIdentity, "token"); err != nil { // own credentials cached
		t.Fatal(err)
	}
	api.AssumeErrs = []error{apiError("ExpiredToken", "The security token included in the request is expired"), nil}
	creds, _, err := c.Get(ctx, chained(testIdentity, crossAccount, "", 0), "token")
	if err != nil {
		t.Fatal(err)
	}
	if api.Exchanges() != 2 || creds.AccessKeyID != "ASIACHAIN2-ASIATEST2" {
		t.Errorf("%d exchanges, credentials %s; want the own credentials exchanged again and the target assumed with them", api.Exchanges(), creds.AccessKeyID)
	}
	// A refusal with fresh own credentials is the target's answer.
	api2 := &awsfake.STS{AssumeErr: apiError("AccessDenied", "no")}
	c2 := NewCredentials(api2, CredentialsConfig{Retry: fastRetry, Cache: true, CacheSize: 8})
	if _, _, err := c2.Get(ctx, chained(testIdentity, crossAccount, "", 0), "token"); mounterr.KindOf(err) != mounterr.Denied {
		t.Errorf("Get = %v, want Denied", err)
	}
	if api2.Exchanges() != 1 || len(api2.Assumed()) != 1 {
		t.Errorf("%d exchanges and %d AssumeRole, want one each", api2.Exchanges(), len(api2.Assumed()))
	}
}
