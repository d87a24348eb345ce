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
)

// Options are the provider's tunables (the command's flags).
type Options struct {
	Audience string
	NodeName string
	// Cache off makes every Mount call STS and Secrets Manager.
	Cache       bool
	SecretTTL   time.Duration
	NegativeTTL time.Duration
	CacheSize   int
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

// New builds the Mount pipeline over the SDK's STS and Secrets Manager
// clients of awsCfg (see LoadAWSConfig), whose region is the default one.
// kube reads the Kubernetes API: kubeapi.New in the provider,
// internal/kubefake over a (fake) clientset in tests.
func New(awsCfg aws.Config, kube identity.KubeAPI, o Options) *Provider {
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
	Kube           identity.KubeAPI
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
	ttl := o.SecretTTL
	if !o.Cache {
		ttl = 0
	}
	return &Provider{
		budget:        policy.Budget,
		audience:      o.Audience,
		defaultRegion: apis.Region,
		kube:          identity.NewKube(apis.Kube, o.NodeName, ttl, o.CacheSize),
		credentials: identity.NewCredentials(apis.STS, identity.CredentialsConfig{
			Retry: policy, RefreshLead: credentialRefreshLead, NegativeTTL: o.NegativeTTL,
			Caching: o.Cache, MaxEntries: o.CacheSize,
		}),
		fetcher: secrets.NewFetcher(apis.SecretsManager, secrets.Config{
			Retry: policy, TTL: ttl, NegativeTTL: o.NegativeTTL, MaxEntries: o.CacheSize,
		}),
	}
}
