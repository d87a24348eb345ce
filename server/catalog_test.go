package server_test

import (
	"strings"
	"testing"

	"k8s.io/klog/v2"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
)

const catalogWarning = "PMP secret has keys that are not in the PMP catalog"

// A key PMP never reads (mis-cased) is logged once per secret version:
// not per republish, not per freshness window, not per pod.
func TestUnknownPMPKeysAreLoggedOncePerVersion(t *testing.T) {
	logs := captureLogs(t)
	e := newEnv(t, func(o *provider.Options) { o.SecretTTL = 1 }) // every Mount fetches again
	misCased := strings.Replace(mustTemplate(), `"GithubAdminPAT":`, `"GithubAdminPat":`, 1)
	e.putSecret("PMP-Production-Credentials", misCased)
	req := pmpReq("- objectName: PMP-Production-Credentials")
	for i := 0; i < 4; i++ {
		resp, err := e.mount(req)
		if err != nil {
			t.Fatal(err)
		}
		if filesOf(resp)["VCS.GithubAdminPat"] == "" {
			t.Fatal("the mis-cased key is not mounted: without strictKeys the Mount must not change")
		}
	}
	other := req
	other.PodName = "pmp-1"
	if _, err := e.mount(other); err != nil {
		t.Fatal(err)
	}
	klog.Flush()
	if n := strings.Count(logs.String(), catalogWarning); n != 1 {
		t.Fatalf("%d warning lines for one version over 5 Mounts, want 1:\n%s", n, logs)
	}
	for _, want := range []string{`secret="PMP-Production-Credentials"`, `\"VCS.GithubAdminPat\" (did you mean VCS.GithubAdminPAT?)`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the warning lacks %s:\n%s", want, logs)
		}
	}

	// A rotation that keeps the mistake is a new version: one more line.
	e.putSecret("PMP-Production-Credentials", strings.Replace(misCased, "VALUE-SENTINEL", "ROTATED-SENTINEL", -1))
	for i := 0; i < 3; i++ {
		if _, err := e.mount(req); err != nil {
			t.Fatal(err)
		}
	}
	// One that fixes it: none.
	e.putSecret("PMP-Production-Credentials", mustTemplate())
	if _, err := e.mount(req); err != nil {
		t.Fatal(err)
	}
	klog.Flush()
	if n := strings.Count(logs.String(), catalogWarning); n != 2 {
		t.Errorf("%d warning lines after a rotation and a fix, want 2:\n%s", n, logs)
	}
	if strings.Contains(logs.String(), "SENTINEL") {
		t.Error("the logs show a secret value")
	}
}

// Other JSON secrets mounted through the provider are not PMP secrets and
// are not checked; strictKeys with the catalog's own keys mounts.
func TestCatalogChecksLeaveOtherSecretsAlone(t *testing.T) {
	logs := captureLogs(t)
	e := newEnv(t)
	e.putSecret("app-db", `{"db": {"host": "h", "password": "VALUE-SENTINEL-db"}}`)
	if _, err := e.mount(pmpReq("- objectName: app-db")); err != nil {
		t.Fatal(err)
	}
	e.putSecret("PMP-Production-Credentials", mustTemplate())
	resp, err := e.mount(pmpReq("- objectName: PMP-Production-Credentials\n  strictKeys: true"))
	if err != nil {
		t.Fatalf("strictKeys with the catalog's keys: %v", err)
	}
	if len(resp.GetFiles()) != 30 {
		t.Errorf("%d files, want 30", len(resp.GetFiles()))
	}
	klog.Flush()
	if strings.Contains(logs.String(), catalogWarning) {
		t.Errorf("a warning for a secret without unknown PMP keys:\n%s", logs)
	}
}

func mustTemplate() string {
	doc, _ := pmpTemplate(secretValue)
	return doc
}
