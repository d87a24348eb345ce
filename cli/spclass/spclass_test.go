package spclass

import (
	"strings"
	"testing"
)

func TestParseDocuments(t *testing.T) {
	in := `---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa}
--- # the class
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: one, namespace: pmp}
spec:
  provider: pmp
  parameters:
    objects: "- objectName: PMP-A"
---
{"kind": "SecretProviderClass", "metadata": {"name": "two"}, "spec": {"provider": "pmp", "parameters": {"objects": "- objectName: PMP-B\n  keys: [VCS.*]"}}}
`
	cs, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Metadata.Name != "one" || cs[0].Metadata.Namespace != "pmp" || cs[1].Metadata.Name != "two" {
		t.Fatalf("classes = %+v", cs)
	}
	req, err := cs[1].Request()
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Objects) != 1 || req.Objects[0].Name != "PMP-B" || req.Objects[0].Keys[0] != "VCS.*" || req.SecretProviderClass != "two" {
		t.Errorf("request = %+v", req)
	}
}

func TestRequestNamesTheClassAndOnlyItsProblems(t *testing.T) {
	cs, err := Parse([]byte("kind: SecretProviderClass\nmetadata: {name: bad}\nspec:\n  provider: pmp\n  parameters:\n    region: Europe\n    objects: \"- objectNam: PMP-A\""))
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs[0].Request()
	msg := err.Error()
	for _, want := range []string{`SecretProviderClass "bad" has 3 problems`, `parameter region "Europe"`, `unknown field "objectNam"`, "objectName is required"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "podInfoOnMount") || strings.Contains(msg, "token") {
		t.Errorf("error speaks of the pod, not the class: %s", msg)
	}
}

func TestParseError(t *testing.T) {
	if _, err := Parse([]byte("kind: SecretProviderClass\n---\nkind: [")); err == nil || !strings.Contains(err.Error(), "document 2") {
		t.Errorf("err = %v", err)
	}
}
