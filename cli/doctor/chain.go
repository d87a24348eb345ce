package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithy "github.com/aws/smithy-go"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/validate"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// tokenTTL is how long doctor's service-account token lasts: it is used
// for one exchange (STS or the agent) and doctor's Mount.
const tokenTTL = 10 * time.Minute

// requestToken asks the API server for a token of the service account for
// audience, as the kubelet does for the pod. The token is never printed.
func (d *Doctor) requestToken(ctx context.Context, t Target, audience string, s *Steps) string {
	const check = "token"
	var tr tokenRequest
	tr.APIVersion, tr.Kind = "authentication.k8s.io/v1", "TokenRequest"
	tr.Spec.Audiences = []string{audience}
	tr.Spec.ExpirationSeconds = int64(tokenTTL / time.Second)
	err := d.Kube.PostJSON(ctx, "/api/v1"+d.nsPath(t.Namespace)+"/serviceaccounts/"+url.PathEscape(t.ServiceAccount)+"/token", tr, &tr)
	switch {
	case apierrors.IsForbidden(err):
		s.fail(check, report.Error, fmt.Sprintf("you may not request tokens for service account %s/%s (%s), so doctor cannot test its credential chain", t.Namespace, t.ServiceAccount, apiReason(err)),
			"run doctor as a user allowed to create serviceaccounts/token in "+t.Namespace+" (kubectl auth can-i create serviceaccounts/token -n "+t.Namespace+")")
		return ""
	case err != nil:
		s.fail(check, report.Error, fmt.Sprintf("requesting a token for service account %s/%s: %s", t.Namespace, t.ServiceAccount, apiReason(err)), "")
		return ""
	case tr.Status.Token == "":
		s.fail(check, report.Error, "the API server answered the TokenRequest without a token", "")
		return ""
	}
	s.ok(check, "the API server issues service account %s/%s a token for audience %s (as the kubelet does for its pods)", t.Namespace, t.ServiceAccount, audience)
	return tr.Status.Token
}

// audience is the token audience of the pod's own identity.
func (d *Doctor) audience(own identity.Identity) string {
	if own.Source == identity.PodIdentity {
		return identity.PodIdentityAudience
	}
	return d.Audience
}

// agentURLs are the EKS Pod Identity Agent's addresses the provider asks
// (Pod Identity only).
type agentURLs struct{ v4, v6 agentURL }

// chain runs the credential chain exactly as the provider would for a pod
// of the service account: its own credentials (IRSA: STS
// AssumeRoleWithWebIdentity with the token; Pod Identity: the EKS Pod
// Identity Agent), the cross-account roles of assumeRoleArn,
// DescribeSecret and GetSecretValue as the role each object is read as,
// the Mount itself through the provider's own pipeline, and validate on
// each secret, then, with a failoverRegion, every object as it is read
// there. agent is nil for IRSA.
func (d *Doctor) chain(ctx context.Context, t Target, req *params.Request, own identity.Identity, agent *agentURLs, token string, s *Steps) {
	opts := provider.Options{TokenAudience: d.Audience, Cache: true, SecretTTL: time.Minute, CacheSize: 16, RetryBudget: d.RetryBudget}
	if opts.RetryBudget == 0 {
		opts.RetryBudget = 10 * time.Second
	}
	first := "sts"
	if agent != nil {
		opts.PodIdentityAgentURL, opts.PodIdentityAgentURLIPv6 = agent.v4.url, agent.v6.url
		first = "agent"
	}
	p := provider.New(d.AWS, d.Kube, opts)
	region := req.Region
	if region == "" {
		region = d.AWS.Region
	}
	if region == "" && !allARNs(req.Objects) {
		s.fail(first, report.Error, "no AWS region: the SecretProviderClass sets none and doctor has no AWS_REGION (the provider would fall back to its own AWS_REGION, then its node's topology.kubernetes.io/region label)",
			"pass --region, set parameters.region in the SecretProviderClass, or export AWS_REGION")
		return
	}
	own.Region = region
	if own.Region == "" {
		own.Region = req.Objects[0].Region
	}
	if _, _, err := p.Credentials().Get(ctx, own, token); err != nil {
		d.ownFinding(ctx, t, req, own, agent, err, s)
		return
	}
	if agent != nil {
		s.ok("agent", "the EKS Pod Identity Agent (%s) gives service account %s/%s the credentials of its Pod Identity association's role",
			urlList(asked(req.AddressType, agent.v4, agent.v6)), t.Namespace, t.ServiceAccount)
	} else {
		s.ok("sts", "STS lets %s/%s assume role %s with its token (AssumeRoleWithWebIdentity)", t.Namespace, t.ServiceAccount, own.RoleARN)
	}

	mountable := true
	assumed := map[identity.Key]bool{} // the cross-account roles checked, by key
	for i, obj := range req.Objects {
		oid := own
		if obj.Region != "" {
			oid.Region = obj.Region
		}
		oid.Target = provider.Target(req, obj)
		// Cached when in own's region: no second exchange.
		if _, _, err := p.Credentials().Get(ctx, oid.Own(), token); err != nil {
			d.ownFinding(ctx, t, req, oid.Own(), agent, err, s)
			mountable = false
			continue
		}
		if oid.Target.RoleARN != "" && !d.assume(ctx, p, t, oid, token, assumed, s) {
			mountable = false
			continue
		}
		creds, _, err := p.PodCredentials(oid, token).Get(ctx)
		if err != nil {
			s.fail(first, report.Error, stsMessage(err), "the message says what to change")
			mountable = false
			continue
		}
		check := fmt.Sprintf("secret[%d]", i)
		b := provider.Backend(obj.Type)
		if b.Batch > 1 {
			// Read by the mount check below, in its batch, as a Mount reads it.
			s.skip(check, "%s %s (%s) is read by the mount check below, which names it if the role may not read it (%s)", b.Noun, obj.Name, b.Name, strings.Join(b.Actions, ", "))
			continue
		}
		if obj.Optional && d.absent(ctx, p, check, obj, oid, token, s) {
			continue // the Mount leaves it out
		}
		if slices.Contains(b.Actions, describeSecret) {
			d.describe(ctx, check, obj, oid.Region, creds, s)
		}
		secret, err := p.Read(ctx, obj.Type, oid, token, backend.Ref{Name: obj.Name, Version: obj.Version, Label: obj.VersionLabel})
		if err != nil {
			s.fail(check, report.Error, b.Call+": "+err.Error(), "change what the message names; pmp-secrets-provider policy --secret "+obj.Name+" prints the role's permission policy")
			mountable = false
			continue
		}
		s.ok(check, "%s reads %s %s (%s, version %s)", reader(oid), b.Noun, obj.Name, b.Call, secret.VersionID)
		// A Mendix app environment's secret is not a PMP secret: it is
		// checked against the environment catalog, from its files.
		if obj.Flatten != params.FlattenOff && t.Environment == "" {
			d.validateSecret(check, obj.Name, secret.Value, s)
		}
	}
	if !mountable {
		s.skip("mount", "the Mount would fail on the link above")
	} else {
		d.mount(ctx, p, t, req, own, token, s)
	}
	if req.FailoverRegion != "" {
		d.failover(ctx, p, req, own, token, s)
	}
}

// mount runs the Mount through the provider's own pipeline, as a pod's.
func (d *Doctor) mount(ctx context.Context, p *provider.Provider, t Target, req *params.Request, own identity.Identity, token string, s *Steps) {
	res, err := p.Mount(ctx, d.mountRequest(t, req, d.audience(own), token))
	if err != nil {
		s.fail("mount", report.Error, "the Mount fails as the pod's would: "+err.Error(), "the message says what to change")
		return
	}
	paths := make([]string, len(res.Files))
	for i, f := range res.Files {
		paths[i] = f.Path
	}
	left := ""
	if len(res.Skipped) > 0 {
		names := make([]string, len(res.Skipped))
		for i, sk := range res.Skipped {
			names[i] = sk.String()
		}
		left = "; optional and missing, left out: " + strings.Join(names, ", ")
	}
	s.ok("mount", "a pod of %s/%s mounting SecretProviderClass %s gets %d files: %s%s", t.Namespace, t.ServiceAccount, t.Class, len(paths), strings.Join(paths, ", "), left)
}

// absent reports, as a warning, an optional object that does not exist,
// and whether it does not: the Mount leaves it out, where DescribeSecret
// and the read would call it an error. It reads the object as the chain
// then does (its answer cached: no second call).
func (d *Doctor) absent(ctx context.Context, p *provider.Provider, check string, obj params.Object, id identity.Identity, token string, s *Steps) bool {
	_, err := p.Read(ctx, obj.Type, id, token, backend.Ref{Name: obj.Name, Version: obj.Version, Label: obj.VersionLabel})
	var missing *backend.MissingError
	if !errors.As(err, &missing) {
		return false
	}
	what := provider.Backend(obj.Type).Noun + " " + obj.Name
	if v := obj.Version + obj.VersionLabel; v != "" {
		what = "version " + v + " of " + what
	}
	s.fail(check, report.Warning, fmt.Sprintf("%s does not exist in %s: it is optional, so each Mount leaves it out (and logs that it does) until it is created", what, id.Region),
		"create it if the pod needs its files; if it is meant to be absent, nothing to do")
	return true
}

// ownFinding reports a failure to get the pod's own credentials: STS's
// refusal (IRSA) or the agent's (Pod Identity).
func (d *Doctor) ownFinding(ctx context.Context, t Target, req *params.Request, own identity.Identity, agent *agentURLs, err error, s *Steps) {
	if agent != nil {
		d.agentFinding(ctx, t, req, agent.v4, agent.v6, err, s)
		return
	}
	s.fail("sts", report.Error, stsMessage(err), d.trustFix(ctx, t, req, own))
}

// assume checks, once per cross-account role, that the pod's own
// identity may assume it (sts:AssumeRole, the role's trust policy).
func (d *Doctor) assume(ctx context.Context, p *provider.Provider, t Target, id identity.Identity, token string, assumed map[identity.Key]bool, s *Steps) bool {
	ok, seen := assumed[id.Key()]
	if seen {
		return ok
	}
	_, _, err := p.Credentials().Get(ctx, id, token)
	assumed[id.Key()] = err == nil
	external := ""
	if id.Target.ExternalID != "" {
		external = " with its external ID"
	}
	if err != nil {
		s.fail("assumerole", report.Error, stsMessage(err),
			fmt.Sprintf("change the trust policy of role %s (in its account: aws iam update-assume-role-policy --role-name NAME --policy-document file://trust.json), or the permission policy of %s, as the message says; or fix assumeRoleArn, assumeRoleExternalId, assumeRoleDurationSeconds",
				id.Target.RoleARN, id.Principal()))
		return false
	}
	s.ok("assumerole", "STS lets %s (the identity of %s/%s) assume role %s%s (assumeRoleArn, sts:AssumeRole)", id.Principal(), t.Namespace, t.ServiceAccount, id.Target.RoleARN, external)
	return true
}

// reader names the role id reads secrets as, for messages.
func reader(id identity.Identity) string {
	switch {
	case id.Target.RoleARN != "":
		return "role " + id.Target.RoleARN
	case id.Source == identity.PodIdentity:
		return id.Principal()
	}
	return "role " + id.RoleARN
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

// describeSecret is the IAM action describe checks, for the objects whose
// backend names it among the actions a role needs (Secrets Manager's).
const describeSecret = "secretsmanager:DescribeSecret"

// describe calls DescribeSecret as the role: PMP's IAM policy grants it and
// PMP may call it; the provider itself needs only GetSecretValue.
func (d *Doctor) describe(ctx context.Context, check string, obj params.Object, region string, creds aws.Credentials, s *Steps) {
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
		s.fail(check, report.Warning, fmt.Sprintf("the role may not DescribeSecret %s (AccessDeniedException): the provider does not need it, but the PMP document's policy grants it and PMP may call it", obj.Name),
			"pmp-secrets-provider policy --secret "+obj.Name+" prints a policy with both actions")
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "ResourceNotFoundException":
		s.fail(check, report.Error, fmt.Sprintf("secret %s was not found in %s (DescribeSecret)", obj.Name, region), "check objectName and the region")
	default:
		s.fail(check, report.Warning, fmt.Sprintf("DescribeSecret %s: %v", obj.Name, err), "")
	}
}

// validateSecret reports what validate finds in the secret, in one step
// per finding.
func (d *Doctor) validateSecret(check, name string, value []byte, s *Steps) {
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
		s.fail(check, f.Severity, fmt.Sprintf("secret %s:%s %s", name, where, f.Message), f.Fix)
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
func (d *Doctor) mountRequest(t Target, class *params.Request, audience, token string) *params.Request {
	req := *class
	req.Pod = params.Pod{Name: "pmp-doctor", Namespace: t.Namespace, ServiceAccount: t.ServiceAccount}
	req.SecretProviderClass = t.Class
	req.Tokens = map[string]params.Token{audience: {Value: token, Expires: time.Now().Add(tokenTTL)}}
	return &req
}
