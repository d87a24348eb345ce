// Package params parses and validates what the driver sends in a Mount: the
// SecretProviderClass parameters, the pod's identity, its service-account
// tokens and the default file mode. It is pure: no I/O, every problem found
// at once, nothing acted on until the whole request is valid.
package params

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

// Attribute keys the driver sets from the pod (CSIDriver podInfoOnMount and
// tokenRequests).
const (
	AttrPodName        = "csi.storage.k8s.io/pod.name"
	AttrPodNamespace   = "csi.storage.k8s.io/pod.namespace"
	AttrPodUID         = "csi.storage.k8s.io/pod.uid"
	AttrServiceAccount = "csi.storage.k8s.io/serviceAccount.name"
	AttrTokens         = "csi.storage.k8s.io/serviceAccount.tokens"
	AttrSPC            = "secretProviderClass"
)

// SecretProviderClass parameters this provider reads.
const (
	ParamObjects = "objects"
	ParamRegion  = "region"
	// ParamFailoverRegion is ASCP's: the region every object is read
	// from when its own region is out (5xx, throttling past the retries,
	// no answer), never when it refuses (4xx).
	ParamFailoverRegion = "failoverRegion"
	// ParamPathTranslation is ASCP's: "False", "True" or one character.
	ParamPathTranslation = "pathTranslation"
	// ParamASCPCompat "true" mounts the files the official AWS provider
	// (ASCP) mounts: a JSON value as one file, named after the object or
	// its alias, beside its jmesPath files, instead of one file per key.
	ParamASCPCompat = "ascpCompat"
)

// DefaultPathTranslation replaces '/' in the file name of an object
// mounted whole, as ASCP does.
const DefaultPathTranslation = "_"

// DefaultMode is used when the request carries no permission.
const DefaultMode fs.FileMode = 0o644

// Pod is the pod a Mount is for.
type Pod struct {
	Name           string
	Namespace      string
	UID            string
	ServiceAccount string
}

// Token is a service-account token the kubelet issued for one audience.
// Its value must never be logged or put in an error or a cache key.
type Token struct {
	Value   string
	Expires time.Time
}

// Request is a parsed, validated Mount request.
type Request struct {
	Pod                 Pod
	SecretProviderClass string
	// Region is the SecretProviderClass region parameter, empty when unset.
	Region string
	// FailoverRegion is the failoverRegion parameter, empty when unset:
	// where the objects are read when their own region is out.
	FailoverRegion string
	// PathTranslation replaces '/' in the file name of an object mounted
	// whole; empty ("False") keeps the slashes as directories.
	PathTranslation string
	// PodIdentity is usePodIdentity: the pod's credentials come from the
	// EKS Pod Identity Agent, at the address AddressType prefers, instead
	// of IRSA.
	PodIdentity bool
	AddressType AddressType
	// AssumeRole is the role every object is read as, assumed with the
	// pod's own credentials, unless the object names its own.
	AssumeRole AssumeRole
	Objects    []Object
	// ASCPCompat is the ascpCompat parameter: objects that do not ask
	// for keys are mounted whole (their Flatten is FlattenOff).
	ASCPCompat bool
	// Mode is the request's default file mode.
	Mode fs.FileMode
	// Tokens holds the pod's service-account tokens by audience.
	Tokens map[string]Token
	// TargetPath is the volume's directory on the node, which the driver
	// writes the files under; set from the request by the caller of Parse
	// (it is not an attribute). Empty: unknown.
	TargetPath string
}

// ObjectNames lists the objects' names, for logs.
func (r *Request) ObjectNames() []string {
	names := make([]string, len(r.Objects))
	for i, o := range r.Objects {
		names[i] = o.Name
	}
	return names
}

func pathTranslationOK(t string) bool {
	r, _ := utf8.DecodeRuneInString(t)
	return r != utf8.RuneError && r != '/' && r != '.' && !unicode.IsControl(r)
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)

// Parse validates a Mount request. attributesJSON and secretsJSON are the
// request's JSON maps, permissionJSON its JSON file mode. All problems are
// reported together in one mounterr.Invalid error.
func Parse(attributesJSON, secretsJSON, permissionJSON string) (*Request, error) {
	return parse(attributesJSON, secretsJSON, permissionJSON, parseObjects)
}

// parse is Parse with the objects parameter parsed by objectsOf.
func parse(attributesJSON, secretsJSON, permissionJSON string, objectsOf func(string) ([]Object, []error)) (*Request, error) {
	attrs, err := decodeAttributes(attributesJSON)
	if err != nil {
		return nil, err
	}
	var secretTokens string
	if strings.TrimSpace(secretsJSON) != "" {
		if secretTokens, err = decodeSecrets(secretsJSON); err != nil {
			return nil, err
		}
	}

	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	req := &Request{
		Pod: Pod{
			Name:           attrs.podName,
			Namespace:      attrs.podNamespace,
			UID:            attrs.podUID,
			ServiceAccount: attrs.serviceAccount,
		},
		SecretProviderClass: attrs.spc,
		Region:              strings.TrimSpace(attrs.region),
	}
	if req.Pod.Name == "" || req.Pod.Namespace == "" || req.Pod.ServiceAccount == "" {
		add("the driver sent no pod name, namespace or service account: set podInfoOnMount: true on the CSIDriver secrets-store.csi.k8s.io")
	}
	if req.Region != "" && !regionRE.MatchString(req.Region) {
		add("parameter region %q is not an AWS region name such as eu-west-1", req.Region)
	}

	req.PathTranslation = DefaultPathTranslation
	switch t, set := attrs.pathTranslation, attrs.pathTranslationSet; {
	case !set || t == "True":
	case t == "False":
		req.PathTranslation = ""
	case utf8.RuneCountInString(t) == 1 && pathTranslationOK(t):
		req.PathTranslation = t
	default:
		add(`parameter pathTranslation %q is not "False", "True" or one character that can be in a file name (not / . or a control character), e.g. "_"`, t)
	}

	parseIdentityParams(attrs.more, req, add)

	mode, err := parsePermission(permissionJSON)
	if err != nil {
		add("%v", err)
	}
	req.Mode = mode

	tokens, err := parseTokens(attrs.tokens, secretTokens)
	if err != nil {
		add("%v", err)
	}
	req.Tokens = tokens

	req.FailoverRegion = strings.TrimSpace(attrs.more[ParamFailoverRegion])
	switch fr := req.FailoverRegion; {
	case fr == "":
	case !regionRE.MatchString(fr):
		add("parameter failoverRegion %q is not an AWS region name such as eu-west-1", fr)
	case fr == req.Region:
		add("parameter failoverRegion %q is the region itself: name another region, which holds a replica of the objects, or remove failoverRegion", fr)
	}

	switch c := strings.TrimSpace(attrs.more[ParamASCPCompat]); c {
	case "", "false", "False":
	case "true", "True":
		req.ASCPCompat = true
	default:
		add(`parameter ascpCompat %q is not "true" or "false"`, c)
	}

	objects, errs := objectsOf(attrs.objects)
	for _, e := range errs {
		add("%v", e)
	}
	for i := range objects {
		if o := &objects[i]; req.FailoverRegion != "" || o.Failover != nil {
			for _, p := range failoverProblems(o, req.FailoverRegion) {
				add("objects[%d] (%s): %s", i, o.Name, p)
			}
		}
	}
	if req.ASCPCompat {
		// As ASCP mounts it: the whole value, unless the object asks for
		// keys of it (fields ASCP does not have).
		for i, o := range objects {
			if o.Flatten == FlattenAuto && len(o.Keys) == 0 && !o.StrictKeys {
				objects[i].Flatten = FlattenOff
			}
		}
	}
	req.Objects = objects

	if len(problems) > 0 {
		return nil, &mounterr.Error{Kind: mounterr.Invalid, Msg: invalidMessage(req.SecretProviderClass, problems)}
	}
	return req, nil
}

// decodeAttributes decodes the request's attributes, a JSON map of
// strings.
func decodeAttributes(attributesJSON string) (attributes, error) {
	if a, ok := scanAttributes(attributesJSON); ok {
		return a, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(attributesJSON), &m); err != nil {
		return attributes{}, mounterr.New(mounterr.Invalid, "mount request attributes are not a JSON map of strings (is this a secrets-store-csi-driver request?)")
	}
	var a attributes
	for k, v := range m {
		a.set(k, v)
	}
	return a, nil
}

// decodeSecrets decodes the request's secrets, a JSON map of strings, and
// returns the token map the driver puts there with the CSIDriver's
// serviceAccountTokenInSecrets.
func decodeSecrets(secretsJSON string) (string, error) {
	if strings.TrimSpace(secretsJSON) == "null" { // the driver's usual secrets
		return "", nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(secretsJSON), &m); err != nil {
		return "", mounterr.New(mounterr.Invalid, "mount request secrets are not a JSON map of strings")
	}
	return m[AttrTokens], nil
}

func invalidMessage(spc string, problems []string) string {
	where := "SecretProviderClass"
	if spc != "" {
		where = fmt.Sprintf("SecretProviderClass %q", spc)
	}
	if len(problems) == 1 {
		return fmt.Sprintf("%s: %s", where, problems[0])
	}
	return fmt.Sprintf("%s has %d problems: %s", where, len(problems), strings.Join(problems, "; "))
}

func parsePermission(s string) (fs.FileMode, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DefaultMode, nil
	}
	// The driver sends json.Marshal(os.FileMode), a decimal number, which
	// some versions wrap in quotes.
	if s[0] >= '1' && s[0] <= '9' { // the usual "420", as JSON reads it
		if n, err := strconv.ParseUint(s, 10, 32); err == nil && n <= 0o777 {
			return fs.FileMode(n), nil
		}
	}
	var raw any
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return DefaultMode, fmt.Errorf("mount request permission %q is not JSON", s)
	}
	var n uint64
	switch v := raw.(type) {
	case float64:
		if v < 0 || v != float64(uint64(v)) {
			return DefaultMode, fmt.Errorf("mount request permission %q is not a file mode", s)
		}
		n = uint64(v)
	case string:
		u, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return DefaultMode, fmt.Errorf("mount request permission %q is not a file mode", s)
		}
		n = u
	default:
		return DefaultMode, fmt.Errorf("mount request permission %q is not a file mode", s)
	}
	if n == 0 || n > 0o777 {
		return DefaultMode, fmt.Errorf("mount request permission %#o is outside 0001-0777", n)
	}
	return fs.FileMode(n), nil
}

// parseTokens reads the tokens map from the attributes or, with the
// CSIDriver's serviceAccountTokenInSecrets, from the secrets.
func parseTokens(fromAttrs, fromSecrets string) (map[string]Token, error) {
	out := map[string]Token{}
	var buf [2]tokenEntry
	for _, raw := range []string{fromSecrets, fromAttrs} {
		if raw == "" {
			continue
		}
		entries, ok := scanTokens(raw, buf[:0])
		if !ok {
			var err error
			if entries, err = decodeTokens(raw); err != nil {
				return out, err
			}
		}
		for _, t := range entries {
			if _, seen := out[t.audience]; seen || t.token == "" {
				continue
			}
			tok := Token{Value: t.token}
			if ts, err := time.Parse(time.RFC3339, t.expires); err == nil {
				tok.Expires = ts
			}
			out[t.audience] = tok
		}
	}
	return out, nil
}

// decodeTokens decodes a token map with encoding/json.
func decodeTokens(raw string) ([]tokenEntry, error) {
	var m map[string]struct {
		Token               string `json:"token"`
		ExpirationTimestamp string `json:"expirationTimestamp"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, errors.New("the driver's " + AttrTokens + " value is not a JSON map of audience to token")
	}
	entries := make([]tokenEntry, 0, len(m))
	for aud, t := range m {
		entries = append(entries, tokenEntry{audience: aud, token: t.Token, expires: t.ExpirationTimestamp})
	}
	return entries, nil
}
