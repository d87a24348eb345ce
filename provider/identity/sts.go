package identity

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/cache"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

// STSAPI is the STS calls the provider makes: the IRSA exchange, and the
// cross-account AssumeRole with the pod's own credentials.
type STSAPI interface {
	AssumeRoleWithWebIdentity(ctx context.Context, in *sts.AssumeRoleWithWebIdentityInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleWithWebIdentityOutput, error)
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

var _ STSAPI = (*sts.Client)(nil)

// Credentials exchanges pod tokens for role credentials (with STS, or the
// EKS Pod Identity Agent), assumes cross-account roles with them, and keeps
// them per identity until shortly before they expire.
type Credentials struct {
	api         STSAPI
	agent       *Agent
	retry       retry.Policy
	refreshLead time.Duration
	negativeTTL time.Duration
	// cache, its negative entries and coalesced exchanges: keyed by
	// identity (Key: source, role, namespace, service account, region,
	// target and pod).
	cache *cache.Cache[Key, aws.Credentials]
}

// CredentialsConfig tunes Credentials.
type CredentialsConfig struct {
	Retry retry.Policy
	// RefreshLead is how long before expiry cached credentials are renewed.
	RefreshLead time.Duration
	// NegativeTTL is how long a refusal (4xx) is remembered, so a
	// crash-looping misconfigured pod does not hammer STS. Zero: not at all.
	NegativeTTL time.Duration
	// Cache off means every Mount goes to STS.
	Cache     bool
	CacheSize int
	// Agent is the EKS Pod Identity Agent; nil: Pod Identity Mounts fail
	// saying the provider has no agent address.
	Agent *Agent
}

// NewCredentials returns a credential source over api.
func NewCredentials(api STSAPI, cfg CredentialsConfig) *Credentials {
	c := &Credentials{api: api, agent: cfg.Agent, retry: cfg.Retry, refreshLead: cfg.RefreshLead, negativeTTL: cfg.NegativeTTL}
	if cfg.Cache {
		c.cache = cache.New[Key, aws.Credentials](cfg.CacheSize)
	}
	return c
}

// Stats returns the cache counters (zero when caching is off).
func (c *Credentials) Stats() cache.Stats {
	if c.cache == nil {
		return cache.Stats{}
	}
	return c.cache.Stats()
}

// Get returns credentials for id, exchanging token with STS when none are
// cached; fresh says this call exchanged them. The token is used for the
// call only: never stored, logged or put in a key.
func (c *Credentials) Get(ctx context.Context, id Identity, token string) (creds aws.Credentials, fresh bool, err error) {
	if c.cache == nil {
		creds, _, err := c.load(ctx, id, token)
		return creds, true, err
	}
	var loaded atomic.Bool
	creds, err = c.cache.Get(ctx, id.Key(), func(ctx context.Context) (aws.Credentials, time.Duration, error) {
		loaded.Store(true)
		return c.load(ctx, id, token)
	})
	return creds, loaded.Load(), err
}

// load gets id's credentials from where they come from.
func (c *Credentials) load(ctx context.Context, id Identity, token string) (aws.Credentials, time.Duration, error) {
	switch {
	case id.Target.RoleARN != "":
		return c.chain(ctx, id, token)
	case id.Source == PodIdentity:
		return c.fromAgent(ctx, id, token)
	}
	return c.assume(ctx, id, token)
}

// Renew drops rejected, credentials of id that AWS refused (expired, or
// their session revoked), and exchanges token again. Concurrent Mounts
// refused the same credentials share one exchange: only the first drops
// them, the others get what it exchanged.
func (c *Credentials) Renew(ctx context.Context, id Identity, token string, rejected aws.Credentials) (aws.Credentials, error) {
	if c.cache != nil {
		c.cache.ForgetIf(id.Key(), func(cached aws.Credentials) bool {
			return cached.AccessKeyID == rejected.AccessKeyID && cached.SessionToken == rejected.SessionToken
		})
	}
	creds, _, err := c.Get(ctx, id, token)
	return creds, err
}

func (c *Credentials) assume(ctx context.Context, id Identity, token string) (aws.Credentials, time.Duration, error) {
	var out *sts.AssumeRoleWithWebIdentityOutput
	err := retry.Do(ctx, c.retry, func(ctx context.Context) error {
		var err error
		out, err = c.api.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
			RoleArn:          aws.String(id.RoleARN),
			RoleSessionName:  aws.String(SessionName(id.Namespace, id.ServiceAccount)),
			WebIdentityToken: aws.String(token),
		}, func(o *sts.Options) { o.Region = id.Region })
		return err
	})
	if err != nil {
		merr := stsErrors.Error(id, err)
		return aws.Credentials{}, merr.Kind.NegativeTTL(c.negativeTTL), merr
	}
	if out.Credentials == nil || out.Credentials.AccessKeyId == nil || out.Credentials.Expiration == nil {
		return aws.Credentials{}, 0, mounterr.New(mounterr.Internal, "STS answered AssumeRoleWithWebIdentity for role %s without credentials", id.RoleARN)
	}
	creds := credentialsOf(out.Credentials, "pmp-secrets-provider/AssumeRoleWithWebIdentity")
	return creds, time.Until(creds.Expires) - c.refreshLead, nil
}

// credentialsOf are the SDK's credentials of an STS answer; source names
// the call.
func credentialsOf(c *types.Credentials, source string) aws.Credentials {
	return aws.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Source:          source,
		CanExpire:       true,
		Expires:         *c.Expiration,
	}
}

// stsErrors is how STS failures read in the pod's events: what was
// refused, and what the role's trust policy must say.
var stsErrors = mounterr.AWSTable[Identity]{
	Call: func(id Identity) string { return "STS AssumeRoleWithWebIdentity for role " + id.RoleARN },
	Rules: []mounterr.AWSRule[Identity]{
		{Codes: []string{"AccessDenied"}, Kind: mounterr.Denied, Msg: func(id Identity, _ string) string {
			return fmt.Sprintf("STS refused to let %s/%s assume role %s (AccessDenied): %s", id.Namespace, id.ServiceAccount, id.RoleARN, trustHint(id))
		}},
		{Codes: []string{"InvalidIdentityToken", "ExpiredTokenException", "IDPRejectedClaim"}, Kind: mounterr.Unauthenticated, Msg: func(id Identity, reason string) string {
			return fmt.Sprintf("STS refused the service account token of %s/%s for role %s (%s): register the cluster's OIDC issuer as an IAM identity provider with audience sts.amazonaws.com; %s",
				id.Namespace, id.ServiceAccount, id.RoleARN, reason, trustHint(id))
		}},
		{Codes: []string{"InvalidParameterValue", "ValidationError", "MalformedPolicyDocument"}, Kind: mounterr.Invalid, Msg: func(id Identity, reason string) string {
			return fmt.Sprintf("STS rejected the request for role %s (%s): check the %s annotation of service account %s/%s",
				id.RoleARN, reason, RoleAnnotation, id.Namespace, id.ServiceAccount)
		}},
		{Codes: []string{"RegionDisabledException"}, Kind: mounterr.Denied, Msg: func(id Identity, _ string) string {
			return fmt.Sprintf("STS is not activated in region %s for this account: activate it in IAM account settings or set the SecretProviderClass region", id.Region)
		}},
	},
}

func trustHint(id Identity) string {
	return "the role's trust policy must allow sts:AssumeRoleWithWebIdentity from the cluster's OIDC provider with conditions <issuer>:sub = " +
		id.Subject() + " and <issuer>:aud = sts.amazonaws.com"
}
