// Package parameterstore is the backend of AWS Systems Manager Parameter
// Store parameters (objectType ssmparameter): GetParameters, ten names a
// call (the most it takes), SecureString parameters decrypted, with a pod
// identity's credentials. provider/fetch keeps what it reads per
// (identity, region, batch of parameters) for the freshness window, so
// many pods of one SecretProviderClass cost one call per batch per window.
// The unit is the batch because every pod of a SecretProviderClass asks
// for the same one.
package parameterstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	smithy "github.com/aws/smithy-go"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
)

// API is the one Parameter Store call the provider makes; the role needs
// ssm:GetParameters (and kms:Decrypt for SecureString parameters under a
// customer managed key).
type API interface {
	GetParameters(ctx context.Context, in *ssm.GetParametersInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
}

var _ API = (*ssm.Client)(nil)

// BatchSize is the most names one GetParameters call takes.
const BatchSize = 10

// Info is the backend's description.
var Info = backend.Info{
	Service: "SSM",
	Name:    "Parameter Store",
	Noun:    "parameter",
	Cache:   "parameters",
	Batch:   BatchSize,
	Call:    "GetParameters",
	Actions: []string{"ssm:GetParameters"},
	Resource: func(partition, region, account, name string) string {
		return fmt.Sprintf("arn:%s:ssm:%s:%s:parameter/%s", partition, region, account, strings.TrimPrefix(name, "/"))
	},
	What: func(refs []backend.Ref) string { return parameters(selectors(refs)) },
	LogFields: func(refs []backend.Ref) []any {
		// Selectors hold no comma: data logged whole, never split back.
		return []any{"parameters", strings.Join(selectors(refs), ",")}
	},
	StaleLog: "serving the last good values of parameters: fetching them again failed transiently (--stale-if-error)",
	Outage:   backend.Outage,
}

// Reader reads parameters.
type Reader struct{ api API }

var _ backend.Reader = Reader{}

// New returns the Reader over api.
func New(api API) Reader { return Reader{api: api} }

func selectors(refs []backend.Ref) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.Selector()
	}
	return out
}

// Read reads refs in one GetParameters call, each as a version whose
// VersionID is the parameter's version number. All or nothing: any
// missing parameter fails the read, naming every one that is missing.
func (r Reader) Read(ctx context.Context, region string, refs []backend.Ref, creds aws.Credentials) ([]*object.Version, error) {
	names := selectors(refs)
	out, err := r.api.GetParameters(ctx, &ssm.GetParametersInput{Names: names, WithDecryption: aws.Bool(true)}, func(o *ssm.Options) {
		o.Region = region
		o.Credentials = awscreds.StaticCredentialsProvider{Value: creds}
	})
	if err != nil {
		return nil, err
	}
	if len(out.InvalidParameters) > 0 {
		missing := slices.Clone(out.InvalidParameters)
		slices.Sort(missing)
		merr := mounterr.New(mounterr.NotFound, "%s %s not found in region %s: check objectName, objectVersion and objectVersionLabel and the region (SecretProviderClass region, AWS_REGION or the node's topology.kubernetes.io/region label); a parameter the role may not read fails with AccessDeniedException instead",
			parameters(missing), wasWere(missing), region)
		if m := missingRefs(region, refs, names, out.InvalidParameters); m != nil {
			merr.Err = m
		}
		return nil, merr
	}
	// Each parameter under its name and its ARN with the selector it
	// answers: a parameter may be asked for by either.
	bySelector := make(map[string]*object.Version, len(names))
	for _, p := range out.Parameters {
		v, err := version(p)
		if err != nil {
			return nil, err
		}
		sel := aws.ToString(p.Selector)
		bySelector[aws.ToString(p.Name)+sel] = v
		if arn := aws.ToString(p.ARN); arn != "" {
			bySelector[arn+sel] = v
		}
	}
	got := make([]*object.Version, len(names))
	var unanswered []string
	for i, n := range names {
		if got[i] = bySelector[n]; got[i] == nil {
			unanswered = append(unanswered, n)
		}
	}
	if len(unanswered) > 0 {
		return nil, mounterr.New(mounterr.Internal, "Parameter Store answered GetParameters in %s without %s and without listing it as invalid", region, parameters(unanswered))
	}
	return got, nil
}

// missingRefs are the refs whose selectors (names, in their order)
// GetParameters listed as invalid; nil when it listed one that was not
// asked for: what is missing is then not known.
func missingRefs(region string, refs []backend.Ref, names, invalid []string) *backend.MissingError {
	m := &backend.MissingError{Region: region}
	for i, n := range names {
		if slices.Contains(invalid, n) {
			m.Refs = append(m.Refs, refs[i])
		}
	}
	for _, n := range invalid {
		if !slices.Contains(names, n) {
			return nil
		}
	}
	return m
}

// version is a parameter as the files stage reads it.
func version(p types.Parameter) (*object.Version, *mounterr.Error) {
	name := aws.ToString(p.Name)
	v := aws.ToString(p.Value)
	if len(v) > object.MaxValueBytes {
		return nil, mounterr.New(mounterr.Invalid, "parameter %s is %d bytes, over the %d bytes the provider reads: check the endpoint the provider calls (AWS_ENDPOINT_URL)",
			name, len(v), object.MaxValueBytes)
	}
	// A StringList is written as Parameter Store holds it: the items
	// joined by commas, as ASCP writes it.
	return &object.Version{ARN: aws.ToString(p.ARN), Name: name, VersionID: strconv.FormatInt(p.Version, 10), Value: []byte(v)}, nil
}

// Explain reads a failed GetParameters of refs in region.
func (r Reader) Explain(region string, refs []backend.Ref, err error) *mounterr.Error {
	merr := getErrors.Error(call{region: region, names: selectors(refs)}, err)
	var apiErr smithy.APIError
	if len(refs) == 1 && merr.Kind == mounterr.NotFound && errors.As(err, &apiErr) {
		// The answer names no parameter: it is the one asked for only in
		// a read of one.
		merr.Err = &backend.MissingError{Region: region, Refs: []backend.Ref{refs[0]}, Err: merr.Err}
	}
	return merr
}

// parameters names one or more parameters: "parameter a", "parameters a, b".
func parameters(names []string) string {
	if len(names) == 1 {
		return "parameter " + names[0]
	}
	return "parameters " + strings.Join(names, ", ")
}

func wasWere(names []string) string {
	if len(names) == 1 {
		return "was"
	}
	return "were"
}

// call is what one GetParameters call was about, for its error messages.
type call struct {
	region string
	names  []string
}

// getErrors is how Parameter Store failures read in the pod's events.
var getErrors = mounterr.AWSTable[call]{
	Call: func(c call) string {
		return "Parameter Store GetParameters for " + strings.Join(c.names, ", ") + " in " + c.region
	},
	Rules: []mounterr.AWSRule[call]{
		{Codes: []string{"AccessDeniedException"}, Kind: mounterr.Denied, Msg: func(c call, reason string) string {
			return fmt.Sprintf("access to %s in %s was denied (%s): the role's IAM policy must allow ssm:GetParameters on %s, and kms:Decrypt on the KMS key of SecureString parameters under a customer managed key",
				parameters(c.names), c.region, reason, resources(c))
		}},
		{Codes: []string{"InvalidKeyId"}, Kind: mounterr.Denied, Msg: func(c call, reason string) string {
			return fmt.Sprintf("a SecureString parameter of %s in %s could not be decrypted (%s): the role needs kms:Decrypt on the parameter's KMS key, and the key must be enabled",
				strings.Join(c.names, ", "), c.region, reason)
		}},
		{Codes: []string{"ParameterNotFound", "ParameterVersionNotFound"}, Kind: mounterr.NotFound, Msg: func(c call, reason string) string {
			return fmt.Sprintf("a parameter of %s was not found in region %s (%s): check objectName, objectVersion and objectVersionLabel and the region",
				strings.Join(c.names, ", "), c.region, reason)
		}},
		{Codes: []string{"ValidationException"}, Kind: mounterr.Invalid, Msg: func(c call, reason string) string {
			return fmt.Sprintf("Parameter Store rejected the request for %s (%s): check objectName, objectVersion and objectVersionLabel",
				strings.Join(c.names, ", "), reason)
		}},
		{Codes: []string{"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"}, Kind: mounterr.Unauthenticated, Msg: func(c call, reason string) string {
			return fmt.Sprintf("Parameter Store did not accept the role credentials for %s (%s)", strings.Join(c.names, ", "), reason)
		}},
	},
}

// resources is the IAM resource pattern of the parameters of c: ARNs as
// given, names as arn:aws:ssm:REGION:ACCOUNT_ID:parameter/NAME.
func resources(c call) string {
	out := make([]string, len(c.names))
	for i, n := range c.names {
		if j := strings.LastIndex(n, ":"); j >= 0 && !strings.HasPrefix(n, "arn:") {
			n = n[:j] // name:version or name:label
		} else if strings.HasPrefix(n, "arn:") && strings.Count(n, ":") > 5 {
			n = n[:strings.LastIndex(n, ":")]
		}
		if strings.HasPrefix(n, "arn:") {
			out[i] = n
			continue
		}
		out[i] = "arn:" + identity.Partition(c.region) + ":ssm:" + c.region + ":ACCOUNT_ID:parameter/" + strings.TrimPrefix(n, "/")
	}
	return strings.Join(slices.Compact(out), ", ")
}
