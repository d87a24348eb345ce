package identity

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/cache"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

// RegionLabel is the node label the region is read from as a last resort.
const RegionLabel = "topology.kubernetes.io/region"

// KubeAPI is what the provider reads from the Kubernetes API: the
// metadata of a service account and of a node. A refusal is an
// k8s.io/apimachinery api/errors StatusError (IsNotFound, IsForbidden,
// IsUnauthorized); any other error is taken as transient. Package kubeapi
// implements it over HTTP; tests use internal/kubefake over a client-go
// (fake) clientset.
type KubeAPI interface {
	ServiceAccountMeta(ctx context.Context, namespace, name string) (*metav1.ObjectMeta, error)
	NodeMeta(ctx context.Context, name string) (*metav1.ObjectMeta, error)
}

// Kube reads what the provider needs from the Kubernetes API: the role
// annotation of a service account and the region label of the node.
type Kube struct {
	client   KubeAPI
	nodeName string
	roleTTL  time.Duration
	roles    *cache.Cache[string]

	regionMu sync.Mutex
	// region is one value, the node's: a node never changes region, so
	// once found it is kept for the process's life, and needs no bound.
	region string
}

// KubeConfig tunes Kube.
type KubeConfig struct {
	// NodeName is the node whose region label NodeRegion reads.
	NodeName string
	// Cache off means a role annotation is read on every Mount.
	Cache bool
	// SecretTTL is how long a role annotation is kept, the secrets'
	// freshness window: removing an annotation takes effect within it.
	// STS still checks every new exchange.
	SecretTTL time.Duration
	CacheSize int
}

// NewKube returns a reader over client.
func NewKube(client KubeAPI, cfg KubeConfig) *Kube {
	// Unlike the credential and secret caches, the role cache stays with
	// the cache off, keeping nothing: concurrent Mounts of one service
	// account still share one read.
	roleTTL := cfg.SecretTTL
	if !cfg.Cache {
		roleTTL = 0
	}
	return &Kube{client: client, nodeName: cfg.NodeName, roleTTL: roleTTL, roles: cache.New[string](cfg.CacheSize)}
}

// Stats returns the role cache's counters.
func (k *Kube) Stats() cache.Stats { return k.roles.Stats() }

// RoleARN returns the role annotated on the service account.
func (k *Kube) RoleARN(ctx context.Context, namespace, serviceAccount string) (string, error) {
	return k.roles.Get(ctx, namespace+"/"+serviceAccount, func(ctx context.Context) (string, time.Duration, error) {
		role, err := k.readRole(ctx, namespace, serviceAccount)
		if err != nil {
			return "", 0, err
		}
		return role, k.roleTTL, nil
	})
}

func (k *Kube) readRole(ctx context.Context, namespace, serviceAccount string) (string, error) {
	sa, err := k.client.ServiceAccountMeta(ctx, namespace, serviceAccount)
	switch {
	case apierrors.IsNotFound(err):
		return "", mounterr.New(mounterr.NotFound, "service account %s/%s does not exist", namespace, serviceAccount)
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return "", mounterr.New(mounterr.Denied, "the provider may not read service account %s/%s: grant it get on serviceaccounts (the chart's ClusterRole does)", namespace, serviceAccount)
	case err != nil:
		return "", mounterr.Wrap(mounterr.Transient, err, "reading service account %s/%s from the Kubernetes API failed (transient; the kubelet retries)", namespace, serviceAccount)
	}
	role := sa.Annotations[RoleAnnotation]
	if role == "" {
		return "", mounterr.New(mounterr.Denied,
			"service account %s/%s has no %s annotation: annotate it with the IAM role that may read the secret, e.g. kubectl annotate serviceaccount -n %s %s %s=arn:aws:iam::ACCOUNT_ID:role/PMP-SecretsManager-Role",
			namespace, serviceAccount, RoleAnnotation, namespace, serviceAccount, RoleAnnotation)
	}
	if !ValidRoleARN(role) {
		return "", mounterr.New(mounterr.Invalid,
			"service account %s/%s annotation %s=%q is not an IAM role ARN (arn:aws:iam::ACCOUNT_ID:role/NAME)",
			namespace, serviceAccount, RoleAnnotation, role)
	}
	return role, nil
}

// NodeRegion returns the region label of the provider's node. A found
// region is kept for the process's life; a failure is not, so a transient
// API error does not stick.
func (k *Kube) NodeRegion(ctx context.Context) (string, error) {
	k.regionMu.Lock()
	defer k.regionMu.Unlock()
	if k.region != "" {
		return k.region, nil
	}
	if k.nodeName == "" {
		return "", fmt.Errorf("no node name (--node-name or NODE_NAME) to read %s from", RegionLabel)
	}
	node, err := k.client.NodeMeta(ctx, k.nodeName)
	if err != nil {
		return "", fmt.Errorf("reading node %s: %w", k.nodeName, err)
	}
	region := node.Labels[RegionLabel]
	if region == "" {
		return "", fmt.Errorf("node %s has no %s label", k.nodeName, RegionLabel)
	}
	k.region = region
	return region, nil
}
