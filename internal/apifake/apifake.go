// Package apifake is the Kubernetes API server of the tests (and of the
// demo): it serves JSON objects by path over HTTP on 127.0.0.1, lists them
// (by namespace, across namespaces, by label selector), answers
// TokenRequests, serves its service-account issuer's discovery and keys,
// and fails a path on request. The provider reads it through its real
// client (Client, provider/kubeapi); doctor through a kubeconfig file.
package apifake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/kubeapi"
)

// Server is the fake API server.
type Server struct {
	URL string

	mu      sync.Mutex
	objects map[string]json.RawMessage
	// TokenStatus, when not 0, is the HTTP status TokenRequests get.
	TokenStatus int
	tokens      []string // "namespace/name audience" of each TokenRequest
	// Issuer signs the TokenRequests' tokens as the API server's
	// service-account issuer does, and its discovery is served, so the
	// provider's Mount verifies them as real ones. Issuer.Issued lists
	// them, for tests that check no output shows one.
	Issuer    *issuer.Issuer
	discovery *http.ServeMux
	// failing are the paths answered with a status instead of their object.
	failing map[string]int
	srv     *httptest.Server
}

// Start serves an empty API with an issuer of its own until the test ends.
func Start(t testing.TB) *Server { return StartWith(t, issuer.New()) }

// StartWith serves an empty API whose service-account issuer is iss until
// the test ends.
func StartWith(t testing.TB, iss *issuer.Issuer) *Server {
	t.Helper()
	s := New(iss)
	t.Cleanup(s.Close)
	return s
}

// New serves an empty API whose service-account issuer is iss until Close.
func New(iss *issuer.Issuer) *Server {
	s := &Server{objects: map[string]json.RawMessage{}, Issuer: iss, discovery: http.NewServeMux(), failing: map[string]int{}}
	s.Issuer.Register(s.discovery)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Client is the provider's Kubernetes client (provider/kubeapi, the one
// the binary uses) for this server.
func (s *Server) Client() *kubeapi.Client {
	c, err := kubeapi.New(&rest.Config{Host: s.URL})
	if err != nil {
		panic(err) // a URL httptest made always parses
	}
	return c
}

// Fail answers every request for path with code (an API Status) until
// Heal: an API server that is overloaded or unavailable for that object.
func (s *Server) Fail(path string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing[path] = code
}

// Heal answers path with its object again.
func (s *Server) Heal(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failing, path)
}

// Put stores obj (marshalled to JSON) at path, e.g.
// "/api/v1/namespaces/pmp/serviceaccounts/pmp-secrets-access".
func (s *Server) Put(path string, obj any) {
	b, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[path] = b
}

// Delete removes the object at path.
func (s *Server) Delete(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, path)
}

// TokenRequests returns "namespace/serviceaccount audience" per request.
func (s *Server) TokenRequests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokens...)
}

// Kubeconfig writes a kubeconfig for the server and returns its path.
func (s *Server) Kubeconfig(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: %q}}]
users: [{name: admin, user: {token: admin-token}}]
contexts: [{name: fake, context: {cluster: fake, user: admin, namespace: pmp}}]
current-context: fake
`, s.URL)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if code, ok := s.failing[r.URL.Path]; ok {
		status(w, code, http.StatusText(code), fmt.Sprintf("%s is failing (apifake.Fail)", r.URL.Path))
		return
	}
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") {
		s.token(w, r)
		return
	}
	if r.Method != http.MethodGet {
		status(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "method not allowed")
		return
	}
	if r.URL.Path == issuer.DiscoveryPath || r.URL.Path == issuer.JWKSPath {
		s.discovery.ServeHTTP(w, r)
		return
	}
	if obj, ok := s.objects[r.URL.Path]; ok {
		_, _ = w.Write(obj)
		return
	}
	items, ok := s.list(r.URL.Path, r.URL.Query().Get("labelSelector"))
	if !ok {
		status(w, http.StatusNotFound, "NotFound", fmt.Sprintf("%s not found", r.URL.Path))
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": "List", "items": items})
}

// list answers a collection path: /api/v1/namespaces/NS/R, or a
// cluster-wide /apis/G/V/R over every namespace. Not a collection: false.
func (s *Server) list(path, selector string) ([]json.RawMessage, bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var match func(string) bool
	switch {
	case len(parts) >= 2 && parts[len(parts)-2] == "namespaces":
		return nil, false // a namespace object
	case len(parts) >= 4 && parts[len(parts)-3] == "namespaces":
		match = func(p string) bool { return strings.HasPrefix(p, path+"/") && !strings.Contains(p[len(path)+1:], "/") }
	case len(parts) == 4 && parts[0] == "apis", len(parts) == 3 && parts[0] == "api":
		prefix := "/" + strings.Join(parts[:len(parts)-1], "/")
		res := parts[len(parts)-1]
		match = func(p string) bool {
			rest, ok := strings.CutPrefix(p, prefix+"/")
			if !ok {
				return false
			}
			seg := strings.Split(rest, "/")
			return len(seg) == 4 && seg[0] == "namespaces" && seg[2] == res || len(seg) == 2 && seg[0] == res
		}
	default:
		return nil, false
	}
	var paths []string
	for p := range s.objects {
		if match(p) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	items := []json.RawMessage{}
	for _, p := range paths {
		if selector == "" || labelsMatch(s.objects[p], selector) {
			items = append(items, s.objects[p])
		}
	}
	return items, true
}

func labelsMatch(obj json.RawMessage, selector string) bool {
	var o struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(obj, &o)
	for _, kv := range strings.Split(selector, ",") {
		k, v, _ := strings.Cut(kv, "=")
		if o.Metadata.Labels[k] != v {
			return false
		}
	}
	return true
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	sa := strings.TrimSuffix(r.URL.Path, "/token")
	if _, ok := s.objects[sa]; !ok {
		status(w, http.StatusNotFound, "NotFound", "serviceaccount not found")
		return
	}
	if s.TokenStatus != 0 {
		status(w, s.TokenStatus, "Forbidden", `serviceaccounts "x" is forbidden: User "dev" cannot create resource "serviceaccounts/token"`)
		return
	}
	var req struct {
		Spec struct {
			Audiences []string `json:"audiences"`
		} `json:"spec"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	parts := strings.Split(sa, "/")
	s.tokens = append(s.tokens, parts[4]+"/"+parts[6]+" "+strings.Join(req.Spec.Audiences, ","))
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
		"spec": req.Spec, "status": map[string]any{"token": s.Issuer.Sign(issuer.Token{Namespace: parts[4], ServiceAccount: parts[6], Audience: req.Spec.Audiences}), "expirationTimestamp": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)},
	})
}

func status(w http.ResponseWriter, code int, reason, msg string) {
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": msg,
	})
}
