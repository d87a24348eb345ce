package manifests

import (
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/spclass"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// The Mendix documentation's ASCP SecretProviderClass, with provider: pmp
// and ascpCompat: "true" and nothing else changed (jmesPath entries of
// quoted hyphenated keys included), mounts the Operator's files with the
// secret's values: the same files as the generated class, beside the
// whole secret ASCP also writes (the object's name, pathTranslation
// applied), which the Operator does not read.
func TestOfficialASCPExampleMounts(t *testing.T) {
	classes, err := spclass.Read("testdata/ascp-mendix-environment.yaml")
	if err != nil || len(classes) != 1 {
		t.Fatalf("%v, %d classes", err, len(classes))
	}
	_, out, _ := run("--environment", "my-app", "-n", "my-namespace", "--role-arn", role)
	c := newCluster(t, documents(t, out)[0])
	files, err := c.mount(t, classes[0])
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := os.ReadFile("testdata/environment.json")
	whole, ok := files["my-namespace_my-app"]
	if !ok || whole != string(doc) {
		t.Errorf("the whole secret is not mounted as my-namespace_my-app, as ASCP mounts it: %q", slices.Sorted(maps.Keys(files)))
	}
	delete(files, "my-namespace_my-app")
	want := maps.Clone(c.secret)
	// The example has no jmesPath entry for constants and settings (its own
	// are commented out).
	delete(want, "mx-const-MyFirstModule.WelcomePageTitle")
	delete(want, "mx-runtime-com.mendix.storage.s3.EncryptionKeys")
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if len(files) != 15 {
		t.Errorf("%d of the example's 15 files", len(files))
	}

	// Without the switch, each key is mounted twice (flattened, and by its
	// jmesPath entry), which the provider refuses naming the file.
	delete(classes[0].Spec.Parameters, params.ParamASCPCompat)
	if _, err := c.mount(t, classes[0]); err == nil || !strings.Contains(err.Error(), "produce the same file") {
		t.Errorf("without ascpCompat: %v", err)
	}
}

// docs/mendix-environments.md shows the official example as the fixture
// holds it, and the class manifests writes.
func TestDocsShowBothClasses(t *testing.T) {
	b, err := os.ReadFile("../../docs/mendix-environments.md")
	if err != nil {
		t.Fatal(err)
	}
	fixture, err := os.ReadFile("testdata/ascp-mendix-environment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ascp := string(fixture)[strings.Index(string(fixture), "apiVersion:"):]
	if !strings.Contains(string(b), "```yaml\n"+ascp+"```") {
		t.Errorf("docs/mendix-environments.md does not show the official example as testdata/ascp-mendix-environment.yaml holds it:\n%s", ascp)
	}
	_, out, _ := run("--environment", "my-app", "-n", "my-namespace", "--role-arn", role)
	ours := out[strings.Index(out, "---\n")+4:]
	if !strings.Contains(string(b), "```yaml\n"+ours+"```") {
		t.Errorf("docs/mendix-environments.md does not show the class manifests writes:\n%s", ours)
	}
}
