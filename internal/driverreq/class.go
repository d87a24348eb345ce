package driverreq

import (
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

// SecretProviderClass is what the driver takes from a SecretProviderClass
// object for a Mount.
type SecretProviderClass struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		Provider   string            `json:"provider"`
		Parameters map[string]string `json:"parameters"`
	} `json:"spec"`
}

// ReadClasses returns the SecretProviderClasses of a YAML file of one or
// more documents, skipping objects of other kinds.
func ReadClasses(path string) ([]SecretProviderClass, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []SecretProviderClass
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var spc SecretProviderClass
		if err := yaml.Unmarshal([]byte(doc), &spc); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if spc.Kind == "SecretProviderClass" {
			out = append(out, spc)
		}
	}
	return out, nil
}
