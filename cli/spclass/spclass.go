// Package spclass reads SecretProviderClass objects, from YAML files or the
// Kubernetes API's JSON, and parses their parameters with the provider's
// own parser, as a Mount would. The subcommands check classes with it; the
// demo and the examples test read theirs with it.
package spclass

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// SecretProviderClass is what the driver takes from a SecretProviderClass
// object for a Mount.
type SecretProviderClass struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace,omitempty"`
	} `json:"metadata"`
	Spec struct {
		Provider   string            `json:"provider"`
		Parameters map[string]string `json:"parameters"`
	} `json:"spec"`
}

// Kind is the kind of a SecretProviderClass object.
const Kind = "SecretProviderClass"

// Read returns the SecretProviderClasses of a YAML file of one or more
// documents, skipping objects of other kinds.
func Read(path string) ([]SecretProviderClass, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// Parse returns the SecretProviderClasses of YAML (or JSON) text of one or
// more documents separated by "---" lines, skipping objects of other kinds.
func Parse(data []byte) ([]SecretProviderClass, error) {
	var out []SecretProviderClass
	for i, doc := range documents(data) {
		var spc SecretProviderClass
		if err := yaml.Unmarshal(doc, &spc); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if spc.Kind == Kind {
			out = append(out, spc)
		}
	}
	return out, nil
}

// documents splits YAML text at its "---" lines.
func documents(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), len(data)+1)
	for sc.Scan() {
		line := sc.Text()
		if t := strings.TrimRight(line, " \t\r"); t == "---" || strings.HasPrefix(t, "--- ") {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	return append(docs, cur.Bytes())
}

// Request parses the class's parameters exactly as the provider parses a
// Mount of it, with a stand-in pod (the class does not say which pods
// mount it). Its error lists every problem, naming the class and field.
func (c SecretProviderClass) Request() (*params.Request, error) {
	return params.ParseClass(c.Metadata.Name, c.Spec.Parameters)
}
