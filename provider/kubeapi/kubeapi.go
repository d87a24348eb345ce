// Package kubeapi reads what the provider needs from the Kubernetes API, a
// service account's and a node's metadata and the service-account issuer's
// discovery document and keys, with plain GETs through client-go's rest
// transport (kubeconfig or in-cluster credentials, TLS, token rotation,
// rate limit).
//
// It deliberately does not use client-go's typed clientset: importing it
// registers every API group of Kubernetes and doubled the provider's
// binary and resident memory (48 MiB idle, of which 40 MiB file-backed
// pages of the binary) for two GETs. Tests point it at internal/apifake's
// server. GetJSON and PostJSON serve the doctor
// subcommand's reads the same way.
package kubeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// maxBody bounds what is read of one answer; a service account or node is
// a few KiB.
const maxBody = 4 << 20

// Client reads object metadata from one API server.
type Client struct {
	base      string // scheme://host[/prefix], no trailing slash
	http      *http.Client
	limiter   flowcontrol.RateLimiter
	userAgent string
	metrics   *Metrics // nil: not counted
}

// New returns a client for the API server of rc, with rc's credentials,
// TLS settings, user agent and QPS/Burst limit.
func New(rc *rest.Config, opts ...Option) (*Client, error) {
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	u, _, err := rest.DefaultServerUrlFor(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	limiter := rc.RateLimiter
	if limiter == nil && rc.QPS > 0 {
		limiter = flowcontrol.NewTokenBucketRateLimiter(rc.QPS, max(rc.Burst, 1))
	}
	c := &Client{base: strings.TrimSuffix(u.String(), "/"), http: hc, limiter: limiter, userAgent: rc.UserAgent}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

var (
	serviceAccounts = schema.GroupResource{Resource: "serviceaccounts"}
	nodes           = schema.GroupResource{Resource: "nodes"}
	// discovery names the non-resource URLs of the issuer's discovery in
	// errors.
	discovery = schema.GroupResource{Resource: "service-account-issuer-discovery"}
)

// OpenIDConfiguration returns the body of the API server's
// /.well-known/openid-configuration: the service-account issuer.
func (c *Client) OpenIDConfiguration(ctx context.Context) ([]byte, error) {
	return c.get(ctx, discovery, "openid-configuration", "/.well-known/openid-configuration", "application/json")
}

// OpenIDKeys returns the body of the API server's /openid/v1/jwks: the
// public keys service-account tokens are signed with. The API server
// serves them there whatever jwks_uri its discovery document names (on EKS
// a public endpoint outside the cluster), and only as
// application/jwk-set+json (it answers 406 to application/json).
func (c *Client) OpenIDKeys(ctx context.Context) ([]byte, error) {
	return c.get(ctx, discovery, "jwks", "/openid/v1/jwks", "application/jwk-set+json")
}

// ServiceAccountMeta returns the metadata of a service account.
func (c *Client) ServiceAccountMeta(ctx context.Context, namespace, name string) (*metav1.ObjectMeta, error) {
	return c.getMeta(ctx, serviceAccounts, name, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/serviceaccounts/"+url.PathEscape(name))
}

// NodeMeta returns the metadata of a node.
func (c *Client) NodeMeta(ctx context.Context, name string) (*metav1.ObjectMeta, error) {
	return c.getMeta(ctx, nodes, name, "/api/v1/nodes/"+url.PathEscape(name))
}

// getMeta GETs one object's metadata.
func (c *Client) getMeta(ctx context.Context, gr schema.GroupResource, name, path string) (*metav1.ObjectMeta, error) {
	var obj struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	err := c.doJSON(ctx, http.MethodGet, path, nil, &obj, gr, name)
	c.metrics.observe(gr, err)
	if err != nil {
		return nil, err
	}
	return &obj.Metadata, nil
}

// get GETs path, accepting the media type accept, and returns the body of
// a 200 answer. A refusal is an api/errors StatusError, so
// apierrors.IsNotFound, IsForbidden and IsUnauthorized work as with the
// clientset; anything else (network, 5xx, 429) is an error to retry.
func (c *Client) get(ctx context.Context, gr schema.GroupResource, name, path, accept string) ([]byte, error) {
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.metrics.observe(gr, err)
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", gr.Resource, name, err)
	}
	if resp.StatusCode != http.StatusOK {
		err := apierrors.NewGenericServerResponse(resp.StatusCode, http.MethodGet, gr, name, statusMessage(body), 0, true)
		c.metrics.observe(gr, err)
		return nil, err
	}
	c.metrics.observe(gr, nil)
	return body, nil
}

// statusMessage is the message of a metav1.Status answer, if it is one.
func statusMessage(body []byte) string {
	var st metav1.Status
	if json.Unmarshal(body, &st) == nil {
		return st.Message
	}
	return ""
}
