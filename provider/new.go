package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awssm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend/parameterstore"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend/secretsmanager"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/cache"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/fetch"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/tokens"
)

// Options are the provider's settings. Each is the command's flag of the
// same name (TokenAudience is --token-audience), and keeps that name in
// every part of the pipeline that reads it.
type Options struct {
	// TokenAudience is the audience of the pod token exchanged with STS.
	TokenAudience string
	// NodeName is the node whose region label is read when no region is set.
	NodeName string
	// Cache is the one switch of the caches of roles, credentials and
	// secrets: off, every Mount calls STS and Secrets Manager.
	Cache bool
	// SecretTTL is the freshness window of secrets and role annotations.
	SecretTTL time.Duration
	// NegativeTTL is how long an AWS refusal is remembered.
	NegativeTTL time.Duration
	// CacheSize bounds each cache's entries.
	CacheSize int
	// CacheMaxBytes bounds the estimated bytes (object.Version.Size) of
	// the cached secrets and parameters together as well (cache.Budget);
	// zero: entries only. Credentials and roles are small and
	// of fixed size: CacheSize bounds them.
	CacheMaxBytes int64
	// RetryBudget bounds a whole Mount, retries of transient AWS failures
	// included; zero: retry.DefaultPolicy's.
	RetryBudget time.Duration
	// PodIdentityAgentURL and PodIdentityAgentURLIPv6 are the EKS Pod
	// Identity Agent's credentials URLs (identity.DefaultAgentIPv4URL,
	// DefaultAgentIPv6URL); empty: not asked, and a usePodIdentity Mount
	// that needs one fails saying so. No default here: only the flags
	// name the link-local addresses.
	PodIdentityAgentURL     string
	PodIdentityAgentURLIPv6 string
	// AWSCallTimeout bounds each attempt of an AWS call, so a hung
	// connection costs one attempt, not the Mount's whole budget; zero:
	// retry.DefaultPolicy's.
	AWSCallTimeout time.Duration
	// StaleIfError is how long past its freshness window a secret (and a
	// service account's role) is still served, to the same identity, when
	// refreshing it fails transiently (AWS or the API server down,
	// throttling past the budget, no answer); never for a refusal. Zero:
	// strict.
	StaleIfError time.Duration
	// MaxSecretTTL caps every object's secretTTL, the window a tenant
	// sets in a SecretProviderClass: the longest a deleted secret or a
	// permission revoked in IAM keeps being served from the cache. Zero:
	// no cap (the 24h params allows).
	MaxSecretTTL time.Duration
	// PodIdentityShareByServiceAccount keeps EKS Pod Identity credentials,
	// and what is read with them, per service account instead of per pod.
	// The agent tags each session with the pod's name and UID; shared, a
	// pod is served what another pod of its service account read, so a
	// policy that matches ${aws:PrincipalTag/kubernetes-pod-name} or
	// kubernetes-pod-uid no longer holds. For clusters where none does.
	PodIdentityShareByServiceAccount bool
}

// refreshJitter spreads the freshness window of secrets and roles: each is
// served up to 10% shorter, at random, so the copies of one secret that
// many nodes fetched together are not refreshed in the same second.
const refreshJitter = 0.1

// credentialRefreshLead renews cached STS credentials this long before they
// expire (they last an hour), so no Mount signs with expiring ones.
const credentialRefreshLead = 5 * time.Minute

// LoadAWSConfig loads the SDK configuration the way every AWS tool does
// (AWS_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_STS,
// AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_SSM, ...) with three changes: one shared
// HTTP client and connection pool for every pod's calls; anonymous base
// credentials, so nothing can ever fall back to the node's or the
// provider's own AWS identity; and no SDK retries (provider/retry does them
// within the Mount's budget).
func LoadAWSConfig(ctx context.Context) (aws.Config, error) {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = 256
		t.MaxIdleConnsPerHost = 64
	})
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithCredentialsProvider(aws.AnonymousCredentials{}),
		awsconfig.WithHTTPClient(httpClient),
		awsconfig.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	// An endpoint the SDK cannot resolve fails here, at start-up, not in
	// every pod's Mount.
	if _, err := Endpoints(ctx, cfg); err != nil {
		return aws.Config{}, err
	}
	return cfg, nil
}

// errResolved ends a call once its endpoint is resolved: nothing is sent.
var errResolved = errors.New("endpoint resolved")

// resolvedURL is an SDK option that records the URL a call would be sent
// to, after every step that resolves and signs it, and ends the call there.
func resolvedURL(got *string) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		return s.Finalize.Add(middleware.FinalizeMiddlewareFunc("pmpResolvedURL",
			func(_ context.Context, in middleware.FinalizeInput, _ middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				if req, ok := in.Request.(*smithyhttp.Request); ok {
					*got = req.URL.Scheme + "://" + req.URL.Host
				}
				return middleware.FinalizeOutput{}, middleware.Metadata{}, errResolved
			}), middleware.After)
	}
}

// Endpoints returns the endpoint each of the provider's AWS services
// resolves to under awsCfg (AWS_USE_FIPS_ENDPOINT, AWS_ENDPOINT_URL,
// AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL_SECRETS_MANAGER, ...), by name
// ("sts", "secretsmanager"), exactly as the SDK's clients resolve them: a
// call of each runs up to the point it would be sent. With no region
// configured (the node's label decides per Mount), us-east-1 stands in.
func Endpoints(ctx context.Context, awsCfg aws.Config) (map[string]string, error) {
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	c := newClients(awsCfg)
	var stsURL, smURL, ssmURL string
	_, stsErr := c.sts.AssumeRoleWithWebIdentity(ctx, &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String("arn:aws:iam::000000000000:role/endpoint-check"), RoleSessionName: aws.String("endpoint-check"), WebIdentityToken: aws.String("none"),
	}, func(o *sts.Options) { o.APIOptions = append(o.APIOptions, resolvedURL(&stsURL)) })
	_, smErr := c.secretsManager.GetSecretValue(ctx, &awssm.GetSecretValueInput{SecretId: aws.String("endpoint-check")},
		func(o *awssm.Options) { o.APIOptions = append(o.APIOptions, resolvedURL(&smURL)) })
	_, ssmErr := c.ssm.GetParameters(ctx, &awsssm.GetParametersInput{Names: []string{"endpoint-check"}},
		func(o *awsssm.Options) { o.APIOptions = append(o.APIOptions, resolvedURL(&ssmURL)) })
	for _, err := range []error{stsErr, smErr, ssmErr} {
		if !errors.Is(err, errResolved) {
			return nil, fmt.Errorf("AWS endpoint configuration: %w (AWS_USE_FIPS_ENDPOINT=true applies to the endpoints the SDK derives from the region; with AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_<SERVICE>, the endpoint you set is used as it is: unset AWS_USE_FIPS_ENDPOINT and point the variable at the FIPS endpoint)", err)
		}
	}
	return map[string]string{"sts": stsURL, "secretsmanager": smURL, "ssm": ssmURL}, nil
}

// KubeAPI is what the provider reads from the Kubernetes API: service
// accounts and nodes, and the service-account issuer's discovery that pod
// tokens are verified with. kubeapi.Client implements it, in the provider
// and in tests (over internal/apifake's server).
type KubeAPI interface {
	identity.KubeAPI
	tokens.DiscoveryAPI
}

// New builds the Mount pipeline over the SDK's STS and Secrets Manager
// clients of awsCfg (see LoadAWSConfig), whose region is the default one,
// and kube.
func New(awsCfg aws.Config, kube KubeAPI, o Options) *Provider {
	c := newClients(awsCfg)
	return NewFromAPIs(APIs{STS: c.sts, SecretsManager: c.secretsManager, SSM: c.ssm, Kube: kube, Region: awsCfg.Region}, o)
}

// clients are the SDK clients of the provider's AWS calls.
type clients struct {
	sts            *sts.Client
	secretsManager *awssm.Client
	ssm            *awsssm.Client
}

// newClients builds them from awsCfg, whose endpoint settings
// (AWS_USE_FIPS_ENDPOINT, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>)
// each client's endpoint resolver applies as the SDK documents.
func newClients(awsCfg aws.Config) clients {
	return clients{sts: sts.NewFromConfig(awsCfg), secretsManager: awssm.NewFromConfig(awsCfg), ssm: awsssm.NewFromConfig(awsCfg)}
}

// APIs are the provider's edges: the AWS calls and Kubernetes reads a
// Mount makes. New fills them from the SDK; tests give small fakes.
type APIs struct {
	STS            identity.STSAPI
	SecretsManager secretsmanager.API
	// SSM is Parameter Store, for objects of objectType ssmparameter.
	SSM  parameterstore.API
	Kube KubeAPI
	// Region is the region of objects whose SecretProviderClass and ARN
	// name none (the SDK's AWS_REGION); empty: the node's region label.
	Region string
}

// NewFromAPIs builds the Mount pipeline over apis.
func NewFromAPIs(apis APIs, o Options) *Provider {
	policy := retry.DefaultPolicy
	if o.RetryBudget > 0 {
		policy.Budget = o.RetryBudget
	}
	if o.AWSCallTimeout > 0 {
		policy.AttemptTimeout = o.AWSCallTimeout
	}
	var agent *identity.Agent
	if o.PodIdentityAgentURL != "" || o.PodIdentityAgentURLIPv6 != "" {
		agent = identity.NewAgent(o.PodIdentityAgentURL, o.PodIdentityAgentURLIPv6)
	}
	fetchConfig := fetch.Config{
		Retry: policy, Cache: o.Cache, SecretTTL: o.SecretTTL, NegativeTTL: o.NegativeTTL, CacheSize: o.CacheSize,
		StaleIfError: o.StaleIfError, Jitter: refreshJitter, CacheMaxBytes: o.CacheMaxBytes, MaxTTL: o.MaxSecretTTL,
	}
	return &Provider{
		retryBudget:   policy.Budget,
		tokenAudience: o.TokenAudience,
		tokens:        tokens.New(apis.Kube, tokens.DefaultConfig(o.TokenAudience)),
		defaultRegion: apis.Region,
		kube: identity.NewKube(apis.Kube, identity.KubeConfig{
			NodeName: o.NodeName, Cache: o.Cache, SecretTTL: o.SecretTTL, CacheSize: o.CacheSize,
			StaleIfError: o.StaleIfError, Jitter: refreshJitter,
			Retry: retry.Policy{Budget: policy.Budget, AttemptTimeout: min(identity.DefaultKubeRetry.AttemptTimeout, policy.AttemptTimeout),
				BaseDelay: identity.DefaultKubeRetry.BaseDelay, MaxDelay: identity.DefaultKubeRetry.MaxDelay},
		}),
		credentials: identity.NewCredentials(apis.STS, identity.CredentialsConfig{
			Retry: policy, RefreshLead: credentialRefreshLead, NegativeTTL: o.NegativeTTL,
			Cache: o.Cache, CacheSize: o.CacheSize, Agent: agent,
		}),
		fetchers: fetchers(apis, fetchConfig),

		podIdentityShared: o.PodIdentityShareByServiceAccount,
	}
}

// fetchers are every registered backend's, over apis, tuned by cfg.
func fetchers(apis APIs, cfg fetch.Config) map[params.ObjectType]*fetch.Fetcher {
	out := make(map[params.ObjectType]*fetch.Fetcher, len(backends))
	// One --cache-max-bytes for every backend's values: the caches share
	// it, so what they hold together stays within it.
	if cfg.CacheMaxBytes > 0 {
		cfg.Budget = cache.NewBudget(cfg.CacheMaxBytes)
	}
	for t, b := range backends {
		out[t] = fetch.New(b.info, b.new(apis), cfg)
	}
	return out
}
