package identity

import (
	"context"
	"errors"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	smithy "github.com/aws/smithy-go"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/retry"
)

// PodCredentials give an AWS call one identity's credentials (a Mount's,
// see Credentials). They are asked for only when a call is made, so a
// cached value costs no STS call.
type PodCredentials interface {
	// Get returns the identity's credentials; fresh says they were
	// exchanged with STS for this call, not taken from a cache.
	Get(ctx context.Context) (creds aws.Credentials, fresh bool, err error)
	// Renew drops rejected, credentials AWS refused, from any cache and
	// exchanges the pod's token again.
	Renew(ctx context.Context, rejected aws.Credentials) (aws.Credentials, error)
}

// rejectedCredentials are the codes with which AWS refuses the credentials
// themselves rather than what they ask for: expired or revoked sessions, a
// session token AWS no longer knows. AccessDeniedException is among them
// because revoking a role's sessions (IAM "revoke active sessions") denies
// every call of the credentials issued before it. Cached credentials
// refused so are dropped and the token exchanged once more.
var rejectedCredentials = []string{
	"ExpiredTokenException", "ExpiredToken", "UnrecognizedClientException", "UnrecognizedClient",
	"InvalidSignatureException", "InvalidClientTokenId", "AccessDeniedException",
}

// CredentialsError is a failure to get the credentials a call is made
// with, not a failure of the call: Err is the identity stage's own error.
type CredentialsError struct{ Err error }

func (e *CredentialsError) Error() string { return e.Err.Error() }
func (e *CredentialsError) Unwrap() error { return e.Err }

// DoAs runs call through retry.Do with c's credentials. When AWS refuses cached
// credentials themselves (see rejectedCredentials), it renews them once
// and runs call again. Failing to get credentials is a *CredentialsError.
// Secrets Manager and Parameter Store calls share it, so both treat a
// revoked session the same way.
func DoAs(ctx context.Context, p retry.Policy, c PodCredentials, call func(ctx context.Context, creds aws.Credentials) error) error {
	creds, fresh, err := c.Get(ctx)
	if err != nil {
		return &CredentialsError{Err: err}
	}
	run := func(creds aws.Credentials) error {
		return retry.Do(ctx, p, func(ctx context.Context) error { return call(ctx, creds) })
	}
	err = run(creds)
	var apiErr smithy.APIError
	if err != nil && !fresh && errors.As(err, &apiErr) && slices.Contains(rejectedCredentials, apiErr.ErrorCode()) {
		if creds, err = c.Renew(ctx, creds); err != nil {
			return &CredentialsError{Err: err}
		}
		err = run(creds)
	}
	return err
}
