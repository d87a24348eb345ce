// Package kubefake adapts a client-go clientset (the fake one tests use, or
// a real one) and a stand-in service-account issuer (internal/issuer) to
// the provider's Kubernetes reads (provider.KubeAPI). The provider binary
// does not use it: it reads with package provider/kubeapi.
package kubefake

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/tokens"
)

// Client reads object metadata through a clientset, and the issuer's
// discovery from iss.
type Client struct {
	cs  kubernetes.Interface
	iss *issuer.Issuer
}

var (
	_ identity.KubeAPI    = (*Client)(nil)
	_ tokens.DiscoveryAPI = (*Client)(nil)
)

// New adapts cs, with iss as the cluster's service-account issuer.
func New(cs kubernetes.Interface, iss *issuer.Issuer) *Client { return &Client{cs: cs, iss: iss} }

// ServiceAccountMeta returns the metadata of a service account.
func (c *Client) ServiceAccountMeta(ctx context.Context, namespace, name string) (*metav1.ObjectMeta, error) {
	sa, err := c.cs.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return &sa.ObjectMeta, nil
}

// NodeMeta returns the metadata of a node.
func (c *Client) NodeMeta(ctx context.Context, name string) (*metav1.ObjectMeta, error) {
	n, err := c.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return &n.ObjectMeta, nil
}

// OpenIDConfiguration returns the issuer's discovery document.
func (c *Client) OpenIDConfiguration(context.Context) ([]byte, error) { return c.iss.Discovery(), nil }

// OpenIDKeys returns the issuer's keys.
func (c *Client) OpenIDKeys(context.Context) ([]byte, error) { return c.iss.JWKS(), nil }
