package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithy "github.com/aws/smithy-go"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/validate"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/secrets"
)

// tokenTTL is how long doctor's service-account token lasts: it is used
// for one STS call.
const tokenTTL = 10 * time.Minute

// requestToken asks the API server for a token of the service account with
// the audience STS accepts, as the kubelet does for the pod. The token is
// never printed.
func (d *Doctor) requestToken(ctx context.Context, t Target, s *steps) string {
	const check = "token"
	var tr tokenRequest
	tr.APIVersion, tr.Kind = "authentication.k8s.io/v1", "TokenRequest"
	tr.Spec.Audiences = []string{d.Audience}
	tr.Spec.ExpirationSeconds = int64(tokenTTL / time.Second)
	err := d.Kube.PostJSON(ctx, "/api/v1"+d.nsPath(t.Namespace)+"/serviceaccounts/"+url.PathEscape(t.ServiceAccount)+"/token", tr, &tr)
	switch {
	case apierrors.IsForbidden(err):
		s.fail(check, Error, fmt.Sprintf("you may not request tokens for service account %s/%s (%s), so doctor cannot test the IRSA chain", t.Namespace, t.ServiceAccount, apiReason(err)),
			"run doctor as a user allowed to create serviceaccounts/token in "+t.Namespace+" (kubectl auth can-i create serviceaccounts/token -n "+t.Namespace+")")
		return ""
	case err != nil:
		s.fail(check, Error, fmt.Sprintf("requesting a token for service account %s/%s: %s", t.Namespace, t.ServiceAccount, apiReason(err)), "")
		return ""
	case tr.Status.Token == "":
		s.fail(check, Error, "the API server answered the TokenRequest without a token", "")
		return ""
	}
	s.ok(check, "the API server issues service account %s/%s a token for audience %s (as the kubelet does for its pods)", t.Namespace, t.ServiceAccount, d.Audience)
	return tr.Status.Token
}

// chain runs the IRSA chain exactly as the provider would for a pod of the
// service account: STS AssumeRoleWithWebIdentity with the token,
// DescribeSecret and GetSecretValue as the role, the Mount itself through
// the provider's own pipeline, and validate on each secret.
func (d *Doctor) chain(ctx context.Context, t Target, req *params.Request, role, token string, s *steps) {
	p := provider.New(d.AWS, d.Kube, provider.Options{
		TokenAudience: d.Audience, Cache: true, SecretTTL: time.Minute, CacheSize: 16, RetryBudget: 10 * time.Second,
	})
	region := req.Region
	if region == "" {
		region = d.AWS.Region
	}
	if region == "" && !allARNs(req.Objects) {
		s.fail("sts", Error, "no AWS region: the SecretProviderClass sets none and doctor has no AWS_REGION (the provider would fall back to its own AWS_REGION, then its node's topology.kubernetes.io/region label)",
			"pass --region, set parameters.region in the SecretProviderClass, or export AWS_REGION")
		return
	}
	id := identity.Identity{RoleARN: role, Namespace: t.Namespace, ServiceAccount: t.ServiceAccount, Region: region}
	if id.Region == "" {
		id.Region = req.Objects[0].Region
	}
	creds, _, err := p.Credentials().Get(ctx, id, token)
	if err != nil {
		s.fail("sts", Error, stsMessage(err), d.trustFix(ctx, t, req, id))
		return
	}
	s.ok("sts", "STS lets %s/%s assume role %s with its token (AssumeRoleWithWebIdentity)", t.Namespace, t.ServiceAccount, role)

	mountable := true
	for i, obj := range req.Objects {
		oid := id
		if obj.Region != "" {
			oid.Region = obj.Region
		}
		objCreds := p.PodCredentials(oid, token)
		if oid.Region != id.Region {
			if creds, _, err = objCreds.Get(ctx); err != nil {
				s.fail("sts", Error, stsMessage(err), d.trustFix(ctx, t, req, oid))
				mountable = false
				continue
			}
		}
		check := fmt.Sprintf("secret[%d]", i)
		if obj.Type == params.SSMParameter {
			// Read by the mount check below, in its GetParameters batch.
			s.skip(check, "parameter %s (Parameter Store) is read by the mount check below, which names it if the role may not read it (ssm:GetParameters)", obj.Name)
			continue
		}
		d.describe(ctx, check, obj, oid.Region, creds, s)
		secret, err := p.Secrets().Get(ctx, oid.Key(), secrets.Ref{ID: obj.Name, VersionID: obj.Version, VersionStage: obj.VersionLabel, Region: oid.Region}, objCreds)
		if err != nil {
			s.fail(check, Error, "GetSecretValue: "+err.Error(), "change what the message names; pmp-secrets-provider policy --secret "+obj.Name+" prints the role's permission policy")
			mountable = false
			continue
		}
		s.ok(check, "role %s reads secret %s (GetSecretValue, version %s)", role, obj.Name, secret.VersionID)
		if obj.Flatten != params.FlattenOff {
			d.validateSecret(check, obj.Name, secret.Value, s)
		}
	}
	if !mountable {
		s.skip("mount", "the Mount would fail on the secret above")
		return
	}
	res, err := p.Mount(ctx, d.mountRequest(t, req, token))
	if err != nil {
		s.fail("mount", Error, "the Mount fails as the pod's would: "+err.Error(), "the message says what to change")
		return
	}
	paths := make([]string, len(res.Files))
	for i, f := range res.Files {
		paths[i] = f.Path
	}
	s.ok("mount", "a pod of %s/%s mounting SecretProviderClass %s gets %d files: %s", t.Namespace, t.ServiceAccount, t.Class, len(paths), strings.Join(paths, ", "))
}

// trustFix is what to do when STS refuses the token: the policy command
// that prints the trust policy bound to the service account, with this
// cluster's issuer (from its OIDC discovery) and the role's account.
func (d *Doctor) trustFix(ctx context.Context, t Target, req *params.Request, id identity.Identity) string {
	issuer := "ISSUER_URL"
	if b, err := d.Kube.OpenIDConfiguration(ctx); err == nil {
		var disc struct {
			Issuer string `json:"issuer"`
		}
		if json.Unmarshal(b, &disc) == nil && disc.Issuer != "" {
			issuer = disc.Issuer
		}
	}
	account := "ACCOUNT_ID"
	if parts := strings.Split(id.RoleARN, ":"); len(parts) >= 6 && parts[4] != "" {
		account = parts[4]
	}
	secret := "SECRET"
	if len(req.Objects) > 0 {
		secret = req.Objects[0].Name
	}
	return fmt.Sprintf("change the trust policy of role %s as the message says; this prints one bound to %s/%s:\n"+
		"pmp-secrets-provider policy --secret %s --region %s --account %s --namespace %s --service-account %s --oidc-issuer %s",
		id.RoleARN, t.Namespace, t.ServiceAccount, secret, id.Region, account, t.Namespace, t.ServiceAccount, issuer)
}

// stsMessage is the provider's message for an STS failure, which names
// STS itself ("STS refused ..."), or says it is one.
func stsMessage(err error) string {
	if msg := err.Error(); strings.HasPrefix(msg, "STS") {
		return msg
	}
	return "STS: " + err.Error()
}

func allARNs(objs []params.Object) bool {
	for _, o := range objs {
		if o.Region == "" {
			return false
		}
	}
	return len(objs) > 0
}

// describe calls DescribeSecret as the role: PMP's IAM policy grants it and
// PMP may call it; the provider itself needs only GetSecretValue.
func (d *Doctor) describe(ctx context.Context, check string, obj params.Object, region string, creds aws.Credentials, s *steps) {
	_, err := secretsmanager.NewFromConfig(d.AWS).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(obj.Name)},
		func(o *secretsmanager.Options) {
			o.Region = region
			o.Credentials = credentials.StaticCredentialsProvider{Value: creds}
		})
	var apiErr smithy.APIError
	switch {
	case err == nil:
		s.ok(check, "the role may DescribeSecret %s", obj.Name)
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "AccessDeniedException":
		s.fail(check, Warning, fmt.Sprintf("the role may not DescribeSecret %s (AccessDeniedException): the provider does not need it, but the PMP document's policy grants it and PMP may call it", obj.Name),
			"pmp-secrets-provider policy --secret "+obj.Name+" prints a policy with both actions")
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "ResourceNotFoundException":
		s.fail(check, Error, fmt.Sprintf("secret %s was not found in %s (DescribeSecret)", obj.Name, region), "check objectName and the region")
	default:
		s.fail(check, Warning, fmt.Sprintf("DescribeSecret %s: %v", obj.Name, err), "")
	}
}

// validateSecret reports what validate finds in the secret, in one step
// per finding.
func (d *Doctor) validateSecret(check, name string, value []byte, s *steps) {
	doc := validate.Check(value)
	if len(doc.Findings) == 0 {
		s.ok(check, "secret %s is a valid PMP secret (%s)", name, setSummary(doc))
		return
	}
	for _, f := range doc.Findings {
		where := ""
		if f.Line > 0 {
			where = fmt.Sprintf(" line %d, column %d:", f.Line, f.Column)
		}
		st := Error
		if f.Severity != "error" {
			st = Warning
		}
		s.fail(check, st, fmt.Sprintf("secret %s:%s %s", name, where, f.Message), f.Fix)
	}
}

func setSummary(doc validate.Document) string {
	set, total := 0, 0
	for _, m := range doc.Modules {
		set += len(m.Set)
		total += len(m.Set) + len(m.Empty) + len(m.Missing)
	}
	return fmt.Sprintf("%d of %d credentials of its modules set", set, total)
}

// mountRequest is the Mount the driver would send for a pod of the
// service account (with the token in the attributes, as without
// serviceAccountTokenInSecrets).
func (d *Doctor) mountRequest(t Target, class *params.Request, token string) *params.Request {
	req := *class
	req.Pod = params.Pod{Name: "pmp-doctor", Namespace: t.Namespace, ServiceAccount: t.ServiceAccount}
	req.SecretProviderClass = t.Class
	req.Tokens = map[string]params.Token{d.Audience: {Value: token, Expires: time.Now().Add(tokenTTL)}}
	return &req
}
