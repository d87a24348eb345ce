package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/cmdline"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/apifake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/golden"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/mddoc"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mendixenv"
)

// environmentWorld is a cluster with the healthy PMP cluster objects and a
// healthy Mendix app environment my-namespace/my-app, and the emulator
// holding its secret (secret "" is validate's testdata environment).
func environmentWorld(t *testing.T, secret string) *world {
	t.Helper()
	w := worldWith(t, "my-namespace/my-app", secret, "../validate/testdata/in/environment.json")
	w.api.MendixEnvironment()
	return w
}

var myApp = Target{Namespace: "my-namespace", Environment: "my-app"}

func TestHealthyEnvironmentPasses(t *testing.T) {
	w := environmentWorld(t, "")
	res := w.doctor(t).CheckEnvironment(context.Background(), myApp, mendixenv.Modes{})
	want := "mendixapp ok, environment-account ok, environment-class ok, csidriver ok, daemonset ok, secretproviderclass ok, serviceaccount ok, token ok, sts ok, secret[0] ok, secret[0] ok, mount ok, environment-secret ok"
	if got := strings.Join(statuses(res), ", "); got != want {
		t.Fatalf("steps:\n%s\nwant:\n%s\n%+v", got, want, res.Steps)
	}
	if m := step(res, "environment-secret", report.OK).Message; !strings.Contains(m, "the 15 files are those the Mendix Operator reads for PostgreSQL with a password, S3 with an access key pair (11 needed, all there)") {
		t.Errorf("environment-secret: %s", m)
	}
	golden.Check(t, "environment.golden.txt", w.printed(t, res))
}

// Each mistake in an environment is caught by its own finding, which says
// how to fix it.
func TestEachEnvironmentMistakeHasItsFinding(t *testing.T) {
	noPassword := `{"database-type": "PostgreSQL", "database-jdbc-url": "jdbc:postgresql://db:5432/a", "database-host": "db:5432", "database-name": "a", "database-username": "u-SENTINEL",
		"storage-service-name": "com.mendix.storage.s3", "storage-endpoint": "https://b.s3.amazonaws.com", "storage-bucket-name": "b", "storage-access-key-id": "i-SENTINEL", "storage-secret-access-key": "s-SENTINEL"}`
	for _, tc := range []struct {
		name   string
		secret string
		break_ func(w *world)
		modes  mendixenv.Modes
		check  string
		status report.Severity
		says   []string
	}{
		{name: "the ServiceAccount without the Operator's annotation",
			break_: func(w *world) {
				w.api.Put(apifake.MendixAccountPath, apifake.MendixServiceAccount("my-app", apifake.Obj{"eks.amazonaws.com/role-arn": apifake.MendixRole}))
			},
			check: "environment-account", status: report.Error,
			says: []string{"ServiceAccount my-namespace/my-app has no annotation privatecloud.mendix.com/environment-account", "kubectl -n my-namespace annotate --overwrite serviceaccount my-app privatecloud.mendix.com/environment-account=true"}},
		{name: "the class without the Operator's annotation",
			break_: func(w *world) {
				w.api.Put(apifake.MendixClassPath, apifake.MendixClass("my-app", apifake.Obj{"privatecloud.mendix.com/environment-class": "false"}))
			},
			check: "environment-class", status: report.Error,
			says: []string{`has annotation privatecloud.mendix.com/environment-class "false", not "true"`, "annotate --overwrite secretproviderclass my-app privatecloud.mendix.com/environment-class=true"}},
		{name: "a class named differently from the app",
			break_: func(w *world) {
				w.api.Delete(apifake.MendixClassPath)
				w.api.Put("/apis/secrets-store.csi.x-k8s.io/v1/namespaces/my-namespace/secretproviderclasses/my-app-secrets",
					apifake.MendixClass("my-app-secrets", apifake.Obj{"privatecloud.mendix.com/environment-class": "true"}))
			},
			check: "environment-class", status: report.Error,
			says: []string{"there is no SecretProviderClass my-namespace/my-app", "SecretProviderClass my-app-secrets is annotated privatecloud.mendix.com/environment-class but named differently", "rename SecretProviderClass my-app-secrets to my-app"}},
		{name: "a missing required key", secret: noPassword,
			check: "environment-secret", status: report.Error,
			says: []string{"database-password is missing: the Operator needs it with PostgreSQL with a password", "pass --database-auth rds-iam"}},
		{name: "no password with RDS IAM is right", secret: noPassword, modes: mendixenv.Modes{DatabaseAuth: mendixenv.AuthRDSIAM},
			check: "environment-secret", status: report.OK, says: []string{"PostgreSQL with RDS IAM authentication"}},
		{name: "a mistyped key", secret: strings.Replace(noPassword, `"database-name"`, `"database-nmae"`, 1),
			check: "environment-secret", status: report.Error,
			says: []string{"database-nmae is not a key the Mendix Operator reads", "did you mean database-name?", "rename it to database-name"}},
		{name: "a standalone app without the setting",
			break_: func(w *world) { w.api.Put(apifake.MendixAppPath, apifake.MendixApp("my-app", false)) },
			check:  "mendixapp", status: report.Warning,
			says: []string{"does not set allowOverrideSecretsWithSecretStoreCSIDriver: true", `kubectl -n my-namespace patch mendixapp my-app --type merge -p '{"spec":{"allowOverrideSecretsWithSecretStoreCSIDriver":true}}'`}},
		{name: "no MendixApp CRD",
			break_: func(w *world) { w.api.Delete(apifake.MendixAppCRDPath) },
			check:  "mendixapp", status: report.Skipped, says: []string{"the MendixApp CRD (mendixapps.privatecloud.mendix.com) is not installed"}},
		{name: "an environment name that is not the MendixApp's",
			break_: func(w *world) {
				w.api.Delete(apifake.MendixAppPath)
				w.api.Put("/apis/privatecloud.mendix.com/v1alpha1/namespaces/my-namespace/mendixapps/my-app1", apifake.MendixApp("my-app1", true))
			},
			check: "mendixapp", status: report.Error, says: []string{"there is no MendixApp my-namespace/my-app; did you mean my-app1?"}},
		{name: "the ServiceAccount without the role",
			break_: func(w *world) {
				w.api.Put(apifake.MendixAccountPath, apifake.MendixServiceAccount("my-app", apifake.Obj{"privatecloud.mendix.com/environment-account": "true"}))
			},
			check: "serviceaccount", status: report.Error, says: []string{"has no eks.amazonaws.com/role-arn annotation"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := environmentWorld(t, tc.secret)
			if tc.break_ != nil {
				tc.break_(w)
			}
			res := w.doctor(t).CheckEnvironment(context.Background(), myApp, tc.modes)
			s := step(res, tc.check, tc.status)
			if s == nil {
				t.Fatalf("no %s step with status %s:\n%s", tc.check, tc.status, strings.Join(statuses(res), "\n"))
			}
			for _, want := range tc.says {
				if !strings.Contains(s.Message+"\n"+s.Fix, want) {
					t.Errorf("the finding does not say %q:\n%s\nfix: %s", want, s.Message, s.Fix)
				}
			}
			if s.Fix == "" && tc.status.Problem() {
				t.Errorf("the finding says no fix: %s", s.Message)
			}
			for _, st := range res.Steps {
				if strings.Contains(st.Message, "PMP") && st.Check != "csidriver" && st.Check != "daemonset" {
					t.Errorf("an environment is judged as a PMP secret: %s %s", st.Check, st.Message)
				}
			}
			out, _ := json.Marshal(res)
			noSecrets(t, w.api, string(out))
		})
	}
}

func TestRunEnvironment(t *testing.T) {
	w := environmentWorld(t, "")
	kubeconfig := w.api.Kubeconfig(t)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Run(context.Background(), cmdline.Env{Prog: "kubectl pmp", Stdout: &out, Stderr: &errb}, args)
		return code, out.String(), errb.String()
	}
	code, stdout, stderr := run("--kubeconfig", kubeconfig, "--environment", "my-app", "-n", "my-namespace")
	if code != 0 || !strings.HasPrefix(stdout, "doctor: namespace my-namespace, Mendix app environment my-app, service account my-app, SecretProviderClass my-app: no problems") {
		t.Errorf("status %d\n%s%s", code, stdout, stderr)
	}
	noSecrets(t, w.api, stdout+stderr)
	code, stdout, _ = run("--kubeconfig", kubeconfig, "--environment", "my-app", "-n", "my-namespace", "--database", "sqlserver", "--output", "json")
	var res Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	if code != 1 || res.Target.Environment != "my-app" || step(res, "environment-secret", report.Error) == nil {
		t.Errorf("checked as SQL Server: status %d\n%s", code, stdout)
	}
	noSecrets(t, w.api, stdout)
	for args, says := range map[string]string{
		"--environment my-app --deployment x":       "--environment names the service account and class itself",
		"--deployment x --storage-auth irsa":        "--storage-auth: only with --environment",
		"--environment my-app --storage-auth other": `--storage-auth "other" is not one of s3 storage's`,
	} {
		code, stdout, stderr := run(append([]string{"--kubeconfig", kubeconfig}, strings.Fields(args)...)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, says) {
			t.Errorf("%s: status %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

// docs/mendix-environments.md shows the run of TestHealthyEnvironmentPasses.
func TestDocsShowTheHealthyEnvironment(t *testing.T) {
	b, err := os.ReadFile("../../docs/mendix-environments.md")
	if err != nil {
		t.Fatal(err)
	}
	_, shown, ok := mddoc.ExampleRun(string(b), "kubectl pmp doctor --environment my-app -n my-namespace")
	if !ok {
		t.Fatal("docs/mendix-environments.md shows no doctor --environment run")
	}
	want, err := os.ReadFile("testdata/environment.golden.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got := versionIDs.ReplaceAllString(shown, "version VERSION"); got != string(want) {
		t.Errorf("docs/mendix-environments.md shows:\n%s\ndoctor prints:\n%s", got, want)
	}
}
