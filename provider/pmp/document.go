package pmp

import (
	"bytes"
	"encoding/json"
)

// Document returns the PMP secret as PMP stores it (nested JSON, modules
// and keys in catalog order), each credential set to value(dottedName),
// and the dotted names whose value is not empty, with their values: what a
// Mount of the whole secret must return.
func Document(value func(name string) string) (doc string, mounted map[string]string) {
	mounted = map[string]string{}
	var b bytes.Buffer
	write(&b, modules, value, "", "")
	for _, m := range modules {
		for _, k := range m.Keys {
			if v := value(k.Dotted()); v != "" {
				mounted[k.Dotted()] = v
			}
		}
	}
	return b.String(), mounted
}

// Template is the empty template of the given modules (all when none), in
// catalog order, indented as in the PMP document, with a final newline:
// what to paste into Secrets Manager. Unknown module names are ignored;
// check them with FindModule.
func Template(moduleNames ...string) string {
	sel := modules
	if len(moduleNames) > 0 {
		want := map[string]bool{}
		for _, n := range moduleNames {
			want[n] = true
		}
		sel = nil
		for _, m := range modules {
			if want[m.Name] {
				sel = append(sel, m)
			}
		}
	}
	var b bytes.Buffer
	write(&b, sel, func(string) string { return "" }, "\n", "  ")
	b.WriteByte('\n')
	return b.String()
}

// write renders mods as a JSON object of objects, in order; nl and indent
// are empty for compact output.
func write(b *bytes.Buffer, mods []Module, value func(string) string, nl, indent string) {
	sep := ":"
	if indent != "" {
		sep = ": "
	}
	b.WriteByte('{')
	for i, m := range mods {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(nl + indent)
		str(b, m.Name)
		b.WriteString(sep + "{")
		for j, k := range m.Keys {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(nl + indent + indent)
			str(b, k.Name)
			b.WriteString(sep)
			str(b, value(k.Dotted()))
		}
		b.WriteString(nl + indent + "}")
	}
	b.WriteString(nl + "}")
}

func str(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}
