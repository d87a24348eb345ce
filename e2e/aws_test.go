//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/pmp"
)

// pmpSecret is a PMP secret's values by dotted key ("VCS.GitlabAdminPAT").
// Keys of the template that are not in the map are stored empty.
type pmpSecret map[string]string

// json renders the secret as the PMP template's nested JSON object
// (provider/pmp's catalog of 30 credentials).
func (s pmpSecret) json() string {
	doc, _ := pmp.Document(func(name string) string { return s[name] })
	return doc
}

// nonEmpty is the set of files a mount of the whole secret must show.
func (s pmpSecret) nonEmpty() map[string]string {
	out := map[string]string{}
	for k, v := range s {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// sampleSecret fills a third of the template, with values a shell or a
// careless writer would mangle: newlines, spaces, '=', non-ASCII.
func sampleSecret(tag string) pmpSecret {
	return pmpSecret{
		"VCS.BitbucketProjectAdminPAT":           "bb-pat-" + tag,
		"VCS.GitlabAdminPAT":                     "glpat-" + tag,
		"VCS.GithubEnterpriseClientSecret":       "line one\nline two\n",
		"BuildPackage.AwsSecretAccessKey":        "wJalr/XUtnFEMI+K7MDENG=" + tag,
		"MDAStorage.FileBasicAuthPassword":       "p@ss w0rd = ü ✓",
		"CIAdmin.JenkinsTriggerAuthToken":        "jenkins-" + tag,
		"ClusterSettings.GrafanaAPIKey":          "glsa_" + tag,
		"Marketplace.ImportCDNPassword":          "cdn-" + tag,
		"ClusterManager.KubernetesApiToken":      "eyJhbGciOi." + tag,
		"RuntimeBaseImage.S3CompatibleAccessKey": "AKIA" + strings.ToUpper(tag),
	}
}

// newPMPNamespace is most tests' set-up: a namespace holding a secret filled
// by sampleSecret(tag) and a service account "pmp" with the IRSA role. It
// returns the namespace, the stored values and the secret's name.
func newPMPNamespace(t *testing.T, tag string) (*testNS, pmpSecret, string) {
	t.Helper()
	ns := newNS(t)
	stored := sampleSecret(tag)
	secret := ns.createSecret("", stored.json())
	ns.serviceAccount("pmp", cfg.roleARN)
	return ns, stored, secret
}

// wholeSecretClass creates the SecretProviderClass "pmp" that mounts every
// credential of the secret with the defaults.
func (ns *testNS) wholeSecretClass(secret string) {
	ns.t.Helper()
	ns.secretProviderClass(spc{name: "pmp", objects: []map[string]any{{"objectName": secret}}})
}

// awsConfig is the configuration the suite seeds region with: the
// emulator of that region (PMP_E2E_AWS_ENDPOINT for cfg.region,
// PMP_E2E_AWS_FAILOVER_ENDPOINT for cfg.failoverRegion) with dummy
// credentials, or real AWS with the default credential chain.
func awsConfig(t *testing.T, region string) (aws.Config, *string) {
	t.Helper()
	var endpoint string
	if cfg.awsEndpoint != "" {
		switch region {
		case cfg.region:
			endpoint = cfg.awsEndpoint
		case cfg.failoverRegion:
			endpoint = cfg.awsFailover
			if endpoint == "" {
				t.Fatalf("PMP_E2E_AWS_FAILOVER_ENDPOINT is not set: the emulator of the failover region %s, where the suite seeds its secrets and parameters (e2e/README.md)", region)
			}
		default:
			t.Fatalf("no emulator for region %s: the suite seeds %s and %s", region, cfg.region, cfg.failoverRegion)
		}
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(region)}
	if endpoint != "" {
		// The emulator takes any credentials.
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("e2e", "e2e", "")))
	}
	ac, err := awsconfig.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		t.Fatalf("AWS config: %v", err)
	}
	if endpoint == "" {
		return ac, nil
	}
	return ac, aws.String(endpoint)
}

// smClient is a Secrets Manager client of region.
func smClient(t *testing.T, region string) *secretsmanager.Client {
	t.Helper()
	ac, endpoint := awsConfig(t, region)
	return secretsmanager.NewFromConfig(ac, func(o *secretsmanager.Options) { o.BaseEndpoint = endpoint })
}

// ssmClient is a Parameter Store client of region.
func ssmClient(t *testing.T, region string) *ssm.Client {
	t.Helper()
	ac, endpoint := awsConfig(t, region)
	return ssm.NewFromConfig(ac, func(o *ssm.Options) { o.BaseEndpoint = endpoint })
}

// createSecret stores a secret named PMP-<namespace>[-suffix] (the PMP IAM
// policy allows PMP-*) and deletes it when the test ends.
func (ns *testNS) createSecret(suffix, value string) string {
	ns.t.Helper()
	name, _ := ns.createSecretIn(cfg.region, suffix, value)
	return name
}

// createSecretIn is createSecret in region; it also returns the secret's ARN.
func (ns *testNS) createSecretIn(region, suffix, value string) (name, arn string) {
	ns.t.Helper()
	name = "PMP-" + ns.name
	if suffix != "" {
		name += "-" + suffix
	}
	sm := smClient(ns.t, region)
	out, err := sm.CreateSecret(ns.ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		ns.t.Fatalf("create secret %s in %s: %v", name, region, err)
	}
	ns.t.Cleanup(func() {
		_, _ = sm.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{
			SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
	})
	return name, aws.ToString(out.ARN)
}

func (ns *testNS) putSecretValue(name, value string) {
	ns.t.Helper()
	_, err := smClient(ns.t, cfg.region).PutSecretValue(ns.ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		ns.t.Fatalf("put secret value %s: %v", name, err)
	}
}

// putParameter writes a Parameter Store parameter in region, a new version
// when it exists (PutParameter with Overwrite), and deletes it when the
// test ends.
func (ns *testNS) putParameter(region, name string, typ ssmtypes.ParameterType, value string) {
	ns.t.Helper()
	c := ssmClient(ns.t, region)
	_, err := c.PutParameter(ns.ctx, &ssm.PutParameterInput{Name: aws.String(name), Type: typ, Value: aws.String(value), Overwrite: aws.Bool(true)})
	if err != nil {
		ns.t.Fatalf("put parameter %s in %s: %v", name, region, err)
	}
	ns.t.Cleanup(func() {
		_, _ = c.DeleteParameter(context.Background(), &ssm.DeleteParameterInput{Name: aws.String(name)})
	})
}

// front is the fault-injecting AWS front's control API.
type front struct {
	t   *testing.T
	url string
}

// needFront skips fault tests where no AWS front runs (EKS, real AWS).
func needFront(t *testing.T) *front {
	t.Helper()
	if cfg.frontControl == "" {
		t.Skip("PMP_E2E_AWS_FRONT_CONTROL is not set: fault injection needs the AWS front (dev/awsfront) between the provider and AWS")
	}
	f := &front{t: t, url: strings.TrimRight(cfg.frontControl, "/")}
	t.Cleanup(f.clear)
	return f
}

type fault struct {
	Operation string `json:"operation,omitempty"`
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Message   string `json:"message,omitempty"`
	For       string `json:"for,omitempty"`
	Region    string `json:"region,omitempty"` // only calls signed for this region; empty: every region
}

func (f *front) do(method, path string, body any) []byte {
	f.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.url+path, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		f.t.Fatalf("AWS front %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		f.t.Fatalf("AWS front %s %s: %s: %s", method, path, resp.Status, out)
	}
	return out
}

func (f *front) inject(ft fault) { f.do(http.MethodPost, "/faults", ft) }
func (f *front) clear()          { f.do(http.MethodDelete, "/faults", nil) }

func (f *front) counts() map[string]int64 { return f.countsAt("/counts") }
func (f *front) count(op string) int64    { return f.counts()[op] }

// regionCounts are the calls signed for region, by "service:Action".
func (f *front) regionCounts(region string) map[string]int64 {
	return f.countsAt("/counts?region=" + url.QueryEscape(region))
}

func (f *front) countsAt(path string) map[string]int64 {
	var c map[string]int64
	if err := json.Unmarshal(f.do(http.MethodGet, path, nil), &c); err != nil {
		f.t.Fatalf("AWS front %s: %v", path, err)
	}
	return c
}
