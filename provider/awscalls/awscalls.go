// Package awscalls counts every AWS call the provider makes, at the SDK's
// edge: each attempt of each operation of each client built from an
// instrumented aws.Config, by service, operation, outcome (retry.Outcome)
// and AWS error code, and the attempts that were retries (retry.Do).
package awscalls

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	sdkretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	smithy "github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
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
	for c := range sdkretry.DefaultThrottleErrorCodes {
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
	outcome := retry.Outcome(err)
	m.requests.WithLabelValues(service, op, outcome, codeOf(outcome, err)).Inc()
	if retry.IsRetry(ctx) {
		m.retries.WithLabelValues(service, op).Inc()
	}
	return out, md, err
}

// codeOf is the code label of a call that ended in outcome with err: the
// AWS error code of an answer, mapped to OtherCode when it is not a known
// one; empty when the call succeeded or got no answer, or was canceled.
func codeOf(outcome string, err error) string {
	switch outcome {
	case retry.OutcomeOK, retry.OutcomeNetwork, retry.OutcomeTimeout, retry.OutcomeCanceled:
		return ""
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return ""
	}
	if code := apiErr.ErrorCode(); knownCodes[code] {
		return code
	}
	return OtherCode
}
