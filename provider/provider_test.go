package provider_test

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smithy "github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/secrets-store-csi-driver/pkg/util/fileutil"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/apifake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsfake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/issuer"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/files"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// These tests drive Provider.Mount with small fakes at its edges: STS and
// Secrets Manager below, a client-go fake clientset for the Kubernetes
// API. The server package tests the same pipeline against the real AWS
// emulator over the driver's gRPC.

const (
	testRole  = "arn:aws:iam::111122223333:role/PMP-SecretsManager-Role"
	pmpSecret = "PMP-Production-Credentials"
	v1, v2    = "a1b2c3d4-0000-4000-8000-000000000001", "a1b2c3d4-0000-4000-8000-000000000002"
)

// The fakes name their access keys after the session and role, so a
// call's credentials say whose they are.
func newSTS() *awsfake.STS { return &awsfake.STS{NamedKeys: true} }

// testIssuer is the cluster's service-account issuer: it signs the pods'
// tokens and the provider verifies them with its keys.
var testIssuer = issuer.New()

// edges are the fakes one provider runs over.
type edges struct {
	sts *awsfake.STS
	sm  *awsfake.SM
	// region is the provider's AWS_REGION; node its node's name.
	region, node string
}

// kubeObjects serves the Kubernetes API the tests' provider reads: the
// service accounts and nodes below, and testIssuer's discovery.
func kubeObjects(t testing.TB) *apifake.Server {
	s := apifake.StartWith(t, testIssuer)
	s.PutServiceAccount("pmp", "pmp-secrets-access", testRole)
	s.PutServiceAccount("other", "copycat", testRole)
	s.PutServiceAccount("pmp", "no-role", "")
	s.PutServiceAccount("pmp", "bad-role", "PMP-SecretsManager-Role")
	s.PutNode("node-1", map[string]string{identity.RegionLabel: "eu-central-1"})
	s.PutNode("node-unlabelled", nil)
	return s
}

var testOptions = provider.Options{
	TokenAudience: "sts.amazonaws.com", Cache: true, SecretTTL: time.Minute, NegativeTTL: 10 * time.Second,
	CacheSize: 64, RetryBudget: 200 * time.Millisecond,
}

func newProvider(t testing.TB, e edges, o provider.Options) *provider.Provider {
	if e.sts == nil {
		e.sts = newSTS()
	}
	if e.sm == nil {
		e.sm = &awsfake.SM{}
	}
	o.NodeName = e.node
	return provider.NewFromAPIs(provider.APIs{STS: e.sts, SecretsManager: e.sm, Kube: kubeObjects(t).Client(), Region: e.region}, o)
}

// pmpReq is the driver's Mount of pod pmp/pmp-0 for the objects parameter.
func pmpReq(objects string) driverreq.Request {
	return driverreq.Request{
		PodName: "pmp-0", Namespace: "pmp", PodUID: "0b0e3c1e-0000-4000-8000-000000000001",
		ServiceAccount: "pmp-secrets-access", SecretProviderClass: "pmp-credentials",
		Parameters: map[string]string{"objects": objects}, Issuer: testIssuer,
	}
}

// parse decodes r as the server does before calling Mount.
func parse(t *testing.T, r driverreq.Request) *params.Request {
	t.Helper()
	in := r.Build()
	req, err := params.Parse(in.GetAttributes(), in.GetSecrets(), in.GetPermission())
	if err != nil {
		t.Fatalf("params.Parse: %v", err)
	}
	return req
}

type file struct {
	Path     string
	Mode     fs.FileMode
	Contents string
}

func filesOf(res *provider.Result) []file {
	var out []file
	for _, f := range res.Files {
		out = append(out, file{Path: f.Path, Mode: f.Mode, Contents: string(f.Contents)})
	}
	return out
}

const pmpDoc = `{"VCS": {"GithubAdminPAT": "gh-pat", "GitlabAdminPAT": ""}, "Email": {"SMTPPassword": "smtp-pw"}}`

func TestMountFiles(t *testing.T) {
	pmpV1 := awsfake.Version{ID: pmpSecret, VersionID: v1, Value: pmpDoc}
	tests := []struct {
		name     string
		versions []awsfake.Version
		objects  string
		// permission is the request's default mode as the driver sends
		// it (decimal JSON); empty: 420 (0644).
		permission   string
		want         []file
		wantVersions []provider.Version
	}{
		{
			name: "PMP JSON: one file per credential with a value", versions: []awsfake.Version{pmpV1},
			objects: "- objectName: PMP-Production-Credentials",
			want: []file{
				{Path: "Email.SMTPPassword", Mode: 0o644, Contents: "smtp-pw"},
				{Path: "VCS.GithubAdminPAT", Mode: 0o644, Contents: "gh-pat"},
			},
			wantVersions: []provider.Version{{ID: "Email.SMTPPassword", Version: v1}, {ID: "VCS.GithubAdminPAT", Version: v1}},
		},
		{
			name: "keepEmpty mounts empty credentials", versions: []awsfake.Version{pmpV1},
			objects: "- objectName: PMP-Production-Credentials\n  keepEmpty: true",
			want: []file{
				{Path: "Email.SMTPPassword", Mode: 0o644, Contents: "smtp-pw"},
				{Path: "VCS.GithubAdminPAT", Mode: 0o644, Contents: "gh-pat"},
				{Path: "VCS.GitlabAdminPAT", Mode: 0o644, Contents: ""},
			},
			wantVersions: []provider.Version{{ID: "Email.SMTPPassword", Version: v1}, {ID: "VCS.GithubAdminPAT", Version: v1}, {ID: "VCS.GitlabAdminPAT", Version: v1}},
		},
		{
			name: "keys, nested layout and an alias directory", versions: []awsfake.Version{pmpV1},
			objects:      "- objectName: PMP-Production-Credentials\n  objectAlias: pmp\n  keys: [\"VCS.*\"]\n  layout: nested",
			want:         []file{{Path: "pmp/VCS/GithubAdminPAT", Mode: 0o644, Contents: "gh-pat"}},
			wantVersions: []provider.Version{{ID: "pmp/VCS/GithubAdminPAT", Version: v1}},
		},
		{
			name: "file modes: the request's, and an object's filePermission", permission: "288", // 0440
			versions: []awsfake.Version{pmpV1, {ID: "db-password", VersionID: v2, Value: "hunter2"}},
			objects:  "- objectName: PMP-Production-Credentials\n  keys: [Email.SMTPPassword]\n- objectName: db-password\n  filePermission: \"0400\"",
			want: []file{
				{Path: "Email.SMTPPassword", Mode: 0o440, Contents: "smtp-pw"},
				{Path: "db-password", Mode: 0o400, Contents: "hunter2"},
			},
			wantVersions: []provider.Version{{ID: "Email.SMTPPassword", Version: v1}, {ID: "db-password", Version: v2}},
		},
		{
			name: "flatten: false mounts the JSON whole, under its alias", versions: []awsfake.Version{pmpV1},
			objects:      "- objectName: PMP-Production-Credentials\n  flatten: false\n  objectAlias: pmp.json",
			want:         []file{{Path: "pmp.json", Mode: 0o644, Contents: pmpDoc}},
			wantVersions: []provider.Version{{ID: "pmp.json", Version: v1}},
		},
		{
			name: "flatten auto: a value that is not a JSON object is one file", versions: []awsfake.Version{{ID: "team/db-password", VersionID: v1, Value: "hunter2"}},
			objects:      "- objectName: team/db-password",
			want:         []file{{Path: "team_db-password", Mode: 0o644, Contents: "hunter2"}},
			wantVersions: []provider.Version{{ID: "team_db-password", Version: v1}},
		},
		{
			name: "a binary secret, named by its ARN", versions: []awsfake.Version{{ID: "arn:aws:secretsmanager:eu-west-1:111122223333:secret:tls-key-AbCdEf", VersionID: v1, Binary: []byte{0, 1, 2}}},
			objects:      "- objectName: arn:aws:secretsmanager:eu-west-1:111122223333:secret:tls-key-AbCdEf",
			want:         []file{{Path: "tls-key-AbCdEf", Mode: 0o644, Contents: "\x00\x01\x02"}},
			wantVersions: []provider.Version{{ID: "tls-key-AbCdEf", Version: v1}},
		},
		{
			name: "decode base64 on a whole value, padded or not, a trailing newline ignored",
			versions: []awsfake.Version{
				{ID: "keystore", VersionID: v1, Value: "AAEC/w==\n"},
				{ID: "truststore", VersionID: v1, Value: "AAEC/w"},
				{ID: "token", VersionID: v1, Value: "AAEC_w"},
			},
			objects: "- {objectName: keystore, decode: base64}\n- {objectName: truststore, decode: base64}\n- {objectName: token, decode: base64url}",
			want: []file{
				{Path: "keystore", Mode: 0o644, Contents: "\x00\x01\x02\xff"},
				{Path: "token", Mode: 0o644, Contents: "\x00\x01\x02\xff"},
				{Path: "truststore", Mode: 0o644, Contents: "\x00\x01\x02\xff"},
			},
			wantVersions: []provider.Version{{ID: "keystore", Version: v1}, {ID: "token", Version: v1}, {ID: "truststore", Version: v1}},
		},
		{
			name:     "decode base64 on each selected key; the same secret mounted undecoded beside it",
			versions: []awsfake.Version{{ID: "tls", VersionID: v1, Value: `{"TLS": {"Cert": "aGVsbG8=", "Key": "d29ybGQ"}, "Name": "plain"}`}},
			objects:  "- {objectName: tls, objectAlias: tls, keys: [TLS.*], layout: nested, decode: base64}\n- {objectName: tls, keys: [TLS.Cert]}",
			want: []file{
				{Path: "TLS.Cert", Mode: 0o644, Contents: "aGVsbG8="},
				{Path: "tls/TLS/Cert", Mode: 0o644, Contents: "hello"},
				{Path: "tls/TLS/Key", Mode: 0o644, Contents: "world"},
			},
			wantVersions: []provider.Version{{ID: "TLS.Cert", Version: v1}, {ID: "tls/TLS/Cert", Version: v1}, {ID: "tls/TLS/Key", Version: v1}},
		},
		{
			name:         "a binary JSON secret whose strings are not UTF-8: the files hold its exact bytes",
			versions:     []awsfake.Version{{ID: "legacy", VersionID: v1, Binary: []byte("{\"DB\": {\"Password\": \"p\xe4ss\xff\"}, \"Note\": \"\\u00e9\\n\"}")}},
			objects:      "- objectName: legacy",
			want:         []file{{Path: "DB.Password", Mode: 0o644, Contents: "p\xe4ss\xff"}, {Path: "Note", Mode: 0o644, Contents: "é\n"}},
			wantVersions: []provider.Version{{ID: "DB.Password", Version: v1}, {ID: "Note", Version: v1}},
		},
		{
			name: "objectVersion pins a version",
			versions: []awsfake.Version{
				{ID: pmpSecret, VersionID: v1, Stages: []string{"AWSPREVIOUS"}, Value: `{"Email": {"SMTPPassword": "old"}}`},
				{ID: pmpSecret, VersionID: v2, Value: `{"Email": {"SMTPPassword": "new"}}`},
			},
			objects:      "- objectName: PMP-Production-Credentials\n  objectVersion: " + v1,
			want:         []file{{Path: "Email.SMTPPassword", Mode: 0o644, Contents: "old"}},
			wantVersions: []provider.Version{{ID: "Email.SMTPPassword", Version: v1}},
		},
		{
			name: "objectVersionLabel selects a stage; two versions of one secret side by side",
			versions: []awsfake.Version{
				{ID: pmpSecret, VersionID: v1, Stages: []string{"AWSPREVIOUS"}, Value: `{"Email": {"SMTPPassword": "old"}}`},
				{ID: pmpSecret, VersionID: v2, Value: `{"Email": {"SMTPPassword": "new"}}`},
			},
			objects: "- objectName: PMP-Production-Credentials\n  objectAlias: previous\n  objectVersionLabel: AWSPREVIOUS\n- objectName: PMP-Production-Credentials",
			want: []file{
				{Path: "Email.SMTPPassword", Mode: 0o644, Contents: "new"},
				{Path: "previous/Email.SMTPPassword", Mode: 0o644, Contents: "old"},
			},
			wantVersions: []provider.Version{{ID: "Email.SMTPPassword", Version: v2}, {ID: "previous/Email.SMTPPassword", Version: v1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, edges{sm: &awsfake.SM{Versions: tt.versions}, region: "eu-west-1"}, testOptions)
			r := pmpReq(tt.objects)
			r.Permission = tt.permission
			res, err := p.Mount(context.Background(), parse(t, r))
			if err != nil {
				t.Fatalf("Mount: %v", err)
			}
			if diff := cmp.Diff(tt.want, filesOf(res)); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantVersions, res.Versions); diff != "" {
				t.Errorf("versions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMountAsksForTheVersion(t *testing.T) {
	sm := &awsfake.SM{Versions: []awsfake.Version{{ID: pmpSecret, VersionID: v1, Stages: []string{"AWSCURRENT", "AWSPREVIOUS"}, Value: pmpDoc}}}
	p := newProvider(t, edges{sm: sm, region: "eu-west-1"}, testOptions)
	objects := "- objectName: PMP-Production-Credentials\n  keys: [VCS.GithubAdminPAT]\n" +
		"- objectName: PMP-Production-Credentials\n  objectAlias: pinned\n  objectVersion: " + v1 + "\n" +
		"- objectName: PMP-Production-Credentials\n  objectAlias: previous\n  objectVersionLabel: AWSPREVIOUS"
	if _, err := p.Mount(context.Background(), parse(t, pmpReq(objects))); err != nil {
		t.Fatal(err)
	}
	key := "key-of-pmp-pmp-pmp-secrets-access"
	want := []awsfake.SMCall{
		{ID: pmpSecret, Region: "eu-west-1", AccessKey: key},
		{ID: pmpSecret, VersionID: v1, Region: "eu-west-1", AccessKey: key},
		{ID: pmpSecret, Stage: "AWSPREVIOUS", Region: "eu-west-1", AccessKey: key},
	}
	if diff := cmp.Diff(want, sm.Calls()); diff != "" {
		t.Errorf("GetSecretValue calls (-want +got):\n%s", diff)
	}
}

func TestMountRegion(t *testing.T) {
	arn := "arn:aws:secretsmanager:us-east-1:111122223333:secret:PMP-Production-Credentials-AbCdEf"
	tests := []struct {
		name        string
		regionParam string // the SecretProviderClass parameter region
		objectName  string
		edges       edges
		// wantRegion is the region of the identity and of the STS and
		// Secrets Manager calls.
		wantRegion string
	}{
		{name: "SecretProviderClass region first", regionParam: "eu-west-2", objectName: pmpSecret,
			edges: edges{region: "eu-west-1", node: "node-1"}, wantRegion: "eu-west-2"},
		{name: "the ARN's region for its object", regionParam: "eu-west-2", objectName: arn,
			edges: edges{region: "eu-west-1", node: "node-1"}, wantRegion: "us-east-1"},
		{name: "AWS_REGION when the class names none", objectName: pmpSecret,
			edges: edges{region: "eu-west-1", node: "node-1"}, wantRegion: "eu-west-1"},
		{name: "the node's region label last", objectName: pmpSecret,
			edges: edges{node: "node-1"}, wantRegion: "eu-central-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.edges.sts = newSTS()
			tt.edges.sm = &awsfake.SM{Versions: []awsfake.Version{{ID: tt.objectName, VersionID: v1, Value: pmpDoc}}}
			p := newProvider(t, tt.edges, testOptions)
			r := pmpReq("- objectName: " + tt.objectName)
			if tt.regionParam != "" {
				r.Parameters["region"] = tt.regionParam
			}
			req := parse(t, r)
			res, err := p.Mount(context.Background(), req)
			if err != nil {
				t.Fatalf("Mount: %v", err)
			}
			if got := tt.edges.sm.Calls(); len(got) != 1 || got[0].Region != tt.wantRegion {
				t.Errorf("GetSecretValue calls = %+v, want one in %s", got, tt.wantRegion)
			}
			wantSTS := []awsfake.STSCall{{Role: testRole, Session: "pmp-pmp-pmp-secrets-access", Token: req.Tokens["sts.amazonaws.com"].Value, Region: tt.wantRegion}}
			if diff := cmp.Diff(wantSTS, tt.edges.sts.Calls()); diff != "" {
				t.Errorf("STS calls (-want +got):\n%s", diff)
			}
			if got := p.DefaultRegion(); got != tt.edges.region {
				t.Errorf("DefaultRegion() = %q, want %q (AWS_REGION)", got, tt.edges.region)
			}
			if res.Identity.RoleARN != testRole || res.Identity.Namespace != "pmp" || res.Identity.ServiceAccount != "pmp-secrets-access" {
				t.Errorf("identity = %+v", res.Identity)
			}
		})
	}
}

// TestMountErrors: each failure has its kind (hence its gRPC code) and a
// message that names what to fix; no failure returns a file.
func TestMountErrors(t *testing.T) {
	pmpV1 := awsfake.Version{ID: pmpSecret, VersionID: v1, Value: pmpDoc}
	deny := func(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }
	tests := []struct {
		name     string
		edges    edges
		req      func() driverreq.Request
		wantKind mounterr.Kind
		wantMsg  string
		// wantIdentity is as far as the identity was resolved.
		wantIdentity identity.Identity
	}{
		{
			name:     "no token for the audience",
			req:      func() driverreq.Request { r := pmpReq("- objectName: x"); r.Audience = "vault"; return r },
			wantKind: mounterr.Unauthenticated,
			wantMsg:  `the driver passed no service account token for audience "sts.amazonaws.com": set tokenRequests: [{audience: "sts.amazonaws.com"}] on the CSIDriver secrets-store.csi.k8s.io (helm: --set tokenRequests[0].audience=sts.amazonaws.com)`,
		},
		{
			name:     "service account does not exist",
			req:      func() driverreq.Request { r := pmpReq("- objectName: x"); r.ServiceAccount = "ghost"; return r },
			wantKind: mounterr.NotFound,
			wantMsg:  "service account pmp/ghost does not exist",
		},
		{
			name:     "service account without a role",
			req:      func() driverreq.Request { r := pmpReq("- objectName: x"); r.ServiceAccount = "no-role"; return r },
			wantKind: mounterr.Denied,
			wantMsg:  "service account pmp/no-role has no eks.amazonaws.com/role-arn annotation: annotate it with the IAM role that may read the secret, e.g. kubectl annotate serviceaccount -n pmp no-role eks.amazonaws.com/role-arn=arn:aws:iam::ACCOUNT_ID:role/PMP-SecretsManager-Role",
		},
		{
			name:     "role annotation that is not an ARN",
			req:      func() driverreq.Request { r := pmpReq("- objectName: x"); r.ServiceAccount = "bad-role"; return r },
			wantKind: mounterr.Invalid,
			wantMsg:  `service account pmp/bad-role annotation eks.amazonaws.com/role-arn="PMP-SecretsManager-Role" is not an IAM role ARN (arn:aws:iam::ACCOUNT_ID:role/NAME)`,
		},
		{
			name:         "no region: no node name",
			req:          func() driverreq.Request { return pmpReq("- objectName: PMP-Production-Credentials") },
			wantKind:     mounterr.Invalid,
			wantMsg:      "no AWS region: set the SecretProviderClass parameter region, or AWS_REGION on the provider (no node name (--node-name or NODE_NAME) to read topology.kubernetes.io/region from)",
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access"},
		},
		{
			name:         "no region: the node has no label",
			edges:        edges{node: "node-unlabelled"},
			req:          func() driverreq.Request { return pmpReq("- objectName: PMP-Production-Credentials") },
			wantKind:     mounterr.Invalid,
			wantMsg:      "no AWS region: set the SecretProviderClass parameter region, or AWS_REGION on the provider (node node-unlabelled has no topology.kubernetes.io/region label)",
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access"},
		},
		{
			name:         "STS refuses the role",
			edges:        edges{region: "eu-west-1", sts: &awsfake.STS{NamedKeys: true, RoleErrs: map[string]error{testRole: deny("AccessDenied", "Not authorized")}}},
			req:          func() driverreq.Request { return pmpReq("- objectName: PMP-Production-Credentials") },
			wantKind:     mounterr.Denied,
			wantMsg:      "STS refused to let pmp/pmp-secrets-access assume role " + testRole + " (AccessDenied): the role's trust policy must allow sts:AssumeRoleWithWebIdentity from the cluster's OIDC provider with conditions <issuer>:sub = system:serviceaccount:pmp:pmp-secrets-access and <issuer>:aud = sts.amazonaws.com",
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Region: "eu-west-1"},
		},
		{
			name:         "secret does not exist",
			edges:        edges{region: "eu-west-1"},
			req:          func() driverreq.Request { return pmpReq("- objectName: PMP-Staging-Credentials") },
			wantKind:     mounterr.NotFound,
			wantMsg:      "secret PMP-Staging-Credentials was not found in region eu-west-1: check objectName (and objectVersion/objectVersionLabel) and the region (SecretProviderClass region, AWS_REGION or the node's topology.kubernetes.io/region label)",
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Region: "eu-west-1"},
		},
		{
			name:  "all or nothing: the second object fails",
			edges: edges{region: "eu-west-1", sm: &awsfake.SM{Versions: []awsfake.Version{pmpV1}, Errs: map[string]error{"db-password": deny("AccessDeniedException", "no")}}},
			req: func() driverreq.Request {
				return pmpReq("- objectName: PMP-Production-Credentials\n- objectName: db-password")
			},
			wantKind:     mounterr.Denied,
			wantMsg:      "access to secret db-password in eu-west-1 was denied (AccessDeniedException): the role's IAM policy must allow secretsmanager:GetSecretValue and secretsmanager:DescribeSecret on arn:aws:secretsmanager:eu-west-1:ACCOUNT_ID:secret:db-password*",
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Region: "eu-west-1"},
		},
		{
			name:         "Secrets Manager throttles past the retry budget",
			edges:        edges{region: "eu-west-1", sm: &awsfake.SM{Errs: map[string]error{pmpSecret: deny("ThrottlingException", "Rate exceeded")}}},
			req:          func() driverreq.Request { return pmpReq("- objectName: PMP-Production-Credentials") },
			wantKind:     mounterr.Transient,
			wantMsg:      "Secrets Manager GetSecretValue for PMP-Production-Credentials in eu-west-1 kept failing for 0s (ThrottlingException: Rate exceeded); this is transient: the kubelet retries the mount",
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Region: "eu-west-1"},
		},
		{
			name:         "an answer without a version",
			edges:        edges{region: "eu-west-1", sm: &awsfake.SM{Versions: []awsfake.Version{{ID: pmpSecret, Value: pmpDoc}}}},
			req:          func() driverreq.Request { return pmpReq("- objectName: PMP-Production-Credentials") },
			wantKind:     mounterr.Internal,
			wantMsg:      "Secrets Manager answered GetSecretValue for PMP-Production-Credentials without a VersionId",
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Region: "eu-west-1"},
		},
		{
			name:         "keys asked of a value that is not JSON",
			edges:        edges{region: "eu-west-1", sm: &awsfake.SM{Versions: []awsfake.Version{{ID: pmpSecret, VersionID: v1, Value: "hunter2"}}}},
			req:          func() driverreq.Request { return pmpReq("- objectName: PMP-Production-Credentials\n  keys: [VCS.*]") },
			wantKind:     mounterr.Invalid,
			wantMsg:      "objects entry PMP-Production-Credentials splits secret PMP-Production-Credentials into keys (flatten: true, keys or strictKeys), but the value is not a JSON object: store a JSON object such as the PMP template, or set flatten: false and remove keys and strictKeys",
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Region: "eu-west-1"},
		},
		{
			name:         "broken JSON",
			edges:        edges{region: "eu-west-1", sm: &awsfake.SM{Versions: []awsfake.Version{{ID: pmpSecret, VersionID: v1, Value: `{"VCS": {"GithubAdminPAT": "x"`}}}},
			req:          func() driverreq.Request { return pmpReq("- objectName: PMP-Production-Credentials") },
			wantKind:     mounterr.Invalid,
			wantMsg:      "secret PMP-Production-Credentials: the value starts with '{' but is not valid JSON (syntax error at byte 30): fix the JSON, or set flatten: false to mount the value as one file",
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Region: "eu-west-1"},
		},
		{
			name:         "a key that cannot be a file name",
			edges:        edges{region: "eu-west-1", sm: &awsfake.SM{Versions: []awsfake.Version{{ID: pmpSecret, VersionID: v1, Value: `{"..": {"etc": "x"}}`}}}},
			req:          func() driverreq.Request { return pmpReq("- objectName: PMP-Production-Credentials") },
			wantKind:     mounterr.Invalid,
			wantMsg:      `secret PMP-Production-Credentials: key "...etc" cannot be a file name: it has an empty segment (a key that is empty, or starts or ends with '.')`,
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Region: "eu-west-1"},
		},
		{
			name:         "nested and dotted spellings disagree",
			edges:        edges{region: "eu-west-1", sm: &awsfake.SM{Versions: []awsfake.Version{{ID: pmpSecret, VersionID: v1, Value: `{"VCS": {"GithubAdminPAT": "a"}, "VCS.GithubAdminPAT": "b"}`}}}},
			req:          func() driverreq.Request { return pmpReq("- objectName: PMP-Production-Credentials") },
			wantKind:     mounterr.Invalid,
			wantMsg:      `secret PMP-Production-Credentials cannot be split into files: key "VCS.GithubAdminPAT" is set twice with different values (nested and as a dotted key): keep one spelling`,
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Region: "eu-west-1"},
		},
		{
			name:  "a keys pattern that matches no credential with a value",
			edges: edges{region: "eu-west-1", sm: &awsfake.SM{Versions: []awsfake.Version{pmpV1}}},
			req: func() driverreq.Request {
				return pmpReq("- objectName: PMP-Production-Credentials\n  keys: [VCS.GitlabAdminPAT]")
			},
			wantKind:     mounterr.NotFound,
			wantMsg:      `secret PMP-Production-Credentials: keys pattern "VCS.GitlabAdminPAT" matches no key that has a value (empty values count as missing unless keepEmpty: true)`,
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Region: "eu-west-1"},
		},
		{
			name:         "a whole value that is empty",
			edges:        edges{region: "eu-west-1", sm: &awsfake.SM{Versions: []awsfake.Version{{ID: "db-password", VersionID: v1}}}},
			req:          func() driverreq.Request { return pmpReq("- objectName: db-password") },
			wantKind:     mounterr.NotFound,
			wantMsg:      "secret db-password has an empty value: store a value, or set keepEmpty: true",
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Region: "eu-west-1"},
		},
		{
			name:         "a secret whose every credential is empty",
			edges:        edges{region: "eu-west-1", sm: &awsfake.SM{Versions: []awsfake.Version{{ID: pmpSecret, VersionID: v1, Value: `{"VCS": {"GithubAdminPAT": ""}}`}}}},
			req:          func() driverreq.Request { return pmpReq("- objectName: PMP-Production-Credentials") },
			wantKind:     mounterr.NotFound,
			wantMsg:      `SecretProviderClass "pmp-credentials" selects no credential with a value: fill in the secret's values, or set keepEmpty: true to mount empty ones`,
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Region: "eu-west-1"},
		},
		{
			name:         "decode: a whole value that is not base64",
			edges:        edges{region: "eu-west-1", sm: &awsfake.SM{Versions: []awsfake.Version{{ID: "keystore", VersionID: v1, Value: "hunter2!"}}}},
			req:          func() driverreq.Request { return pmpReq("- {objectName: keystore, decode: base64}") },
			wantKind:     mounterr.Invalid,
			wantMsg:      "objects entry keystore: the value of secret keystore is not valid base64 (decode: base64): store it base64-encoded, or remove decode",
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Region: "eu-west-1"},
		},
		{
			name:  "decode: a base64url value under decode: base64 names the key",
			edges: edges{region: "eu-west-1", sm: &awsfake.SM{Versions: []awsfake.Version{{ID: "tls", VersionID: v1, Value: `{"TLS": {"Cert": "aGVsbG8=", "Key": "AAEC_w"}}`}}}},
			req: func() driverreq.Request {
				return pmpReq("- {objectName: tls, objectAlias: tls, layout: nested, decode: base64}")
			},
			wantKind:     mounterr.Invalid,
			wantMsg:      "objects entry tls: the value of key TLS.Key of secret tls is not valid base64 (decode: base64): store it base64-encoded, or remove decode",
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Region: "eu-west-1"},
		},
		{
			name:  "two objects write the same file",
			edges: edges{region: "eu-west-1", sm: &awsfake.SM{Versions: []awsfake.Version{pmpV1}}},
			req: func() driverreq.Request {
				return pmpReq("- objectName: PMP-Production-Credentials\n- objectName: PMP-Production-Credentials\n  keys: [Email.*]")
			},
			wantKind:     mounterr.Invalid,
			wantMsg:      `SecretProviderClass "pmp-credentials": two objects or keys produce the same file "Email.SMTPPassword": give one an objectAlias or narrow its keys`,
			wantIdentity: identity.Identity{RoleARN: testRole, Namespace: "pmp", ServiceAccount: "pmp-secrets-access", Region: "eu-west-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, tt.edges, testOptions)
			req := parse(t, tt.req())
			res, err := p.Mount(context.Background(), req)
			if err == nil {
				t.Fatalf("Mount succeeded with %d files", len(res.Files))
			}
			if got := mounterr.KindOf(err); got != tt.wantKind {
				t.Errorf("kind = %s, want %s (%v)", got, tt.wantKind, err)
			}
			if diff := cmp.Diff(tt.wantMsg, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			for _, tok := range req.Tokens {
				if strings.Contains(err.Error(), tok.Value) {
					t.Errorf("message leaks the token: %v", err)
				}
			}
			var got identity.Identity
			if res != nil {
				if res.Files != nil || res.Versions != nil {
					t.Errorf("a failed Mount returned %d files and %d versions, want none", len(res.Files), len(res.Versions))
				}
				got = res.Identity
			}
			if diff := cmp.Diff(tt.wantIdentity, got); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMountCalls counts the AWS calls of three Mounts: the caches serve
// republishes and coalesce nothing across identities.
func TestMountCalls(t *testing.T) {
	tests := []struct {
		name         string
		cache        bool
		accounts     []string // namespace/service account of each Mount
		wantSTS      int
		wantGetValue int
	}{
		{name: "republishes are served from the caches", cache: true,
			accounts: []string{"pmp/pmp-secrets-access", "pmp/pmp-secrets-access", "pmp/pmp-secrets-access"}, wantSTS: 1, wantGetValue: 1},
		{name: "cache off: every Mount calls STS and Secrets Manager", cache: false,
			accounts: []string{"pmp/pmp-secrets-access", "pmp/pmp-secrets-access", "pmp/pmp-secrets-access"}, wantSTS: 3, wantGetValue: 3},
		{name: "a copied role annotation goes through STS itself", cache: true,
			accounts: []string{"pmp/pmp-secrets-access", "other/copycat", "pmp/pmp-secrets-access"}, wantSTS: 2, wantGetValue: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := edges{region: "eu-west-1", sts: newSTS(), sm: &awsfake.SM{Versions: []awsfake.Version{{ID: pmpSecret, VersionID: v1, Value: pmpDoc}}}}
			o := testOptions
			o.Cache = tt.cache
			p := newProvider(t, e, o)
			for _, acct := range tt.accounts {
				ns, sa, _ := strings.Cut(acct, "/")
				r := pmpReq("- objectName: PMP-Production-Credentials")
				r.Namespace, r.ServiceAccount = ns, sa
				res, err := p.Mount(context.Background(), parse(t, r))
				if err != nil {
					t.Fatalf("Mount as %s: %v", acct, err)
				}
				if len(res.Files) != 2 {
					t.Fatalf("Mount as %s: %d files, want 2", acct, len(res.Files))
				}
			}
			if got := len(e.sts.Calls()); got != tt.wantSTS {
				t.Errorf("STS calls = %d, want %d", got, tt.wantSTS)
			}
			if got := len(e.sm.Calls()); got != tt.wantGetValue {
				t.Errorf("GetSecretValue calls = %d, want %d", got, tt.wantGetValue)
			}
		})
	}
}

func TestMountPathTranslation(t *testing.T) {
	versions := []awsfake.Version{{ID: "team/app/secret", VersionID: v1, Value: "hunter2"}}
	tests := []struct {
		name, translation string // "": parameter not set
		want              string
	}{
		{name: "default: slashes become _", want: "team_app_secret"},
		{name: "another character", translation: "-", want: "team-app-secret"},
		{name: "False: slashes are directories", translation: "False", want: "team/app/secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, edges{sm: &awsfake.SM{Versions: versions}, region: "eu-west-1"}, testOptions)
			r := pmpReq("- objectName: team/app/secret")
			if tt.translation != "" {
				r.Parameters["pathTranslation"] = tt.translation
			}
			res, err := p.Mount(context.Background(), parse(t, r))
			if err != nil {
				t.Fatalf("Mount: %v", err)
			}
			if diff := cmp.Diff([]file{{Path: tt.want, Mode: 0o644, Contents: "hunter2"}}, filesOf(res)); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMountVerifiesEveryToken: a Mount whose token fails a check gets
// nothing and costs no AWS call, though the identity it names has its
// credentials and secret in the caches. Before tokens were verified, a
// junk token naming a cached identity was served that identity's secret.
func TestMountVerifiesEveryToken(t *testing.T) {
	victim := func() driverreq.Request { return pmpReq("- objectName: PMP-Production-Credentials") }
	signed := func(mod func(*issuer.Token)) string {
		tok := issuer.Token{Namespace: "pmp", ServiceAccount: "pmp-secrets-access", PodName: "pmp-0", PodUID: "0b0e3c1e-0000-4000-8000-000000000001"}
		mod(&tok)
		return testIssuer.Sign(tok)
	}
	tests := []struct {
		name  string
		token string
		check string
	}{
		{name: "junk", token: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6cG1wOnBtcC1zZWNyZXRzLWFjY2VzcyJ9.c2ln", check: "signature"},
		{name: "not a JWT", token: "let-me-in", check: "format"},
		{name: "forged", token: testIssuer.Forger().Sign(issuer.Token{Namespace: "pmp", ServiceAccount: "pmp-secrets-access"}), check: "signature"},
		{name: "expired", token: signed(func(t *issuer.Token) { t.IssuedAt = time.Now().Add(-3 * time.Hour) }), check: "expiry"},
		{name: "another audience", token: signed(func(t *issuer.Token) { t.Audience = []string{"vault"} }), check: "audience"},
		{name: "the attacker's own token", token: signed(func(t *issuer.Token) { t.Namespace, t.ServiceAccount = "other", "copycat" }), check: "subject"},
		{name: "another pod's token", token: signed(func(t *issuer.Token) { t.PodName, t.PodUID = "pmp-1", "uid-1" }), check: "pod"},
	}
	for _, cached := range []bool{true, false} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s, identity cached %v", tt.name, cached), func(t *testing.T) {
				e := edges{region: "eu-west-1", sts: newSTS(), sm: &awsfake.SM{Versions: []awsfake.Version{{ID: pmpSecret, VersionID: v1, Value: pmpDoc}}}}
				p := newProvider(t, e, testOptions)
				if cached {
					if _, err := p.Mount(context.Background(), parse(t, victim())); err != nil {
						t.Fatal(err)
					}
				}
				stsBefore, smBefore := len(e.sts.Calls()), len(e.sm.Calls())
				r := victim()
				r.Token = tt.token
				res, err := p.Mount(context.Background(), parse(t, r))
				if err == nil {
					t.Fatalf("Mount with a bad token served %d files", len(res.Files))
				}
				if mounterr.KindOf(err) != mounterr.Unauthenticated || !strings.Contains(err.Error(), "failed the "+tt.check+" check") {
					t.Errorf("error = %v, want Unauthenticated naming the %s check", err, tt.check)
				}
				if strings.Contains(err.Error(), tt.token) {
					t.Errorf("message quotes the token: %v", err)
				}
				if res != nil && len(res.Files) > 0 {
					t.Errorf("a refused Mount returned %d files", len(res.Files))
				}
				if len(e.sts.Calls()) != stsBefore || len(e.sm.Calls()) != smBefore {
					t.Errorf("a refused token made AWS calls: STS %d -> %d, Secrets Manager %d -> %d",
						stsBefore, len(e.sts.Calls()), smBefore, len(e.sm.Calls()))
				}
			})
		}
	}
}

// panicSM is a Secrets Manager client with a bug: it panics.
type panicSM struct{}

func (panicSM) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	panic("a bug in a Secrets Manager call")
}

// TestPanicInACacheLoad: a fetch runs on the secret cache's goroutine,
// where a panic would end the provider, every pod's Mounts with it (a
// panic on the Mount's own goroutine is the server's to recover). The
// Mount fails as Internal instead, and the provider serves the next.
func TestPanicInACacheLoad(t *testing.T) {
	p := provider.NewFromAPIs(provider.APIs{STS: newSTS(), SecretsManager: panicSM{}, Kube: kubeObjects(t).Client(), Region: "eu-west-1"}, testOptions)
	for range 2 {
		_, err := p.Mount(context.Background(), parse(t, pmpReq("- objectName: PMP-Production-Credentials")))
		if mounterr.KindOf(err) != mounterr.Internal || !strings.Contains(err.Error(), "internal error") {
			t.Errorf("Mount = %v, want an Internal error", err)
		}
	}
}

// nestedKeys is a JSON object whose one value is n levels down under keys
// of width bytes: in layout nested, a path of n*(width+1)-1 bytes.
func nestedKeys(n, width int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"%s":`, strings.Repeat(string(rune('a'+i%26)), width))
	}
	b.WriteString(`"v"`)
	b.WriteString(strings.Repeat("}", n))
	return b.String()
}

// TestMountBounds: what a value may make the provider hold or answer is
// bounded, and each bound fails the Mount as InvalidArgument naming the
// object, before anything the driver would refuse or fail on is returned.
func TestMountBounds(t *testing.T) {
	var objects strings.Builder
	var big []awsfake.Version
	for i := range 60 {
		id := fmt.Sprintf("blob-%02d", i)
		fmt.Fprintf(&objects, "- objectName: %s\n", id)
		big = append(big, awsfake.Version{ID: id, VersionID: v1, Value: strings.Repeat("x", 60_000)})
	}
	var wide strings.Builder
	wide.WriteString(`{"` + strings.Repeat("k", 30_000) + `":{`)
	for i := range 4_000 {
		if i > 0 {
			wide.WriteByte(',')
		}
		fmt.Fprintf(&wide, `"%d":1`, i)
	}
	wide.WriteString("}}")
	tests := []struct {
		name     string
		versions []awsfake.Version
		objects  string
		target   string // the request's target path
		want     []string
	}{
		{name: "a value over Secrets Manager's 64 KiB", versions: []awsfake.Version{{ID: pmpSecret, VersionID: v1, Value: strings.Repeat("x", 65_537)}},
			objects: "- objectName: PMP-Production-Credentials",
			want:    []string{"secret PMP-Production-Credentials is 65537 bytes, over the 65536 bytes"}},
		{name: "one long key over thousands of sub-keys", versions: []awsfake.Version{{ID: pmpSecret, VersionID: v1, Value: wide.String()}},
			objects: "- objectName: PMP-Production-Credentials",
			want:    []string{"secret PMP-Production-Credentials", "the key names add up to over 1048576 bytes"}},
		{name: "a response over 3 MiB", versions: big, objects: objects.String(),
			want: []string{"objects entry blob-52:", "over 3145728 bytes", "4 MiB"}},
		{name: "a path the driver accepts but cannot write under its ..<timestamp>/ directory",
			versions: []awsfake.Version{{ID: pmpSecret, VersionID: v1, Value: nestedKeys(16, 250)}},
			objects:  "- objectName: PMP-Production-Credentials\n  layout: nested",
			want:     []string{"objects entry PMP-Production-Credentials: the file", "is 4015 bytes long", "room for 3901"}},
		{name: "the room left depends on the volume's directory",
			versions: []awsfake.Version{{ID: pmpSecret, VersionID: v1, Value: nestedKeys(14, 250)}},
			objects:  "- objectName: PMP-Production-Credentials\n  layout: nested",
			target:   "/var/lib/kubelet/" + strings.Repeat("d", 600) + "/mount",
			want:     []string{"is 3513 bytes long", "room for 3438"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Dozens of large objects under -race on a loaded machine: a
			// budget that cannot run out before the bound is reached.
			o := testOptions
			o.RetryBudget = time.Minute
			p := newProvider(t, edges{region: "eu-west-1", sm: &awsfake.SM{Versions: tt.versions}}, o)
			req := parse(t, pmpReq(tt.objects))
			req.TargetPath = tt.target
			res, err := p.Mount(context.Background(), req)
			if err == nil {
				t.Fatalf("Mount succeeded with %d files", len(res.Files))
			}
			if mounterr.KindOf(err) != mounterr.Invalid {
				t.Errorf("kind = %s, want Invalid (%.300v)", mounterr.KindOf(err), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q: %.600v", w, err)
				}
			}
			if len(err.Error()) > 1024 {
				t.Errorf("message is %d bytes long", len(err.Error()))
			}
		})
	}
	// Within the bounds the same shapes mount.
	p := newProvider(t, edges{region: "eu-west-1", sm: &awsfake.SM{Versions: []awsfake.Version{{ID: pmpSecret, VersionID: v1, Value: nestedKeys(15, 240)}}}}, testOptions)
	if _, err := p.Mount(context.Background(), parse(t, pmpReq("- objectName: PMP-Production-Credentials\n  layout: nested"))); err != nil {
		t.Errorf("a 3614-byte nested path: %v", err)
	}
}

// TestPathRoomIsWritable: a file at the longest path PathRoom allows is
// written by the driver's own atomic writer under a volume directory of
// the length assumed; Linux refuses paths that do not leave that room.
func TestPathRoomIsWritable(t *testing.T) {
	target := t.TempDir()
	target = filepath.Join(target, strings.Repeat("t", files.DefaultTargetPathBytes-len(target)-1))
	if len(target) != files.DefaultTargetPathBytes {
		t.Fatalf("target is %d bytes", len(target))
	}
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	room := files.PathRoom(target)
	var segs []string
	for n := 0; n < room; n += 201 {
		segs = append(segs, strings.Repeat("s", min(200, room-n)))
	}
	p := strings.Join(segs, "/")
	p = p[:room]
	p = strings.TrimSuffix(p, "/") + strings.Repeat("x", room-len(strings.TrimSuffix(p, "/")))
	if len(p) != room {
		t.Fatalf("path is %d bytes, want %d", len(p), room)
	}
	payload := []*v1alpha1.File{{Path: p, Mode: 0o644, Contents: []byte("v")}}
	if err := fileutil.Validate(payload); err != nil {
		t.Fatalf("the driver refuses the path: %v", err)
	}
	if err := fileutil.WritePayloads(target, payload); err != nil {
		t.Errorf("the driver's writer cannot write a path of PathRoom bytes: %v", err)
	}
	// 4096 bytes in all, as the driver's own check allows: Linux refuses.
	long := []*v1alpha1.File{{Path: p + strings.Repeat("y", files.MaxPathBytes-len(target)-1-len(p)), Mode: 0o644}}
	if err := fileutil.WritePayloads(target, long); err == nil {
		t.Error("the writer wrote a path of 4096 bytes with its directory: the room is not needed?")
	}
}

// TestNodeRegionReadFailingIsTransient: an API server that does not answer
// while the node's region label is read is a transient failure the kubelet
// retries, not "no AWS region", which tells the user to change settings.
func TestNodeRegionReadFailingIsTransient(t *testing.T) {
	api := kubeObjects(t)
	api.Fail(apifake.NodePath("node-1"), http.StatusServiceUnavailable)
	o := testOptions
	o.NodeName = "node-1"
	p := provider.NewFromAPIs(provider.APIs{STS: newSTS(), SecretsManager: &awsfake.SM{}, Kube: api.Client()}, o)
	_, err := p.Mount(context.Background(), parse(t, pmpReq("- objectName: PMP-Production-Credentials")))
	if mounterr.KindOf(err) != mounterr.Transient || !strings.Contains(err.Error(), "transient") || strings.Contains(err.Error(), "no AWS region") {
		t.Errorf("Mount = %v (%s), want a Transient error saying so", err, mounterr.KindOf(err))
	}
}

// TestMountReadsEachObjectAsItsRole: the SecretProviderClass's
// assumeRoleArn reads every object as the target role, assumed with the
// pod's own credentials; an object's own assumeRoleArn replaces it, its
// external id and duration with it.
func TestMountReadsEachObjectAsItsRole(t *testing.T) {
	const target, other = "arn:aws:iam::444455556666:role/pmp-reader", "arn:aws:iam::777788889999:role/other"
	e := edges{sm: &awsfake.SM{Versions: []awsfake.Version{{ID: "a", VersionID: v1, Value: "1"}, {ID: "b", VersionID: v1, Value: "2"}, {ID: "c", VersionID: v1, Value: "3"}}}, region: "eu-west-1"}
	e.sts = newSTS()
	p := newProvider(t, e, testOptions)
	r := pmpReq("- objectName: a\n- objectName: b\n  assumeRoleArn: " + other + "\n  assumeRoleDurationSeconds: 1800\n- objectName: c")
	r.Parameters["assumeRoleArn"] = target
	r.Parameters["assumeRoleExternalId"] = "ext-1"
	if _, err := p.Mount(context.Background(), parse(t, r)); err != nil {
		t.Fatal(err)
	}
	own := "key-of-pmp-pmp-pmp-secrets-access"
	wantSTS := []awsfake.STSCall{
		{Role: testRole, Session: "pmp-pmp-pmp-secrets-access", Region: "eu-west-1"},
		{Op: "AssumeRole", Role: target, Session: "pmp-pmp-pmp-secrets-access", Token: own, Region: "eu-west-1", ExternalID: "ext-1"},
		{Op: "AssumeRole", Role: other, Session: "pmp-pmp-pmp-secrets-access", Token: own, Region: "eu-west-1", Duration: 1800},
	}
	got := e.sts.Calls()
	for i := range got {
		if got[i].Op == "" {
			got[i].Token = "" // the pod's token
		}
	}
	if diff := cmp.Diff(wantSTS, got); diff != "" {
		t.Errorf("STS calls (-want +got):\n%s", diff)
	}
	var keys []string
	for _, c := range e.sm.Calls() {
		keys = append(keys, c.ID+" as "+c.AccessKey)
	}
	wantKeys := []string{"a as key-of-" + target + "-as-" + own, "b as key-of-" + other + "-as-" + own, "c as key-of-" + target + "-as-" + own}
	if diff := cmp.Diff(wantKeys, keys); diff != "" {
		t.Errorf("Secrets Manager calls (-want +got):\n%s", diff)
	}
}

// TestMountMemo: the server shares one response among the Mounts that
// return exactly one cached selection's files: those of one identity, one
// secret version and one way of mounting it. Any other Mount has its own
// (a Memo shared across identities would serve one pod another's files).
func TestMountMemo(t *testing.T) {
	e := edges{region: "eu-west-1", sts: newSTS(), sm: &awsfake.SM{Versions: []awsfake.Version{{ID: pmpSecret, VersionID: v1, Value: pmpDoc}}}}
	p := newProvider(t, e, testOptions)
	mount := func(ns, sa, objects string) *provider.Result {
		t.Helper()
		r := pmpReq(objects)
		r.Namespace, r.ServiceAccount = ns, sa
		res, err := p.Mount(context.Background(), parse(t, r))
		if err != nil {
			t.Fatalf("Mount as %s/%s of %q: %v", ns, sa, objects, err)
		}
		return res
	}
	const one = "- objectName: PMP-Production-Credentials"
	first := mount("pmp", "pmp-secrets-access", one)
	if first.Memo == nil {
		t.Fatal("a Mount of one object has no Memo")
	}
	if again := mount("pmp", "pmp-secrets-access", one); again.Memo != first.Memo || len(again.Versions) != len(again.Files) {
		t.Errorf("a republish of the same identity and selection has another Memo, or %d versions for %d files", len(again.Versions), len(again.Files))
	}
	object.Derive(first.Memo, func() string { return "the response" }) // as the server does
	if again := mount("pmp", "pmp-secrets-access", one); again.Memo != first.Memo || again.Versions != nil || len(again.Files) != 2 {
		t.Errorf("a republish once the response is kept: %d files, %d versions, same Memo %v; want 2 files, no versions, the same Memo",
			len(again.Files), len(again.Versions), again.Memo == first.Memo)
	}
	if other := mount("other", "copycat", one); other.Memo == first.Memo {
		t.Error("another identity shares the Memo")
	}
	if alias := mount("pmp", "pmp-secrets-access", one+"\n  objectAlias: pmp"); alias.Memo == nil || alias.Memo == first.Memo {
		t.Error("another selection shares the Memo (or has none)")
	}
	if two := mount("pmp", "pmp-secrets-access", one+"\n  objectAlias: a\n"+one+"\n  objectAlias: b"); two.Memo != nil {
		t.Error("a Mount of two objects has a Memo")
	}
	if whole := mount("pmp", "pmp-secrets-access", one+"\n  flatten: false"); whole.Memo != nil {
		t.Error("a whole-value Mount has a Memo")
	}
}
