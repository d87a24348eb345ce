package params

import (
	"fmt"
	"strings"

	yaml3 "go.yaml.in/yaml/v3"
)

// looseOptional holds the objects parameter's optional fields to true and
// false as written. sigs.k8s.io/yaml reads YAML 1.1, where yes, no, on,
// off, y and n are booleans too: optional: y would skip a missing secret
// without anyone having written true. YAML 1.2 (yaml/v3) reads those as
// strings; an optional field that it does not read as a boolean, where
// the objects parameter's own parse found one, is a problem of the object
// at that index (the other parse reports values that are no boolean in
// either). Only text that mentions optional is parsed again, and the
// parser keeps each text's result.
func looseOptional(raw string) map[int][]error {
	if !strings.Contains(strings.ToLower(raw), "optional") {
		return nil
	}
	var doc yaml3.Node
	if err := yaml3.Unmarshal([]byte(raw), &doc); err != nil || len(doc.Content) != 1 {
		return nil // the first parse reports what is wrong with the text
	}
	list := resolve(doc.Content[0])
	if list.Kind != yaml3.SequenceNode {
		return nil
	}
	out := map[int][]error{}
	for i, obj := range list.Content {
		for _, pair := range fields(resolve(obj)) {
			switch {
			case strings.EqualFold(pair[0].Value, "optional"):
				if v, ok := looseBool(pair[1]); ok {
					out[i] = append(out[i], fmt.Errorf("optional must be true or false, not %s (YAML 1.1's spelling of %t): write %t", v.Value, looseTrue(v.Value), looseTrue(v.Value)))
				}
			case strings.EqualFold(pair[0].Value, "jmesPath"):
				entries := resolve(pair[1])
				if entries.Kind != yaml3.SequenceNode {
					continue
				}
				for j, e := range entries.Content {
					for _, ep := range fields(resolve(e)) {
						if !strings.EqualFold(ep[0].Value, "optional") {
							continue
						}
						if v, ok := looseBool(ep[1]); ok {
							out[i] = append(out[i], fmt.Errorf("jmesPath[%d]: optional must be true or false, not %s (YAML 1.1's spelling of %t): write %t", j, v.Value, looseTrue(v.Value), looseTrue(v.Value)))
						}
					}
				}
			}
		}
	}
	return out
}

// resolve follows an alias to the node it names.
func resolve(n *yaml3.Node) *yaml3.Node {
	for n != nil && n.Kind == yaml3.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n == nil {
		return &yaml3.Node{}
	}
	return n
}

// fields are a mapping's key and value pairs; none for another node.
func fields(n *yaml3.Node) [][2]*yaml3.Node {
	if n.Kind != yaml3.MappingNode {
		return nil
	}
	out := make([][2]*yaml3.Node, 0, len(n.Content)/2)
	for k := 0; k+1 < len(n.Content); k += 2 {
		out = append(out, [2]*yaml3.Node{resolve(n.Content[k]), resolve(n.Content[k+1])})
	}
	return out
}

// looseBool reports whether n is a plain scalar YAML 1.1 reads as a
// boolean and YAML 1.2 does not (yes, on, y, ...), returning it.
func looseBool(n *yaml3.Node) (*yaml3.Node, bool) {
	if n.Kind != yaml3.ScalarNode || n.Style != 0 || n.Tag == "!!bool" {
		return nil, false
	}
	if _, ok := yaml11Bools[n.Value]; ok {
		return n, true
	}
	return nil, false
}

// yaml11Bools are YAML 1.1's booleans that YAML 1.2 reads as strings.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
}

func looseTrue(s string) bool { return yaml11Bools[s] }
