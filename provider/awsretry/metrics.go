package awsretry

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	smithy "github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of one AWS call, the outcome label of pmp_aws_requests_total.
const (
	OutcomeOK          = "ok"
	OutcomeThrottled   = "throttled"    // a throttling code or HTTP 429
	OutcomeClientError = "client_error" // another 4xx: the code label says which
	OutcomeServerError = "server_error" // 5xx, or an answer that could not be read
	OutcomeNetwork     = "network"      // no HTTP answer: refused, reset, DNS, TLS
	OutcomeTimeout     = "timeout"      // the attempt's own timeout, or the Mount's budget, ran out
	OutcomeCanceled    = "canceled"     // the caller went away
)

// OtherCode is the code label of an AWS error code not in knownCodes: the
// label must stay a small fixed set whatever a server answers.
const OtherCode = "other"

// knownCodes are the AWS error codes STS, Secrets Manager and Parameter
// Store answer the provider's three calls with, and the generic ones of every AWS service.
var knownCodes = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range []string{
		// STS AssumeRoleWithWebIdentity
		"AccessDenied", "ExpiredTokenException", "IDPCommunicationError", "IDPRejectedClaim",
		"InvalidIdentityToken", "MalformedPolicyDocument", "PackedPolicyTooLarge", "RegionDisabledException",
		"InvalidParameterValue", "ValidationError", "InvalidAction",
		// Secrets Manager GetSecretValue
		"AccessDeniedException", "DecryptionFailure", "InternalServiceError", "InvalidParameterException",
		"InvalidRequestException", "ResourceNotFoundException",
		// Parameter Store GetParameters
		"InternalServerError", "InvalidKeyId", "ParameterNotFound", "ParameterVersionNotFound",
		// every service: signing, credentials, availability
		"ExpiredToken", "IncompleteSignature", "InternalFailure", "InvalidClientTokenId",
		"InvalidSignatureException", "MissingAuthenticationToken", "NotAuthorized", "OptInRequired",
		"RequestExpired", "ServiceUnavailable", "ServiceUnavailableException", "SignatureDoesNotMatch",
		"UnrecognizedClientException", "ValidationException", "RequestTimeout", "RequestTimeoutException",
	} {
		m[c] = true
	}
	for c := range retry.DefaultThrottleErrorCodes {
		m[c] = true
	}
	return m
}()

// Metrics counts AWS calls at the SDK's edge: every attempt of every
// operation of every client made from an instrumented aws.Config.
type Metrics struct {
	requests *prometheus.CounterVec
	retries  *prometheus.CounterVec
}

// NewMetrics registers the AWS call instruments on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pmp_aws_requests_total",
			Help: "AWS API calls (each attempt), by service, operation, outcome (ok, throttled, client_error, server_error, network, timeout, canceled) and AWS error code (empty when ok or without an answer; unknown codes are \"other\").",
		}, []string{"service", "operation", "outcome", "code"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pmp_aws_retries_total",
			Help: "AWS API calls that were retries of a transient failure (throttling, 5xx, network, timeout) within a Mount's retry budget, by service and operation.",
		}, []string{"service", "operation"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.retries} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Instrument makes every client built from cfg count its calls in m.
func (m *Metrics) Instrument(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("PMPCallMetrics", m.count), middleware.Before)
	})
}

// count runs first in the operation's stack, so it sees the call's final
// error: deserialised AWS error, HTTP status or transport failure.
func (m *Metrics) count(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleInitialize(ctx, in)
	service, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
	outcome, code := outcomeOf(err)
	m.requests.WithLabelValues(service, op, outcome, code).Inc()
	if attemptOf(ctx) > 1 {
		m.retries.WithLabelValues(service, op).Inc()
	}
	return out, md, err
}

// outcomeOf classifies the error of one AWS call (nil: ok) and gives its
// AWS error code, mapped to OtherCode when it is not a known one.
func outcomeOf(err error) (outcome, code string) {
	if err == nil {
		return OutcomeOK, ""
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
		if !knownCodes[code] {
			code = OtherCode
		}
	}
	// A call that got no answer still carries an empty response, status 0.
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) && resp.HTTPStatusCode() > 0 {
		status := resp.HTTPStatusCode()
		switch {
		case status == 429 || throttles.IsErrorThrottle(err) == aws.TrueTernary:
			return OutcomeThrottled, code
		case status >= 500:
			return OutcomeServerError, code
		case status >= 400:
			return OutcomeClientError, code
		default: // an answer that was not one: a 2xx the SDK could not read
			return OutcomeServerError, code
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled, ""
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout, ""
	case apiErr != nil: // an AWS error without an HTTP answer: not from the SDK's HTTP clients
		return OutcomeClientError, code
	}
	return OutcomeNetwork, ""
}

// attemptKey marks the context of a retry with its attempt number, for
// count: Do is the one place that knows a call is a retry.
type attemptKey struct{}

func withAttempt(ctx context.Context, attempt int) context.Context {
	return context.WithValue(ctx, attemptKey{}, attempt)
}

func attemptOf(ctx context.Context) int {
	n, _ := ctx.Value(attemptKey{}).(int)
	return n
}
