// Package secretsmanager is the backend of AWS Secrets Manager secrets
// (objectType secretsmanager): GetSecretValue, one secret a call, with a
// pod identity's credentials. provider/fetch keeps what it reads per
// (identity, secret, version) for a freshness window, so the driver's
// republishes of many pods cost one GetSecretValue per window instead of
// one per pod per republish.
package secretsmanager

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithy "github.com/aws/smithy-go"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
)

// API is the one Secrets Manager call the provider makes. The PMP IAM
// policy grants GetSecretValue and DescribeSecret only.
type API interface {
	GetSecretValue(ctx context.Context, in *sm.GetSecretValueInput, optFns ...func(*sm.Options)) (*sm.GetSecretValueOutput, error)
}

var _ API = (*sm.Client)(nil)

// Info is the backend's description.
var Info = backend.Info{
	Service: "Secrets Manager",
	Name:    "Secrets Manager",
	Noun:    "secret",
	Cache:   "secrets",
	Batch:   1,
	Call:    "GetSecretValue",
	Actions: []string{"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
	Resource: func(partition, region, account, name string) string {
		// "?" matches one character: the random suffix of the ARN, and no
		// other secret whose name merely starts with this one.
		return fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:%s-??????", partition, region, account, name)
	},
	What:      func(refs []backend.Ref) string { return "secret " + refs[0].Name },
	LogFields: func(refs []backend.Ref) []any { return []any{"secret", refs[0].Name} },
	StaleLog:  "serving the last good version of a secret: fetching it again failed transiently (--stale-if-error)",
	Outage:    backend.Outage,
}

// Reader reads secrets.
type Reader struct{ api API }

var _ backend.Reader = Reader{}

// New returns the Reader over api.
func New(api API) Reader { return Reader{api: api} }

// Read reads refs[0], the one secret of a batch.
func (r Reader) Read(ctx context.Context, region string, refs []backend.Ref, creds aws.Credentials) ([]*object.Version, error) {
	ref := refs[0]
	in := &sm.GetSecretValueInput{SecretId: aws.String(ref.Name)}
	if ref.Version != "" {
		in.VersionId = aws.String(ref.Version)
	}
	if ref.Label != "" {
		in.VersionStage = aws.String(ref.Label)
	}
	out, err := r.api.GetSecretValue(ctx, in, func(o *sm.Options) {
		o.Region = region
		o.Credentials = awscreds.StaticCredentialsProvider{Value: creds}
	})
	if err != nil {
		return nil, err
	}
	s := &object.Version{ARN: aws.ToString(out.ARN), Name: aws.ToString(out.Name), VersionID: aws.ToString(out.VersionId)}
	switch {
	case out.SecretString != nil:
		s.Value = []byte(*out.SecretString)
	case out.SecretBinary != nil:
		s.Value = out.SecretBinary
	}
	if s.VersionID == "" {
		return nil, mounterr.New(mounterr.Internal, "Secrets Manager answered GetSecretValue for %s without a VersionId", ref.Name)
	}
	if len(s.Value) > object.MaxValueBytes {
		// Refused before it is kept, flattened or copied into files.
		return nil, mounterr.New(mounterr.Invalid, "secret %s is %d bytes, over the %d bytes Secrets Manager holds in a secret: check the endpoint the provider calls (AWS_ENDPOINT_URL)",
			ref.Name, len(s.Value), object.MaxValueBytes)
	}
	return []*object.Version{s}, nil
}

// Explain reads a failed GetSecretValue of refs[0] in region.
func (r Reader) Explain(region string, refs []backend.Ref, err error) *mounterr.Error {
	merr := getErrors.Error(call{region: region, ref: refs[0]}, err)
	var apiErr smithy.APIError
	if merr.Kind == mounterr.NotFound && errors.As(err, &apiErr) && apiErr.ErrorCode() == notFound {
		// The secret (or the version asked for) does not exist: not a
		// secret scheduled for deletion (InvalidRequestException).
		merr.Err = &backend.MissingError{Region: region, Refs: []backend.Ref{refs[0]}, Err: merr.Err}
	}
	return merr
}

// notFound is Secrets Manager's answer for a secret, or a version of
// one, that does not exist.
const notFound = "ResourceNotFoundException"

// call is what one GetSecretValue was about, for its error messages.
type call struct {
	region string
	ref    backend.Ref
}

// getErrors is how Secrets Manager failures read in the pod's events:
// what was refused or missing, and which setting or policy to fix.
var getErrors = mounterr.AWSTable[call]{
	Call: func(c call) string { return "Secrets Manager GetSecretValue for " + c.ref.Name + " in " + c.region },
	Rules: []mounterr.AWSRule[call]{
		{Codes: []string{"AccessDeniedException"}, Kind: mounterr.Denied, Msg: func(c call, _ string) string {
			return fmt.Sprintf("access to secret %s in %s was denied (AccessDeniedException): the role's IAM policy must allow secretsmanager:GetSecretValue and secretsmanager:DescribeSecret on arn:aws:secretsmanager:%s:ACCOUNT_ID:secret:%s*",
				c.ref.Name, c.region, c.region, secretPattern(c.ref.Name))
		}},
		{Codes: []string{notFound}, Kind: mounterr.NotFound, Msg: func(c call, _ string) string {
			what := "secret"
			if c.ref.Version != "" || c.ref.Label != "" {
				what = "secret version " + c.ref.Version + c.ref.Label + " of"
			}
			return fmt.Sprintf("%s %s was not found in region %s: check objectName (and objectVersion/objectVersionLabel) and the region (SecretProviderClass region, AWS_REGION or the node's topology.kubernetes.io/region label)",
				what, c.ref.Name, c.region)
		}},
		{Codes: []string{"DecryptionFailure"}, Kind: mounterr.Denied, Msg: func(c call, _ string) string {
			return fmt.Sprintf("secret %s could not be decrypted (DecryptionFailure): the role needs kms:Decrypt on the secret's KMS key", c.ref.Name)
		}},
		{Codes: []string{"InvalidRequestException"}, Kind: mounterr.NotFound, Msg: func(c call, reason string) string {
			return fmt.Sprintf("secret %s cannot be read (%s): it may be scheduled for deletion; restore it or point objectName at another secret", c.ref.Name, reason)
		}},
		{Codes: []string{"InvalidParameterException"}, Kind: mounterr.Invalid, Msg: func(c call, reason string) string {
			return fmt.Sprintf("Secrets Manager rejected the request for %s (%s): check objectName, objectVersion and objectVersionLabel", c.ref.Name, reason)
		}},
		{Codes: []string{"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"}, Kind: mounterr.Unauthenticated, Msg: func(c call, reason string) string {
			return fmt.Sprintf("Secrets Manager did not accept the role credentials for %s (%s)", c.ref.Name, reason)
		}},
	},
}

// secretPattern is the resource pattern for a secret name or ARN.
func secretPattern(id string) string {
	if i := strings.Index(id, ":secret:"); i >= 0 {
		return id[i+len(":secret:"):]
	}
	return id
}
