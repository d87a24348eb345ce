// Package podagent is a stand-in EKS Pod Identity Agent for tests, on a
// loopback port: it answers GET /v1/credentials as the agent on every EKS
// node does, for the pod token in the Authorization header. The token must
// be for the audience pods.eks.amazonaws.com and its subject a service
// account with an association (Associate); the answer is credentials of
// the association's role, from the emulator's sts:AssumeRole, so they sign
// requests the emulator takes. The real agent passes the token to EKS
// Auth, which verifies it; the provider has verified its signature before
// sending it, and this stand-in reads the claims only. EKS Auth tags each
// session with the pod the token names (kubernetes-pod-name,
// kubernetes-pod-uid); the stand-in counts its answers per pod (CallsFor),
// so a test sees which pod's credentials a Mount was served.
//
// Nothing in the tests talks to the agent's link-local addresses: the
// provider is pointed here with its --pod-identity-agent-url options.
package podagent

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Audience is the audience of the tokens the agent takes.
const Audience = "pods.eks.amazonaws.com"

// Agent is a running stand-in agent.
type Agent struct {
	// URL is its credentials URL, http://127.0.0.1:PORT/v1/credentials.
	URL string
	sts *sts.Client

	mu           sync.Mutex
	associations map[string]string // "namespace/serviceaccount" -> role ARN
	calls        int
	byPod        map[string]int // pod UID (the token's) -> credentials answered
}

// Start serves an agent whose credentials come from the STS of the
// emulator at stsEndpoint (awsemu.AWS.EmulatorEndpoint, bypassing the
// front, so the agent's own calls are not counted as the provider's). It
// stops when the test ends.
func Start(t testing.TB, stsEndpoint string) *Agent {
	t.Helper()
	a := New(stsEndpoint)
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	a.URL = srv.URL + "/v1/credentials"
	return a
}

// New is an agent not yet served, for a program that serves it itself
// (the benchmark harness, over a listener of its own); its URL is empty.
func New(stsEndpoint string) *Agent {
	return &Agent{
		associations: map[string]string{},
		byPod:        map[string]int{},
		sts: sts.New(sts.Options{
			Region: "us-east-1", BaseEndpoint: aws.String(stsEndpoint),
			Credentials: credentials.NewStaticCredentialsProvider("agent", "agent", ""),
		}),
	}
}

// UnreachableURL is an agent credentials URL on loopback where nothing
// listens: an agent that is not running.
func UnreachableURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String() + "/v1/credentials"
	ln.Close()
	return u
}

// Associate is an EKS Pod Identity association: pods of the service
// account get role's credentials.
func (a *Agent) Associate(namespace, serviceAccount, role string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.associations[namespace+"/"+serviceAccount] = role
}

// Calls returns how many credentials requests the agent has answered.
func (a *Agent) Calls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

// CallsFor returns how many times the agent has answered with
// credentials for the pod with uid, as its token names it: the credentials
// EKS would tag with that pod.
func (a *Agent) CallsFor(uid string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byPod[uid]
}

// ServeHTTP answers GET /v1/credentials as the agent does.
func (a *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.calls++
	a.mu.Unlock()
	if r.Method != http.MethodGet || r.URL.Path != "/v1/credentials" {
		answer(w, http.StatusNotFound, "NotFound", "no such path")
		return
	}
	sub, aud, podUID, ok := claims(r.Header.Get("Authorization"))
	switch {
	case !ok:
		answer(w, http.StatusBadRequest, "InvalidTokenException", "Service account token cannot be parsed")
		return
	case !slices.Contains(aud, Audience):
		answer(w, http.StatusBadRequest, "InvalidTokenException", "Service account token is not for audience "+Audience)
		return
	}
	sa, _ := strings.CutPrefix(sub, "system:serviceaccount:")
	ns, name, _ := strings.Cut(sa, ":")
	a.mu.Lock()
	role, associated := a.associations[ns+"/"+name]
	a.mu.Unlock()
	if !associated {
		answer(w, http.StatusBadRequest, "AccessDeniedException", fmt.Sprintf("no Pod Identity association for service account %s/%s", ns, name))
		return
	}
	out, err := a.sts.AssumeRole(r.Context(), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("eks-pod-identity")})
	if err != nil {
		answer(w, http.StatusInternalServerError, "InternalServerException", "emulator: "+err.Error())
		return
	}
	a.mu.Lock()
	a.byPod[podUID]++
	a.mu.Unlock()
	c := out.Credentials
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"AccessKeyId": aws.ToString(c.AccessKeyId), "SecretAccessKey": aws.ToString(c.SecretAccessKey), "Token": aws.ToString(c.SessionToken),
		"AccountId": "111122223333", "Expiration": aws.ToTime(c.Expiration).UTC().Format(time.RFC3339),
	})
}

func answer(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"code": code, "message": msg})
}

// claims reads sub, aud and the pod's UID (kubernetes.io.pod.uid) of a
// JWT, unverified.
func claims(token string) (sub string, aud []string, podUID string, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", nil, "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", nil, "", false
	}
	var c struct {
		Sub        string          `json:"sub"`
		Aud        json.RawMessage `json:"aud"`
		Kubernetes struct {
			Pod struct {
				UID string `json:"uid"`
			} `json:"pod"`
		} `json:"kubernetes.io"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return "", nil, "", false
	}
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		return c.Sub, []string{one}, c.Kubernetes.Pod.UID, true
	}
	return c.Sub, aud, c.Kubernetes.Pod.UID, json.Unmarshal(c.Aud, &aud) == nil
}
