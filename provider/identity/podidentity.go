package identity

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

// PodIdentityAudience is the audience of the pod token the EKS Pod
// Identity Agent takes.
const PodIdentityAudience = "pods.eks.amazonaws.com"

// The EKS Pod Identity Agent's addresses on every node: the defaults of
// the provider's --pod-identity-agent-url flags.
const (
	DefaultAgentIPv4URL = "http://169.254.170.23/v1/credentials"
	DefaultAgentIPv6URL = "http://[fd00:ec2::23]/v1/credentials"
)

// Agent asks the EKS Pod Identity Agent for a pod's credentials, sending
// the pod's token as the Authorization header, as the SDKs do inside the
// pod (the container credentials provider).
type Agent struct {
	ipv4, ipv6 string
	// client holds nothing identity-specific (pooled connections to the
	// node's agent; each pod's token goes with its own request only).
	client *http.Client
}

// NewAgent returns a client of the agent at its IPv4 and IPv6 URLs; an
// empty URL is an address not asked.
func NewAgent(ipv4URL, ipv6URL string) *Agent {
	return &Agent{ipv4: ipv4URL, ipv6: ipv6URL, client: &http.Client{
		// No proxy, whatever HTTPS_PROXY says (set for AWS's endpoints):
		// the pod's token goes to the node's agent and nowhere else.
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 8,
			IdleConnTimeout:     90 * time.Second,
		},
		// A redirect would send the token elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// agentURL is one address of the agent.
type agentURL struct{ family, url string }

func (a *Agent) urls(addr AddressType) []agentURL {
	v4, v6 := agentURL{"IPv4", a.ipv4}, agentURL{"IPv6", a.ipv6}
	switch addr {
	case AddressIPv4:
		return []agentURL{v4}
	case AddressIPv6:
		return []agentURL{v6}
	}
	return []agentURL{v4, v6}
}

// serves reports whether the agent has an address for addr.
func (a *Agent) serves(addr AddressType) bool {
	if a == nil {
		return false
	}
	for _, u := range a.urls(addr) {
		if u.url != "" {
			return true
		}
	}
	return false
}

// credentials asks the agent once, at the address addr prefers; auto
// asks IPv6 only when IPv4 could not be reached (no answer at all).
func (a *Agent) credentials(ctx context.Context, token string, addr AddressType) (aws.Credentials, string, error) {
	var last error
	var lastURL string
	for _, u := range a.urls(addr) {
		if u.url == "" {
			continue
		}
		p := endpointcreds.New(u.url, func(o *endpointcreds.Options) {
			o.HTTPClient = a.client
			o.AuthorizationToken = token
			o.Retryer = aws.NopRetryer{} // provider/retry retries, within the Mount's budget
		})
		creds, err := p.Retrieve(ctx)
		if err == nil {
			return creds, u.url, nil
		}
		last, lastURL = err, u.url
		var send *smithyhttp.RequestSendError
		if !errors.As(err, &send) {
			break // the agent answered: no other address would say otherwise
		}
	}
	return aws.Credentials{}, lastURL, last
}

// agentTransient reports whether an agent failure may pass: no answer, a
// 5xx or a 429.
func agentTransient(err error) bool {
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && status.HTTPStatusCode() == http.StatusTooManyRequests {
		return true
	}
	return retry.Transient(err)
}

// fromAgent returns id's credentials from the agent.
func (c *Credentials) fromAgent(ctx context.Context, id Identity, token string) (aws.Credentials, time.Duration, error) {
	if !c.agent.serves(id.Address) {
		return aws.Credentials{}, 0, &mounterr.Error{Kind: mounterr.Invalid, Err: &AgentError{Fault: AgentNoAddress}, Msg: fmt.Sprintf(
			"the SecretProviderClass sets usePodIdentity, but the provider has no EKS Pod Identity Agent address for preferredAddressType %s: set --pod-identity-agent-url (and --pod-identity-agent-url-ipv6), or use IRSA", addressName(id.Address))}
	}
	var creds aws.Credentials
	var url string
	err := retry.DoIf(ctx, c.retry, agentTransient, func(ctx context.Context) error {
		var err error
		creds, url, err = c.agent.credentials(ctx, token, id.Address)
		return err
	})
	if err != nil {
		merr := agentError(id, url, err)
		return aws.Credentials{}, merr.Kind.NegativeTTL(c.negativeTTL), merr
	}
	if creds.AccessKeyID == "" || !creds.CanExpire {
		return aws.Credentials{}, 0, &mounterr.Error{Kind: mounterr.Internal, Err: &AgentError{Fault: AgentFailing, URL: url}, Msg: fmt.Sprintf(
			"the EKS Pod Identity Agent at %s answered for %s/%s without credentials or their expiry", url, id.Namespace, id.ServiceAccount)}
	}
	creds.Source = "pmp-secrets-provider/EKSPodIdentity"
	return creds, time.Until(creds.Expires) - c.refreshLead, nil
}

// AgentFault is which link of the EKS Pod Identity chain broke when the
// agent gave no credentials: what the pod's event, and doctor, tell the
// user to fix.
type AgentFault int

const (
	// AgentFailing: the agent answered 5xx or 429, or an answer without
	// credentials.
	AgentFailing AgentFault = iota
	// AgentNoAddress: the provider has no agent URL for the
	// SecretProviderClass's preferredAddressType.
	AgentNoAddress
	// AgentUnreachable: nothing answered at the agent's address
	// (connection refused, no route, timeout): the eks-pod-identity-agent
	// add-on does not run on the node.
	AgentUnreachable
	// AgentNoAssociation: the agent refused the service account (a 4xx
	// but those of the token): it has no EKS Pod Identity association, or
	// the agent may not use it.
	AgentNoAssociation
	// AgentTokenRefused: the agent refused the pod's token as invalid or
	// expired (EKS Auth's InvalidTokenException, ExpiredTokenException).
	AgentTokenRefused
)

// AgentError is why the EKS Pod Identity Agent gave no credentials: the
// cause of the mounterr.Error a Pod Identity Credentials.Get returns.
type AgentError struct {
	Fault AgentFault
	// URL is the address asked last; empty for AgentNoAddress.
	URL string
	// Err is the agent's answer or the failure to reach it.
	Err error
}

func (e *AgentError) Error() string {
	var dial *net.OpError
	switch {
	case e.Err == nil:
		return "no EKS Pod Identity Agent address"
	case e.Fault == AgentUnreachable && errors.As(e.Err, &dial):
		return dial.Error() // "dial tcp ADDRESS: connect: connection refused"
	}
	return agentReason(e.Err)
}

func (e *AgentError) Unwrap() error { return e.Err }

// agentTokenCodes are the codes with which EKS Auth, through the agent,
// refuses the pod's token itself.
var agentTokenCodes = []string{"InvalidTokenException", "ExpiredTokenException"}

// agentFault classifies a failure of asking the agent.
func agentFault(err error) AgentFault {
	var ex *retry.ExhaustedError
	if errors.As(err, &ex) {
		err = ex.Last
	}
	var send *smithyhttp.RequestSendError
	var status interface{ HTTPStatusCode() int }
	var apiErr smithy.APIError
	switch {
	case errors.As(err, &send):
		return AgentUnreachable
	case errors.As(err, &status) && status.HTTPStatusCode() >= 400 && status.HTTPStatusCode() < 500 && status.HTTPStatusCode() != http.StatusTooManyRequests:
		if errors.As(err, &apiErr) && slices.Contains(agentTokenCodes, apiErr.ErrorCode()) {
			return AgentTokenRefused
		}
		return AgentNoAssociation
	}
	return AgentFailing
}

func addressName(a AddressType) string {
	switch a {
	case AddressIPv4:
		return "ipv4"
	case AddressIPv6:
		return "ipv6"
	}
	return "auto"
}

// agentError is how an agent failure reads in the pod's events.
func agentError(id Identity, url string, err error) *mounterr.Error {
	who := id.Namespace + "/" + id.ServiceAccount
	cause := &AgentError{Fault: agentFault(err), URL: url, Err: err}
	switch cause.Fault {
	case AgentNoAssociation:
		return &mounterr.Error{Kind: mounterr.Denied, Err: cause, Msg: fmt.Sprintf(
			"the EKS Pod Identity Agent at %s refused the credentials of service account %s (%s): create an EKS Pod Identity association for it (aws eks create-pod-identity-association --cluster-name CLUSTER --namespace %s --service-account %s --role-arn ROLE_ARN) whose role trusts pods.eks.amazonaws.com with sts:AssumeRole and sts:TagSession",
			url, who, agentReason(err), id.Namespace, id.ServiceAccount)}
	case AgentTokenRefused:
		return &mounterr.Error{Kind: mounterr.Unauthenticated, Err: cause, Msg: fmt.Sprintf(
			"the EKS Pod Identity Agent at %s refused the service account token of %s (%s): it takes only tokens of its own EKS cluster for audience %s, which the kubelet issues (tokenRequests of the CSIDriver secrets-store.csi.k8s.io)",
			url, who, agentReason(err), PodIdentityAudience)}
	}
	var ex *retry.ExhaustedError
	if errors.As(err, &ex) {
		return &mounterr.Error{Kind: mounterr.Transient, Err: cause, Msg: fmt.Sprintf(
			"the EKS Pod Identity Agent at %s kept failing for %s (%s); this is transient: the kubelet retries the mount. Check that the eks-pod-identity-agent add-on runs on this node",
			url, ex.Elapsed.Round(time.Second), agentReason(ex.Last))}
	}
	return &mounterr.Error{Kind: mounterr.Transient, Err: cause, Msg: fmt.Sprintf(
		"asking the EKS Pod Identity Agent at %s for the credentials of %s failed (transient; the kubelet retries): %v", url, who, err)}
}

// agentReason is the agent's HTTP status, code and message, or the
// failure's text.
func agentReason(err error) string {
	var apiErr smithy.APIError
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &apiErr) && errors.As(err, &status) {
		r := fmt.Sprintf("HTTP %d", status.HTTPStatusCode())
		if apiErr.ErrorCode() != "" {
			r += " " + apiErr.ErrorCode()
		}
		if apiErr.ErrorMessage() != "" {
			r += ": " + fmt.Sprintf("%.256s", apiErr.ErrorMessage()) // a plain-text answer is all message
		}
		return r
	}
	return mounterr.Reason(err)
}
