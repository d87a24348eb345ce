package manifests

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/cmdline"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/spclass"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/apifake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/driverreq"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/golden"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/kubeapi"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mendixenv"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

const (
	role   = "arn:aws:iam::123456789012:role/my-app"
	region = "eu-west-1"
)

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Run(context.Background(), cmdline.Env{Prog: "pmp-secrets-provider", Stdout: &out, Stderr: &errb}, args)
	return code, out.String(), errb.String()
}

// object is a Kubernetes object as far as these tests read it.
type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
}

// documents returns the YAML documents of out, as JSON objects.
func documents(t *testing.T, out string) []json.RawMessage {
	t.Helper()
	var docs []json.RawMessage
	for _, d := range strings.Split(out, "\n---\n") {
		b, err := yaml.YAMLToJSON([]byte(d))
		if err != nil {
			t.Fatalf("%v:\n%s", err, d)
		}
		docs = append(docs, b)
	}
	return docs
}

func TestObjects(t *testing.T) {
	code, out, stderr := run("--environment", "my-app", "-n", "my-namespace", "--role-arn", role, "--region", region)
	if code != 0 || stderr != "" {
		t.Fatalf("status %d, stderr %s", code, stderr)
	}
	golden.Check(t, "my-app.golden.yaml", out)
	docs := documents(t, out)
	if len(docs) != 2 {
		t.Fatalf("%d documents, want 2:\n%s", len(docs), out)
	}
	var sa, spc object
	_ = json.Unmarshal(docs[0], &sa)
	_ = json.Unmarshal(docs[1], &spc)
	if sa.Kind != "ServiceAccount" || sa.Metadata.Name != "my-app" || sa.Metadata.Namespace != "my-namespace" ||
		!cmp.Equal(sa.Metadata.Annotations, map[string]string{mendixenv.AccountAnnotation: "true", "eks.amazonaws.com/role-arn": role}) {
		t.Errorf("ServiceAccount: %+v", sa)
	}
	if spc.Kind != "SecretProviderClass" || spc.Metadata.Name != "my-app" || spc.Metadata.Namespace != "my-namespace" ||
		!cmp.Equal(spc.Metadata.Annotations, map[string]string{mendixenv.ClassAnnotation: "true"}) {
		t.Errorf("SecretProviderClass: %+v", spc)
	}
	classes, err := spclass.Parse([]byte(out))
	if err != nil || len(classes) != 1 {
		t.Fatalf("%v, %d classes", err, len(classes))
	}
	req, err := classes[0].Request()
	if err != nil {
		t.Fatal(err)
	}
	if classes[0].Spec.Provider != "pmp" || len(req.Objects) != 1 || req.Objects[0].Name != "my-namespace/my-app" || len(req.Objects[0].JMESPath) != 0 || req.Region != region {
		t.Errorf("the class: provider %s, %+v", classes[0].Spec.Provider, req)
	}

	code, out, stderr = run("--environment", "my-app", "-n", "my-namespace", "--secret", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:my-app-AbCdEf")
	if code != 1 || !strings.Contains(out, `objectName: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:my-app-AbCdEf"`) ||
		!strings.Contains(out, "eks.amazonaws.com/role-arn: "+PlaceholderRole) || !strings.Contains(stderr, "pass --role-arn") {
		t.Errorf("without a role: status %d\n%s%s", code, out, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for args, says := range map[string]string{
		"-n ns":                      "--environment is required",
		"--environment my-app":       "--namespace is required",
		"--environment My_App -n ns": `--environment "My_App" is not a Kubernetes object name`,
		"--environment my-app -n ns --role-arn my-role":  `--role-arn "my-role" is not an IAM role ARN`,
		"--environment my-app -n ns --secret a*b":        `--secret "a*b" is not a secret name`,
		"--environment my-app -n ns --region europe":     `--region "europe" is not an AWS region name`,
		"--environment my-app -n ns extra":               `unexpected arguments ["extra"]`,
		"--environment my-app -n ns --provider-name A:B": `--provider-name "A:B"`,
	} {
		code, stdout, stderr := run(strings.Fields(args)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, says) {
			t.Errorf("%s: status %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

// cluster is the AWS emulator holding an environment's secret, and an API
// server holding its ServiceAccount, as a Mount reads them.
type cluster struct {
	aws    *awsemu.AWS
	api    *apifake.Server
	secret map[string]string
}

func newCluster(t *testing.T, serviceAccount json.RawMessage) *cluster {
	t.Helper()
	a := awsemu.Start(t)
	a.UseFrom(t, region)
	doc, err := os.ReadFile("testdata/environment.json")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{aws: a, api: apifake.Start(t)}
	if err := json.Unmarshal(doc, &c.secret); err != nil {
		t.Fatal(err)
	}
	a.PutSecretIn(t, region, "my-namespace/my-app", string(doc))
	var sa any
	_ = json.Unmarshal(serviceAccount, &sa)
	c.api.Put("/api/v1/namespaces/my-namespace/serviceaccounts/my-app", sa)
	return c
}

// mount sends the Mount of a pod of the environment (service account
// my-app) for class, as the driver does, to the provider's own pipeline
// against the emulator, and returns the files by name.
func (c *cluster) mount(t *testing.T, class spclass.SecretProviderClass) (map[string]string, error) {
	t.Helper()
	kube, err := kubeapi.New(&rest.Config{Host: c.api.URL})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := provider.LoadAWSConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p := provider.New(cfg, kube, provider.Options{TokenAudience: "sts.amazonaws.com", Cache: true, SecretTTL: time.Minute, CacheSize: 16, RetryBudget: 2 * time.Second})
	m := driverreq.Request{
		PodName: "my-app-0", Namespace: "my-namespace", PodUID: "0b0e3c1e-0000-4000-8000-000000000001", ServiceAccount: "my-app",
		SecretProviderClass: class.Metadata.Name, Parameters: class.Spec.Parameters, Issuer: c.api.Issuer,
	}.Build()
	req, err := params.Parse(m.GetAttributes(), m.GetSecrets(), m.GetPermission())
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Mount(context.Background(), req)
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for _, f := range res.Files {
		files[f.Path] = string(f.Contents)
	}
	return files, nil
}

// The generated class, mounted through the provider against the emulator,
// gives one file per key of the environment's secret, named exactly as the
// Mendix Operator reads them, with the secret's values.
func TestGeneratedClassMountsTheOperatorsFiles(t *testing.T) {
	_, out, _ := run("--environment", "my-app", "-n", "my-namespace", "--role-arn", role)
	c := newCluster(t, documents(t, out)[0])
	classes, err := spclass.Parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	files, err := c.mount(t, classes[0])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c.secret, files); diff != "" {
		t.Errorf("files (-the secret's keys and values +mounted):\n%s", diff)
	}
	for name := range files {
		if mendixenv.Classify(name) == mendixenv.Unknown {
			t.Errorf("file %s is not a name the Operator reads", name)
		}
	}
	if n := c.aws.Front.Count("sts:AssumeRoleWithWebIdentity"); n != 1 {
		t.Errorf("%d AssumeRoleWithWebIdentity calls, want 1: the role of the generated ServiceAccount", n)
	}
	if got := c.aws.Front.LastForm("sts:AssumeRoleWithWebIdentity").Get("RoleArn"); got != role {
		t.Errorf("the Mount assumed %q, want the generated ServiceAccount's %s", got, role)
	}
}
