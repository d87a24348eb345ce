package params

import "encoding/json"

// ParseClass validates a SecretProviderClass's parameters as Parse does
// for a Mount of it, for tools that check a class before any pod mounts
// it. The driver passes the parameters in the Mount's attributes, beside
// the pod's; ParseClass fills the pod's in with a stand-in, so the only
// problems it reports are the class's own.
func ParseClass(name string, parameters map[string]string) (*Request, error) {
	attrs := make(map[string]string, len(parameters)+4)
	for k, v := range parameters {
		attrs[k] = v
	}
	attrs[AttrPodName] = "pod"
	attrs[AttrPodNamespace] = "namespace"
	attrs[AttrServiceAccount] = "serviceaccount"
	attrs[AttrSPC] = name
	b, _ := json.Marshal(attrs) // a map of strings always marshals
	return Parse(string(b), "", "")
}
