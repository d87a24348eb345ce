package kubeapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/kubeapi"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/tokens"
)

var (
	_ identity.KubeAPI    = (*kubeapi.Client)(nil)
	_ tokens.DiscoveryAPI = (*kubeapi.Client)(nil)
)

const role = "arn:aws:iam::111122223333:role/PMP-SecretsManager-Role"

// testIssuer is the service-account issuer apiServer serves discovery of.
var testIssuer = issuer.New()

// apiServer answers as the Kubernetes API does for a few objects and the
// service-account issuer's discovery.
func apiServer(t *testing.T, opts ...kubeapi.Option) (*kubeapi.Client, *[]string) {
	t.Helper()
	var agents []string
	mux := http.NewServeMux()
	testIssuer.Register(mux)
	reply := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	status := func(code int, reason metav1.StatusReason, msg string) *metav1.Status {
		return &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure, Code: int32(code), Reason: reason, Message: msg}
	}
	mux.HandleFunc("GET /api/v1/namespaces/pmp/serviceaccounts/pmp-secrets-access", func(w http.ResponseWriter, r *http.Request) {
		agents = append(agents, r.UserAgent())
		reply(w, 200, &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{Kind: "ServiceAccount", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "pmp", Name: "pmp-secrets-access", Annotations: map[string]string{identity.RoleAnnotation: role}}})
	})
	mux.HandleFunc("GET /api/v1/namespaces/pmp/serviceaccounts/secret-reader", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 403, status(403, metav1.StatusReasonForbidden, `serviceaccounts "secret-reader" is forbidden`))
	})
	mux.HandleFunc("GET /api/v1/namespaces/pmp/serviceaccounts/flaky", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 503, status(503, metav1.StatusReasonServiceUnavailable, "etcd is away"))
	})
	mux.HandleFunc("GET /api/v1/namespaces/pmp/serviceaccounts/busy", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 429, status(429, metav1.StatusReasonTooManyRequests, "too many requests, please try again later"))
	})
	mux.HandleFunc("GET /api/v1/namespaces/pmp/serviceaccounts/garbled", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html>a proxy's page</html>"))
	})
	mux.HandleFunc("GET /api/v1/namespaces/locked/serviceaccounts/any", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 401, status(401, metav1.StatusReasonUnauthorized, "Unauthorized"))
	})
	mux.HandleFunc("GET /api/v1/nodes/node-1", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, &corev1.Node{TypeMeta: metav1.TypeMeta{Kind: "Node", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{identity.RegionLabel: "eu-west-1"}}})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 404, status(404, metav1.StatusReasonNotFound, "not found"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := kubeapi.New(&rest.Config{Host: srv.URL, UserAgent: "pmp-secrets-provider/test", QPS: 50, Burst: 100}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, &agents
}

func TestMetadata(t *testing.T) {
	c, agents := apiServer(t)
	ctx := context.Background()
	sa, err := c.ServiceAccountMeta(ctx, "pmp", "pmp-secrets-access")
	if err != nil {
		t.Fatal(err)
	}
	if sa.Name != "pmp-secrets-access" || sa.Annotations[identity.RoleAnnotation] != role {
		t.Errorf("service account metadata = %+v", sa)
	}
	if len(*agents) != 1 || (*agents)[0] != "pmp-secrets-provider/test" {
		t.Errorf("user agents = %q, want the config's", *agents)
	}
	node, err := c.NodeMeta(ctx, "node-1")
	if err != nil || node.Labels[identity.RegionLabel] != "eu-west-1" {
		t.Errorf("node metadata = %+v, %v", node, err)
	}
}

func TestRefusalsAreStatusErrors(t *testing.T) {
	c, _ := apiServer(t)
	ctx := context.Background()
	tests := []struct {
		name, namespace, sa string
		is                  func(error) bool
	}{
		{"missing", "pmp", "nobody", apierrors.IsNotFound},
		{"forbidden", "pmp", "secret-reader", apierrors.IsForbidden},
		{"unauthorized", "locked", "any", apierrors.IsUnauthorized},
		{"path is escaped", "pmp", "../../nodes/node-1", apierrors.IsNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ServiceAccountMeta(ctx, tc.namespace, tc.sa)
			if err == nil || !tc.is(err) {
				t.Errorf("error = %v, want the matching api/errors status", err)
			}
		})
	}
	_, err := c.ServiceAccountMeta(ctx, "pmp", "flaky")
	if err == nil || apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		t.Errorf("503 error = %v, want one that is none of NotFound, Forbidden, Unauthorized", err)
	}
}

// Through identity.Kube, each answer becomes the Mount error a user reads.
func TestRoleErrorsThroughKube(t *testing.T) {
	c, _ := apiServer(t)
	k := identity.NewKube(c, identity.KubeConfig{NodeName: "node-1", CacheSize: 8,
		Retry: retry.Policy{Budget: 200 * time.Millisecond, AttemptTimeout: 100 * time.Millisecond, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}})
	ctx := context.Background()
	if got, err := k.RoleARN(ctx, "pmp", "pmp-secrets-access"); err != nil || got != role {
		t.Errorf("RoleARN = %q, %v", got, err)
	}
	for sa, want := range map[string]mounterr.Kind{"nobody": mounterr.NotFound, "secret-reader": mounterr.Denied, "flaky": mounterr.Transient} {
		if _, err := k.RoleARN(ctx, "pmp", sa); mounterr.KindOf(err) != want {
			t.Errorf("RoleARN(pmp/%s) kind = %v (%v), want %v", sa, mounterr.KindOf(err), err, want)
		}
	}
	if r, err := k.NodeRegion(ctx); err != nil || r != "eu-west-1" {
		t.Errorf("NodeRegion = %q, %v", r, err)
	}
}

// TestIssuerDiscovery: tokens verify against the keys the API server
// serves, read through the client; a refused read names the ClusterRole.
func TestIssuerDiscovery(t *testing.T) {
	c, _ := apiServer(t)
	v := tokens.New(c, tokens.DefaultConfig("sts.amazonaws.com"))
	pod := tokens.Pod{Name: "pmp-0", Namespace: "pmp", UID: "uid-0", ServiceAccount: "pmp-secrets-access"}
	tok := testIssuer.Sign(issuer.Token{Namespace: "pmp", ServiceAccount: "pmp-secrets-access", PodName: "pmp-0", PodUID: "uid-0"})
	if err := v.Verify(context.Background(), tok, pod); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(403)
		_ = json.NewEncoder(w).Encode(&metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
			Code: 403, Reason: metav1.StatusReasonForbidden, Message: `forbidden: User "x" cannot get path "/.well-known/openid-configuration"`})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	locked, err := kubeapi.New(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	err = tokens.New(locked, tokens.DefaultConfig("sts.amazonaws.com")).Verify(context.Background(), tok, pod)
	if mounterr.KindOf(err) != mounterr.Denied || !strings.Contains(err.Error(), "system:service-account-issuer-discovery") {
		t.Errorf("forbidden discovery: %v, want Denied naming the ClusterRole", err)
	}
}
