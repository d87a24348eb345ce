package identity

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/cache"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

// RegionLabel is the node label the region is read from as a last resort.
const RegionLabel = "topology.kubernetes.io/region"

// KubeAPI is what the provider reads from the Kubernetes API: the
// metadata of a service account and of a node. A refusal is an
// k8s.io/apimachinery api/errors StatusError (IsNotFound, IsForbidden,
// IsUnauthorized); any other error is taken as transient. Package kubeapi
// implements it over HTTP; tests read internal/apifake's server with it.
type KubeAPI interface {
	ServiceAccountMeta(ctx context.Context, namespace, name string) (*metav1.ObjectMeta, error)
	NodeMeta(ctx context.Context, name string) (*metav1.ObjectMeta, error)
}

// Kube reads what the provider needs from the Kubernetes API: the role
// annotation of a service account and the region label of the node.
type Kube struct {
	client   KubeAPI
	nodeName string
	retry    retry.Policy
	roleTTL  time.Duration
	// roles, with their negative entries: keyed by identity as far as it
	// is known before the role (roleKey: namespace and service account,
	// whose role annotation each holds).
	roles *cache.Cache[roleKey, string]

	regionMu sync.Mutex
	// region is one value, the node's: a node never changes region, so
	// once found it is kept for the process's life, and needs no bound.
	// Holds nothing identity-specific (the node's label).
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
	// Retry bounds the retries of a read that failed transiently (network,
	// 5xx, 429): AttemptTimeout is one read's own timeout, so a hung API
	// server cannot eat the Mount's whole budget; the Mount's deadline ends
	// the retries too. Zero: DefaultKubeRetry.
	Retry retry.Policy
	// StaleIfError is how long past SecretTTL a role annotation is kept to
	// answer when reading it again fails transiently (the API server does
	// not answer, 5xx, 429); a refusal (not found, forbidden) drops it at
	// once. Zero: never.
	StaleIfError time.Duration
	// Jitter shortens each role's SecretTTL by a random fraction up to it.
	Jitter float64
	// Clock is the role cache's clock (tests); nil: time.Now.
	Clock func() time.Time
}

// DefaultKubeRetry retries a Kubernetes API read for up to the Mount's
// default budget, each read given 5 seconds.
var DefaultKubeRetry = retry.Policy{Budget: retry.DefaultPolicy.Budget, AttemptTimeout: 5 * time.Second, BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}

// NewKube returns a reader over client.
func NewKube(client KubeAPI, cfg KubeConfig) *Kube {
	// Unlike the credential and secret caches, the role cache stays with
	// the cache off, keeping nothing: concurrent Mounts of one service
	// account still share one read.
	roleTTL := cfg.SecretTTL
	if !cfg.Cache {
		roleTTL = 0
	}
	if cfg.Retry == (retry.Policy{}) {
		cfg.Retry = DefaultKubeRetry
	}
	roles := cache.NewWithOptions[roleKey, string](cfg.CacheSize, cache.Options[roleKey]{
		Jitter:       cfg.Jitter,
		StaleIfError: cfg.StaleIfError,
		StaleIf: func(err error) bool {
			return errors.Is(err, context.DeadlineExceeded) || mounterr.KindOf(err) == mounterr.Transient
		},
		StaleRetry: min(staleRoleRetry, roleTTL),
		// Once per outage and service account.
		OnStale: cache.StaleLog[roleKey]("serving the cached role of a service account: reading it again from the Kubernetes API failed transiently (--stale-if-error)"),
		Now:     cfg.Clock,
	})
	return &Kube{client: client, nodeName: cfg.NodeName, retry: cfg.Retry, roleTTL: roleTTL, roles: roles}
}

// staleRoleRetry is how often, while the API server is unreachable and a
// role is served from the cache past its window, it is read again (in the
// background: Mounts get the cached role at once).
const staleRoleRetry = 10 * time.Second

// roleKey is the service account whose role annotation a roles entry
// holds.
type roleKey struct {
	Namespace, ServiceAccount string
}

// LogFields are the log key/values of k.
func (k roleKey) LogFields() []any {
	return []any{"namespace", k.Namespace, "serviceAccount", k.ServiceAccount}
}

// Stats returns the role cache's counters.
func (k *Kube) Stats() cache.Stats { return k.roles.Stats() }

// RoleARN returns the role annotated on the service account.
func (k *Kube) RoleARN(ctx context.Context, namespace, serviceAccount string) (string, error) {
	return k.roles.Get(ctx, roleKey{Namespace: namespace, ServiceAccount: serviceAccount}, func(ctx context.Context) (string, time.Duration, error) {
		role, err := k.readRole(ctx, namespace, serviceAccount)
		if err != nil {
			return "", 0, err
		}
		return role, k.roleTTL, nil
	})
}

func (k *Kube) readRole(ctx context.Context, namespace, serviceAccount string) (string, error) {
	var sa *metav1.ObjectMeta
	err := k.read(ctx, func(ctx context.Context) (err error) {
		sa, err = k.client.ServiceAccountMeta(ctx, namespace, serviceAccount)
		return err
	})
	what := fmt.Sprintf("service account %s/%s", namespace, serviceAccount)
	switch {
	case apierrors.IsNotFound(err):
		return "", mounterr.New(mounterr.NotFound, "%s does not exist", what)
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return "", mounterr.New(mounterr.Denied, "the provider may not read %s: grant it get on serviceaccounts (the chart's ClusterRole does)", what)
	case err != nil:
		return "", transientRead(what, err)
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

// NoRegionError is a node region that cannot be known: no node name, no
// such node, or no label. Other failures of NodeRegion are classified
// mounterr errors (a transient API failure, a refused read).
type NoRegionError struct{ Reason string }

func (e *NoRegionError) Error() string { return e.Reason }

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
		return "", &NoRegionError{fmt.Sprintf("no node name (--node-name or NODE_NAME) to read %s from", RegionLabel)}
	}
	var node *metav1.ObjectMeta
	err := k.read(ctx, func(ctx context.Context) (err error) {
		node, err = k.client.NodeMeta(ctx, k.nodeName)
		return err
	})
	what := "node " + k.nodeName
	switch {
	case apierrors.IsNotFound(err):
		return "", &NoRegionError{what + " does not exist (check --node-name)"}
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return "", mounterr.New(mounterr.Denied,
			"the provider may not read %s for its %s label: set the SecretProviderClass parameter region or AWS_REGION on the provider, or grant it get on nodes", what, RegionLabel)
	case err != nil:
		return "", transientRead(what+"'s "+RegionLabel+" label", err)
	}
	region := node.Labels[RegionLabel]
	if region == "" {
		return "", &NoRegionError{fmt.Sprintf("node %s has no %s label", k.nodeName, RegionLabel)}
	}
	k.region = region
	return region, nil
}

// read runs one Kubernetes API read, retrying transient failures within
// the retry policy and ctx.
func (k *Kube) read(ctx context.Context, call func(ctx context.Context) error) error {
	return retry.DoIf(ctx, k.retry, transientKube, call)
}

// transientKube reports whether a Kubernetes API failure may pass: any
// but an answer that refuses the read (not found, forbidden, ...).
func transientKube(err error) bool {
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return false
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err), apierrors.IsUnauthorized(err),
		apierrors.IsBadRequest(err), apierrors.IsMethodNotSupported(err), apierrors.IsNotAcceptable(err):
		return false
	}
	return true
}

// transientRead is a read of what that failed for longer than the retries.
func transientRead(what string, err error) error {
	var ex *retry.ExhaustedError
	if errors.As(err, &ex) {
		return &mounterr.Error{Kind: mounterr.Transient, Err: err, Msg: fmt.Sprintf(
			"reading %s from the Kubernetes API kept failing for %s (%s); this is transient: the kubelet retries the mount",
			what, ex.Elapsed.Round(time.Millisecond), mounterr.Reason(ex.Last))}
	}
	return mounterr.Wrap(mounterr.Transient, err, "reading %s from the Kubernetes API failed (transient; the kubelet retries)", what)
}
