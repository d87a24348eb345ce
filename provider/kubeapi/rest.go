package kubeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GetJSON GETs the API path (e.g. "/apis/storage.k8s.io/v1/csidrivers/x")
// and decodes the answer into v. A refusal is an api/errors StatusError,
// as for the metadata reads. For tools (the doctor subcommand) that read
// more than the provider does, without the typed clientset.
func (c *Client) GetJSON(ctx context.Context, path string, v any) error {
	return c.doJSON(ctx, http.MethodGet, path, nil, v, schema.GroupResource{}, path)
}

// PostJSON POSTs body as JSON to the API path and decodes the answer into
// v (e.g. a TokenRequest).
func (c *Client) PostJSON(ctx context.Context, path string, body, v any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return c.doJSON(ctx, http.MethodPost, path, b, v, schema.GroupResource{}, path)
}

// doJSON sends one request and decodes its answer into v; a refusal names
// the resource gr and name.
func (c *Client) doJSON(ctx context.Context, method, path string, body []byte, v any, gr schema.GroupResource, name string) error {
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return limitedError{err}
		}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("reading %s %s: %w", gr.Resource, name, err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return apierrors.NewGenericServerResponse(resp.StatusCode, method, gr, name, statusMessage(answer), 0, true)
	}
	if err := json.Unmarshal(answer, v); err != nil {
		return undecodableError{fmt.Errorf("decoding %s %s: %w", gr.Resource, name, err)}
	}
	return nil
}
