package identity

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsfake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/podagent"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

// agentStandIn answers as the EKS Pod Identity Agent: credentials for the
// Authorization header it is given, or status with a JSON error.
type agentStandIn struct {
	*httptest.Server
	mu     sync.Mutex
	tokens []string
	status []int  // answered in turn, then 200
	code   string // of the errors; empty: AccessDeniedException
}

func newAgent(t *testing.T, status ...int) *agentStandIn {
	a := &agentStandIn{status: status}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.tokens = append(a.tokens, r.Header.Get("Authorization"))
		st := http.StatusOK
		if len(a.status) > 0 {
			st, a.status = a.status[0], a.status[1:]
		}
		n := len(a.tokens)
		code := a.code
		a.mu.Unlock()
		if code == "" {
			code = "AccessDeniedException"
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/v1/credentials" || r.Method != http.MethodGet {
			st = http.StatusNotFound
		}
		w.WriteHeader(st)
		if st != http.StatusOK {
			_ = json.NewEncoder(w).Encode(map[string]string{"code": code, "message": "no association for the service account"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"AccessKeyId": "ASIAAGENT" + string(rune('0'+n)), "SecretAccessKey": "secret", "Token": "session",
			"AccountId": "111122223333", "Expiration": time.Now().Add(6 * time.Hour).UTC().Format(time.RFC3339),
		})
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *agentStandIn) url() string { return a.URL + "/v1/credentials" }

func (a *agentStandIn) Tokens() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.tokens...)
}

var podIdentity = Identity{Source: PodIdentity, Namespace: "pmp", ServiceAccount: "pmp-sa", Region: "eu-west-1"}

func TestPodIdentityCredentials(t *testing.T) {
	agent := newAgent(t)
	api := &awsfake.STS{}
	c := NewCredentials(api, CredentialsConfig{Retry: agentRetry, RefreshLead: 5 * time.Minute, Cache: true, CacheSize: 8, Agent: NewAgent(agent.url(), "")})
	ctx := context.Background()
	creds, fresh, err := c.Get(ctx, podIdentity, "the-pod-identity-token")
	if err != nil || !fresh {
		t.Fatalf("Get = %v, fresh %v", err, fresh)
	}
	if creds.AccessKeyID != "ASIAAGENT1" || !creds.CanExpire || time.Until(creds.Expires) < 5*time.Hour {
		t.Errorf("credentials = %s, expire %s", creds.AccessKeyID, creds.Expires)
	}
	if _, fresh, _ := c.Get(ctx, podIdentity, "the-pod-identity-token"); fresh {
		t.Error("second Get asked the agent again: want the cached credentials")
	}
	other := podIdentity
	other.ServiceAccount = "other-sa"
	if got, _, _ := c.Get(ctx, other, "another-token"); got.AccessKeyID == creds.AccessKeyID {
		t.Error("another service account got the first one's credentials")
	}
	irsa := podIdentity
	irsa.Source, irsa.RoleARN = IRSA, "arn:aws:iam::123456789012:role/pmp"
	if podIdentity.Key() == irsa.Own().Key() {
		t.Error("an IRSA identity has the key of the Pod Identity one")
	}
	if diff := strings.Join(agent.Tokens(), ","); diff != "the-pod-identity-token,another-token" {
		t.Errorf("agent saw Authorization %q, want each pod's token once", diff)
	}
	if api.Exchanges() != 0 {
		t.Errorf("STS AssumeRoleWithWebIdentity called %d times for Pod Identity", api.Exchanges())
	}
}

func TestPodIdentityAddresses(t *testing.T) {
	tests := []struct {
		name       string
		addr       AddressType
		v4Down     bool
		wantV4     int
		wantV6     int
		wantFailed bool
	}{
		{name: "auto asks IPv4", addr: AddressAuto, wantV4: 1},
		{name: "auto falls back to IPv6 when IPv4 cannot be reached", addr: AddressAuto, v4Down: true, wantV6: 1},
		{name: "ipv6 asks only IPv6", addr: AddressIPv6, wantV6: 1},
		{name: "ipv4 asks only IPv4", addr: AddressIPv4, wantV4: 1},
		{name: "ipv4 unreachable does not fall back", addr: AddressIPv4, v4Down: true, wantFailed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v4, v6 := newAgent(t), newAgent(t)
			v4URL := v4.url()
			if tt.v4Down {
				v4URL = podagent.UnreachableURL(t)
			}
			c := NewCredentials(&awsfake.STS{}, CredentialsConfig{Retry: agentRetry, Cache: true, CacheSize: 8, Agent: NewAgent(v4URL, v6.url())})
			id := podIdentity
			id.Address = tt.addr
			_, _, err := c.Get(context.Background(), id, "token")
			if (err != nil) != tt.wantFailed {
				t.Fatalf("Get: %v, want failed %v", err, tt.wantFailed)
			}
			if tt.wantFailed && (mounterr.KindOf(err) != mounterr.Transient || !strings.Contains(err.Error(), "eks-pod-identity-agent add-on")) {
				t.Errorf("error = %s (%s), want Transient naming the agent add-on", err, mounterr.KindOf(err))
			}
			if got := len(v4.Tokens()); !tt.v4Down && got != tt.wantV4 {
				t.Errorf("IPv4 agent asked %d times, want %d", got, tt.wantV4)
			}
			if got := len(v6.Tokens()); got != tt.wantV6 {
				t.Errorf("IPv6 agent asked %d times, want %d", got, tt.wantV6)
			}
		})
	}
}

func TestPodIdentityErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    []int
		code      string
		agent     func(t *testing.T, url string) *Agent
		addr      AddressType
		wantKind  mounterr.Kind
		wantFault AgentFault
		wantMsg   []string
		wantCalls int
	}{
		{name: "no association", status: []int{400}, wantKind: mounterr.Denied, wantFault: AgentNoAssociation, wantCalls: 1, wantMsg: []string{
			"refused the credentials of service account pmp/pmp-sa (HTTP 400 AccessDeniedException: no association for the service account)",
			"aws eks create-pod-identity-association --cluster-name CLUSTER --namespace pmp --service-account pmp-sa --role-arn ROLE_ARN",
		}},
		{name: "forbidden", status: []int{403}, wantKind: mounterr.Denied, wantFault: AgentNoAssociation, wantCalls: 1, wantMsg: []string{"HTTP 403"}},
		{name: "the token refused", status: []int{400}, code: "InvalidTokenException", wantKind: mounterr.Unauthenticated, wantFault: AgentTokenRefused, wantCalls: 1,
			wantMsg: []string{"refused the service account token of pmp/pmp-sa (HTTP 400 InvalidTokenException", "audience pods.eks.amazonaws.com"}},
		{name: "the token expired", status: []int{400}, code: "ExpiredTokenException", wantKind: mounterr.Unauthenticated, wantFault: AgentTokenRefused, wantCalls: 1},
		{name: "a 5xx is retried", status: []int{500, 503}, wantCalls: 3},
		{name: "a 429 is retried", status: []int{429}, wantCalls: 2},
		{name: "5xx past the budget", status: []int{500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500},
			wantKind: mounterr.Transient, wantFault: AgentFailing, wantMsg: []string{"kept failing for", "HTTP 500", "eks-pod-identity-agent add-on"}},
		{name: "nothing listens", agent: func(t *testing.T, _ string) *Agent { return NewAgent(podagent.UnreachableURL(t), "") },
			wantKind: mounterr.Transient, wantFault: AgentUnreachable, wantMsg: []string{"eks-pod-identity-agent add-on"}},
		{name: "no agent address", agent: func(*testing.T, string) *Agent { return nil }, wantKind: mounterr.Invalid, wantFault: AgentNoAddress,
			wantMsg: []string{"usePodIdentity", "--pod-identity-agent-url"}},
		{name: "no IPv6 address for ipv6", agent: func(_ *testing.T, u string) *Agent { return NewAgent(u, "") }, addr: AddressIPv6, wantKind: mounterr.Invalid, wantFault: AgentNoAddress,
			wantMsg: []string{"preferredAddressType ipv6", "--pod-identity-agent-url-ipv6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAgent(t, tt.status...)
			a.code = tt.code
			agent := NewAgent(a.url(), "")
			if tt.agent != nil {
				agent = tt.agent(t, a.url())
			}
			retry := fastRetry
			if tt.wantFault == AgentUnreachable {
				retry = agentRetry
			}
			c := NewCredentials(&awsfake.STS{}, CredentialsConfig{Retry: retry, Cache: true, CacheSize: 8, Agent: agent})
			id := podIdentity
			id.Address = tt.addr
			_, _, err := c.Get(context.Background(), id, "secret-token-value")
			if tt.wantKind == 0 && len(tt.wantMsg) == 0 {
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
			} else {
				if err == nil {
					t.Fatal("Get succeeded")
				}
				if got := mounterr.KindOf(err); got != tt.wantKind {
					t.Errorf("kind = %s, want %s (%v)", got, tt.wantKind, err)
				}
				var ae *AgentError
				if !errors.As(err, &ae) || ae.Fault != tt.wantFault {
					t.Errorf("cause = %#v, want an AgentError of fault %d (%v)", ae, tt.wantFault, err)
				}
				for _, w := range tt.wantMsg {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error = %s\nwant it to contain %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "secret-token-value") {
					t.Error("the error quotes the token")
				}
			}
			if tt.wantCalls > 0 && len(a.Tokens()) != tt.wantCalls {
				t.Errorf("agent asked %d times, want %d", len(a.Tokens()), tt.wantCalls)
			}
		})
	}
}

// TestPodIdentityTokenGoesNowhereElse: a redirect from the agent is not
// followed, so the token is sent to the agent's address only.
func TestPodIdentityTokenGoesNowhereElse(t *testing.T) {
	elsewhere := newAgent(t)
	redirect := httptest.NewServer(http.RedirectHandler(elsewhere.url(), http.StatusTemporaryRedirect))
	defer redirect.Close()
	c := NewCredentials(&awsfake.STS{}, CredentialsConfig{Retry: agentRetry, Agent: NewAgent(redirect.URL+"/v1/credentials", "")})
	if _, _, err := c.Get(context.Background(), podIdentity, "token"); err == nil {
		t.Error("Get succeeded through a redirect")
	}
	if n := len(elsewhere.Tokens()); n != 0 {
		t.Errorf("the redirect's target got the token %d times", n)
	}
}

// agentRetry gives each call to a stand-in agent on loopback room for a
// busy machine (fastRetry's 50ms attempts are not), and still fails an
// unreachable one within a second.
var agentRetry = retry.Policy{Budget: time.Second, AttemptTimeout: time.Second, BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond}
