package provider

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/awsretry"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/secrets"
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
	// CacheMaxBytes bounds the secrets cache's estimated bytes as well
	// (secrets.Secret.Size); zero: entries only. Credentials and roles are
	// small and of fixed size: CacheSize bounds them.
	CacheMaxBytes int64
	// RetryBudget bounds a whole Mount, retries of transient AWS failures
	// included; zero: awsretry.DefaultPolicy's.
	RetryBudget time.Duration
}

// credentialRefreshLead renews cached STS credentials this long before they
// expire (they last an hour), so no Mount signs with expiring ones.
const credentialRefreshLead = 5 * time.Minute

// LoadAWSConfig loads the SDK configuration the way every AWS tool does
// (AWS_REGION, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_STS,
// AWS_ENDPOINT_URL_SECRETS_MANAGER, ...) with three changes: one shared
// HTTP client and connection pool for every pod's calls; anonymous base
// credentials, so nothing can ever fall back to the node's or the
// provider's own AWS identity; and no SDK retries (awsretry does them
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
	return cfg, nil
}

// KubeAPI is what the provider reads from the Kubernetes API: service
// accounts and nodes, and the service-account issuer's discovery that pod
// tokens are verified with. kubeapi.Client implements it in the provider,
// internal/kubefake over a (fake) clientset and internal/issuer in tests.
type KubeAPI interface {
	identity.KubeAPI
	tokens.DiscoveryAPI
}

// New builds the Mount pipeline over the SDK's STS and Secrets Manager
// clients of awsCfg (see LoadAWSConfig), whose region is the default one,
// and kube.
func New(awsCfg aws.Config, kube KubeAPI, o Options) *Provider {
	return NewFromAPIs(APIs{
		STS: sts.NewFromConfig(awsCfg), SecretsManager: secretsmanager.NewFromConfig(awsCfg),
		Kube: kube, Region: awsCfg.Region,
	}, o)
}

// APIs are the provider's edges: the AWS calls and Kubernetes reads a
// Mount makes. New fills them from the SDK; tests give small fakes.
type APIs struct {
	STS            identity.STSAPI
	SecretsManager secrets.API
	Kube           KubeAPI
	// Region is the region of objects whose SecretProviderClass and ARN
	// name none (the SDK's AWS_REGION); empty: the node's region label.
	Region string
}

// NewFromAPIs builds the Mount pipeline over apis.
func NewFromAPIs(apis APIs, o Options) *Provider {
	policy := awsretry.DefaultPolicy
	if o.RetryBudget > 0 {
		policy.Budget = o.RetryBudget
	}
	return &Provider{
		retryBudget:   policy.Budget,
		tokenAudience: o.TokenAudience,
		tokens:        tokens.New(apis.Kube, tokens.DefaultConfig(o.TokenAudience)),
		defaultRegion: apis.Region,
		kube: identity.NewKube(apis.Kube, identity.KubeConfig{
			NodeName: o.NodeName, Cache: o.Cache, SecretTTL: o.SecretTTL, CacheSize: o.CacheSize,
			Retry: awsretry.Policy{Budget: policy.Budget, AttemptTimeout: min(identity.DefaultKubeRetry.AttemptTimeout, policy.AttemptTimeout),
				BaseDelay: identity.DefaultKubeRetry.BaseDelay, MaxDelay: identity.DefaultKubeRetry.MaxDelay},
		}),
		credentials: identity.NewCredentials(apis.STS, identity.CredentialsConfig{
			Retry: policy, RefreshLead: credentialRefreshLead, NegativeTTL: o.NegativeTTL,
			Cache: o.Cache, CacheSize: o.CacheSize,
		}),
		fetcher: secrets.NewFetcher(apis.SecretsManager, secrets.Config{
			Retry: policy, Cache: o.Cache, SecretTTL: o.SecretTTL, NegativeTTL: o.NegativeTTL, CacheSize: o.CacheSize, CacheMaxBytes: o.CacheMaxBytes,
		}),
	}
}
