package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithy "github.com/aws/smithy-go"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

// chain assumes id.Target with the credentials of the pod's own identity
// (kept under their own key, so one exchange serves every target). Own
// credentials that STS refuses as expired or revoked, taken from the
// cache, are exchanged once more before the Mount fails.
func (c *Credentials) chain(ctx context.Context, id Identity, token string) (aws.Credentials, time.Duration, error) {
	own := id.Own()
	base, fresh, err := c.Get(ctx, own, token)
	if err != nil {
		return aws.Credentials{}, 0, err // remembered, if at all, under the own identity's key
	}
	creds, ttl, err := c.assumeRole(ctx, id, base)
	if err != nil && !fresh && slices.Contains(rejectedBySTS, apiCode(err)) {
		if base, err = c.Renew(ctx, own, token, base); err != nil {
			return aws.Credentials{}, 0, err
		}
		creds, ttl, err = c.assumeRole(ctx, id, base)
	}
	return creds, ttl, err
}

// rejectedBySTS are the codes with which STS refuses the caller's
// credentials themselves: expired, unknown, or their session revoked (an
// AccessDenied then, as a trust policy's refusal is: exchanging the own
// credentials once more tells the two apart).
var rejectedBySTS = []string{"ExpiredToken", "InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied"}

func apiCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// assumeRole calls sts:AssumeRole for id.Target as base, the pod's own
// credentials.
func (c *Credentials) assumeRole(ctx context.Context, id Identity, base aws.Credentials) (aws.Credentials, time.Duration, error) {
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(id.Target.RoleARN),
		RoleSessionName: aws.String(SessionName(id.Namespace, id.ServiceAccount)),
	}
	if id.Target.ExternalID != "" {
		in.ExternalId = aws.String(id.Target.ExternalID)
	}
	if id.Target.Duration > 0 {
		in.DurationSeconds = aws.Int32(int32(id.Target.Duration / time.Second))
	}
	var out *sts.AssumeRoleOutput
	err := retry.Do(ctx, c.retry, func(ctx context.Context) error {
		var err error
		out, err = c.api.AssumeRole(ctx, in, func(o *sts.Options) {
			o.Region = id.Region
			o.Credentials = credentials.StaticCredentialsProvider{Value: base}
		})
		return err
	})
	if err != nil {
		merr := assumeRoleErrors.Error(id, err)
		return aws.Credentials{}, merr.Kind.NegativeTTL(c.negativeTTL), merr
	}
	if out.Credentials == nil || out.Credentials.AccessKeyId == nil || out.Credentials.Expiration == nil {
		return aws.Credentials{}, 0, mounterr.New(mounterr.Internal, "STS answered AssumeRole for role %s without credentials", id.Target.RoleARN)
	}
	creds := credentialsOf(out.Credentials, "pmp-secrets-provider/AssumeRole")
	return creds, time.Until(creds.Expires) - c.refreshLead, nil
}

// assumeRoleErrors is how the cross-account AssumeRole's failures read in
// the pod's events: the target role's trust policy decides, so a refusal
// says what it must allow.
var assumeRoleErrors = mounterr.AWSTable[Identity]{
	Call: func(id Identity) string {
		return fmt.Sprintf("STS AssumeRole of role %s for %s/%s", id.Target.RoleARN, id.Namespace, id.ServiceAccount)
	},
	Rules: []mounterr.AWSRule[Identity]{
		{Codes: []string{"AccessDenied"}, Kind: mounterr.Denied, Msg: func(id Identity, reason string) string {
			return fmt.Sprintf("STS refused to let %s (the identity of %s/%s) assume role %s (%s): %s",
				id.Principal(), id.Namespace, id.ServiceAccount, id.Target.RoleARN, reason, chainHint(id))
		}},
		{Codes: []string{"InvalidParameterValue", "ValidationError", "MalformedPolicyDocument", "PackedPolicyTooLarge"}, Kind: mounterr.Invalid, Msg: func(id Identity, reason string) string {
			return fmt.Sprintf("STS rejected AssumeRole of role %s (%s): check assumeRoleArn, assumeRoleExternalId and assumeRoleDurationSeconds (at most the role's maximum session duration, and one hour for a role assumed with role credentials)",
				id.Target.RoleARN, reason)
		}},
		{Codes: []string{"RegionDisabledException"}, Kind: mounterr.Denied, Msg: func(id Identity, _ string) string {
			return fmt.Sprintf("STS is not activated in region %s for the account of role %s: activate it in IAM account settings or set the SecretProviderClass region", id.Region, id.Target.RoleARN)
		}},
	},
}

// chainHint says what the target role's trust policy, and the pod's own
// role's permission policy, must allow.
func chainHint(id Identity) string {
	principal := fmt.Sprintf("the principal {\"AWS\": %q}", id.RoleARN)
	if id.Source == PodIdentity {
		principal = "the ARN of the role of the service account's EKS Pod Identity association as the principal {\"AWS\": ROLE_ARN}"
	}
	cond := ""
	if id.Target.ExternalID != "" {
		cond = fmt.Sprintf(" with the condition {\"StringEquals\": {\"sts:ExternalId\": %q}}", id.Target.ExternalID)
	}
	return fmt.Sprintf("the trust policy of role %s must allow sts:AssumeRole for %s%s, and the permission policy of %s must allow sts:AssumeRole on %s",
		id.Target.RoleARN, principal, cond, id.Principal(), id.Target.RoleARN)
}
