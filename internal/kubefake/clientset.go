// Package kubefake adapts a client-go clientset (the fake one tests use, or
// a real one) to the provider's Kubernetes reads (identity.KubeAPI). The
// provider binary does not use it: it reads with package provider/kubeapi.
package kubefake

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
)

// Client reads object metadata through a clientset.
type Client struct{ cs kubernetes.Interface }

var _ identity.KubeAPI = (*Client)(nil)

// New adapts cs.
func New(cs kubernetes.Interface) *Client { return &Client{cs: cs} }

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
