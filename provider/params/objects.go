package params

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/files"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/jmes"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/suggest"
)

// Flatten says whether a secret's JSON value is split into one file per key.
type Flatten int

const (
	// FlattenAuto flattens a value that is a JSON object, and mounts any
	// other value as one file.
	FlattenAuto Flatten = iota
	// FlattenOn requires a JSON object and flattens it.
	FlattenOn
	// FlattenOff mounts the whole value as one file.
	FlattenOff
)

// ObjectType is the AWS store an object is read from.
type ObjectType int

const (
	// SecretsManager is an AWS Secrets Manager secret (objectType
	// secretsmanager, the default).
	SecretsManager ObjectType = iota
	// SSMParameter is an AWS Systems Manager Parameter Store parameter
	// (objectType ssmparameter, or ssm).
	SSMParameter
)

// JMESPath is one entry of an object's jmesPath field: a value selected
// from the JSON document and written to a file of its own.
type JMESPath struct {
	// Path is the expression, compiled.
	Path *jmes.Expr
	// Alias is the file name.
	Alias string
	// Mode overrides the object's file mode when not zero.
	Mode fs.FileMode
	// Optional skips the entry when its path selects nothing in the
	// value, instead of failing the Mount.
	Optional bool
}

// Object is one entry of the objects parameter.
type Object struct {
	// Name is the secret's or parameter's name or full ARN, as given.
	Name string
	Type ObjectType
	// Alias is the file name of a whole-value object, or the directory the
	// files of a flattened object go in; empty means the volume root (for
	// flattened objects) or a name derived from Name.
	Alias        string
	Version      string
	VersionLabel string
	// Mode overrides the request's file mode when not zero.
	Mode      fs.FileMode
	Flatten   Flatten
	Keys      []string
	Layout    files.Layout
	KeepEmpty bool
	// StrictKeys fails the Mount when the secret has keys that are not in
	// the PMP catalog.
	StrictKeys bool
	// Region is the region in Name when Name is an ARN.
	Region string
	// Decode is how the value (whole) or each selected key's value
	// (flattened) is decoded before it is written.
	Decode Decode
	// SecretTTL is this object's freshness window; zero means the
	// provider's --secret-ttl.
	SecretTTL time.Duration
	// AssumeRole, when set, replaces the SecretProviderClass's
	// assumeRoleArn (and its external id and duration) for this object.
	AssumeRole AssumeRole
	// JMESPath are the files selected from the JSON value by expressions,
	// written beside the object's own files.
	JMESPath []JMESPath
	// Failover is the object's failoverObject, how it is named in the
	// SecretProviderClass's failoverRegion; nil without one.
	Failover *FailoverObject
	// Optional skips the object when its secret or parameter (or the
	// version asked for) does not exist in its region, instead of failing
	// the Mount; any other failure still fails it.
	Optional bool
}

// FailoverObject is an object's failoverObject (ASCP's): the object as it
// is read in the failoverRegion. An empty field is the object's own.
type FailoverObject struct {
	// Name is the name or ARN in the failover region.
	Name string
	// Version and VersionLabel, when either is set, replace the object's
	// objectVersion and objectVersionLabel in the failover region.
	Version, VersionLabel string
	// Region is the region in Name when Name is an ARN.
	Region string
}

// InFailover is the name, version and label obj is read as in the
// failover region: its failoverObject's, else its own.
func (o *Object) InFailover() (name, version, label string) {
	name, version, label = o.Name, o.Version, o.VersionLabel
	if o.Failover == nil {
		return name, version, label
	}
	if o.Failover.Name != "" {
		name = o.Failover.Name
	}
	if o.Failover.Version != "" || o.Failover.VersionLabel != "" {
		version, label = o.Failover.Version, o.Failover.VersionLabel
	}
	return name, version, label
}

// MinSecretTTL and MaxSecretTTL bound an object's secretTTL.
const (
	MinSecretTTL = time.Second
	MaxSecretTTL = 24 * time.Hour
)

// Decode is the decoding applied to a value before it is written.
type Decode int

const (
	// DecodeNone writes the value as stored.
	DecodeNone Decode = iota
	// DecodeBase64 decodes standard base64 (RFC 4648 section 4), padded or not.
	DecodeBase64
	// DecodeBase64URL decodes URL-safe base64 (RFC 4648 section 5), padded or not.
	DecodeBase64URL
)

// decodeValues are the values of the decode field.
var decodeValues = []string{"base64", "base64url"}

// FileName is the file a whole-value object is written to: its alias, or
// its name with each '/' replaced by translation (the pathTranslation
// parameter); an empty translation keeps the slashes as directories.
func (o Object) FileName(translation string) string {
	if o.Alias != "" {
		return o.Alias
	}
	name := o.Name
	if arn, ok := parseARN(o.Name); ok {
		name = arn.name
	} else if arn, ok := parseSSMARN(o.Name); ok {
		name = arn.name
	}
	if translation == "" {
		return name
	}
	return strings.ReplaceAll(name, "/", translation)
}

// Object fields, as written in the objects parameter. They are matched
// regardless of case, as the official AWS provider (ASCP) matches them
// (its own manifests write jmesPath entries as Path: and ObjectAlias:).
var knownFields = []string{
	"objectName", "objectAlias", "objectType", "objectVersion", "objectVersionLabel",
	"filePermission", "decode", "flatten", "keys", "layout", "keepEmpty", "strictKeys", "jmesPath", "secretTTL",
	ParamAssumeRoleARN, ParamAssumeRoleExternalID, ParamAssumeRoleDuration, "failoverObject",
	"optional",
}

// jmesPathFields are the fields of a jmesPath entry.
var jmesPathFields = []string{"path", "objectAlias", "filePermission", "optional"}

// failoverObjectFields are the fields of a failoverObject, ASCP's.
var failoverObjectFields = []string{"objectName", "objectVersion", "objectVersionLabel"}

// objectTypes are the values of objectType: ASCP's, and ssm for short.
var objectTypes = []string{"secretsmanager", "ssmparameter", "ssm"}

var (
	secretNameRE = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,512}$`)
	arnRE        = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):secretsmanager:([a-z0-9-]+):(\d{12}):secret:([A-Za-z0-9/_+=.@-]+)$`)
	modeRE       = regexp.MustCompile(`^0?[0-7]{3}$`)
	// Parameter Store: letters, digits, . - _ and / for hierarchies; at
	// most 1011 characters with the leading slash.
	ssmNameRE  = regexp.MustCompile(`^[A-Za-z0-9_.\-/]+$`)
	ssmARNRE   = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):ssm:([a-z0-9-]+):(\d{12}):parameter(/[A-Za-z0-9_.\-/]+)$`)
	ssmLabelRE = regexp.MustCompile(`^[A-Za-z_.\-][A-Za-z0-9_.\-]{0,99}$`)
	ssmVerRE   = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)
)

// maxSSMName is the longest parameter name, its leading slash included.
const maxSSMName = 1011

// parseSSMARN reads a Parameter Store parameter ARN; its name keeps the
// slash after "parameter" (arn:...:parameter/app/db is /app/db).
func parseSSMARN(s string) (secretARN, bool) {
	m := ssmARNRE.FindStringSubmatch(s)
	if m == nil {
		return secretARN{}, false
	}
	return secretARN{region: m[2], name: m[4]}, true
}

type secretARN struct{ region, name string }

func parseARN(s string) (secretARN, bool) {
	m := arnRE.FindStringSubmatch(s)
	if m == nil {
		return secretARN{}, false
	}
	return secretARN{region: m[2], name: m[4]}, true
}

// parseObjects parses the objects parameter, returning every problem found.
func parseObjects(raw string) ([]Object, []error) {
	if strings.TrimSpace(raw) == "" {
		return nil, []error{fmt.Errorf(`parameter objects is missing or empty: add at least one object, e.g. objects: "- objectName: PMP-Production-Credentials"`)}
	}
	var list []map[string]any
	// Strict: a field written twice is an error. yaml.Unmarshal keeps the
	// last one silently (keys: [a] then keys: [b] mounts only b), and turns
	// a repeated objectName into the boolean true.
	if err := yaml.UnmarshalStrict([]byte(raw), &list); err != nil {
		reason := yamlReason(err)
		if strings.Contains(reason, "already set in map") {
			return nil, []error{fmt.Errorf("parameter objects sets a field twice in one object (%s): keep one", reason)}
		}
		return nil, []error{fmt.Errorf("parameter objects is not a YAML list of objects (%s): write it as a block, e.g. objects: |\n  - objectName: PMP-Production-Credentials", reason)}
	}
	if len(list) == 0 {
		return nil, []error{fmt.Errorf("parameter objects lists no object")}
	}
	var errs []error
	loose := looseOptional(raw)
	objects := make([]Object, 0, len(list))
	for i, m := range list {
		o, oerrs := parseObject(m)
		oerrs = append(oerrs, loose[i]...)
		for _, e := range oerrs {
			errs = append(errs, fmt.Errorf("objects[%d]%s: %w", i, label(m), e))
		}
		objects = append(objects, o)
	}
	return objects, errs
}

// yamlReason keeps the YAML library's explanation without echoing the input.
func yamlReason(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "error converting YAML to JSON: ")
	s = strings.TrimPrefix(s, "error unmarshaling JSON: ")
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:")
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, "json: cannot unmarshal"); i >= 0 {
		return "each entry must be a map such as {objectName: NAME}"
	}
	return s
}

func label(m map[string]any) string {
	for k, v := range m {
		if n, ok := v.(string); ok && strings.EqualFold(k, "objectName") && strings.TrimSpace(n) != "" {
			return fmt.Sprintf(" (%s)", strings.TrimSpace(n)) // as parseObject reads it
		}
	}
	return ""
}

// canonical renames m's keys to the spelling of known, matched regardless
// of case as ASCP's JSON decoding matches them. It reports keys that are
// not known, with the known name they are closest to, and a field written
// twice in two spellings.
func canonical(m map[string]any, known []string, bad func(string, ...any)) map[string]any {
	out := make(map[string]any, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := ""
		for _, f := range known {
			if strings.EqualFold(k, f) {
				name = f
				break
			}
		}
		if name == "" {
			hint := ""
			if h := suggest.Hint(suggest.Among(k, known)); h != "" {
				hint = ": " + h
			}
			bad("unknown field %q%s (known fields: %s)", k, hint, strings.Join(known, ", "))
			continue
		}
		if _, dup := out[name]; dup {
			bad("sets %s twice (in two spellings): keep one", name)
			continue
		}
		out[name] = m[k]
	}
	return out
}

func parseObject(raw map[string]any) (Object, []error) {
	var o Object
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	m := canonical(raw, knownFields, bad)

	str := func(field string) string {
		v, ok := m[field]
		return stringOf(v, ok && v != nil, field, bad)
	}
	boolean := func(field string) (value, set bool) {
		v, ok := m[field]
		if !ok || v == nil {
			return false, false
		}
		b, ok := v.(bool)
		if !ok {
			bad("%s must be true or false", field)
			return false, false
		}
		return b, true
	}

	switch t := str("objectType"); t {
	case "", "secretsmanager":
	case "ssmparameter", "ssm":
		o.Type = SSMParameter
	default:
		bad("objectType %q is not supported: use one of %s (or leave it out for secretsmanager)", t, strings.Join(objectTypes, ", "))
	}

	o.Name = str("objectName")
	if strings.HasPrefix(o.Name, "arn:") && o.Type == SecretsManager {
		if _, ok := parseSSMARN(o.Name); ok && str("objectType") == "" {
			o.Type = SSMParameter // ASCP reads the type from the ARN
		}
	}
	_, named := m["objectName"].(string)
	switch {
	case !named && m["objectName"] != nil:
		// not a string: reported by str
	case o.Name == "" && o.Type == SSMParameter:
		bad("objectName is required: the parameter's name (e.g. /app/db/password) or ARN")
	case o.Name == "":
		bad("objectName is required: the secret's name (e.g. PMP-Production-Credentials) or ARN")
	default:
		o.Region = checkName(o.Type, o.Name, "objectName", bad)
	}

	o.Version, o.VersionLabel = str("objectVersion"), str("objectVersionLabel")
	checkVersion(o.Type, o.Version, o.VersionLabel, bad)

	o.Alias = str("objectAlias")
	if o.Alias != "" {
		if err := files.CheckElement(o.Alias); err != nil {
			bad("objectAlias %q %v", o.Alias, err)
		}
	}

	o.Mode = fileMode(str("filePermission"), "filePermission", bad)

	switch d := str("decode"); d {
	case "":
	case "base64":
		o.Decode = DecodeBase64
	case "base64url":
		o.Decode = DecodeBase64URL
	default:
		bad("decode %q is not supported: use one of %s (or leave it out)", d, strings.Join(decodeValues, ", "))
	}

	flatten, flattenSet := boolean("flatten")
	switch {
	case !flattenSet:
		o.Flatten = FlattenAuto
	case flatten:
		o.Flatten = FlattenOn
	default:
		o.Flatten = FlattenOff
	}

	if v, ok := m["keys"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			bad(`keys must be a list of patterns, e.g. keys: ["VCS.*"]`)
		}
		for _, k := range list {
			s, ok := k.(string)
			if !ok || strings.TrimSpace(s) == "" {
				bad("keys must hold non-empty strings")
				continue
			}
			s = strings.TrimSpace(s)
			if r, ok := controlChar(s); ok {
				bad("keys pattern %s contains the control character %U: key names cannot hold one", mounterr.Quote(s), r)
				continue
			}
			if _, err := path.Match(s, ""); err != nil {
				bad("keys pattern %q is malformed", s)
				continue
			}
			o.Keys = append(o.Keys, s)
		}
	}

	switch l := str("layout"); l {
	case "", "dotted":
		o.Layout = files.Dotted
	case "nested":
		o.Layout = files.Nested
	default:
		bad("layout %q is not dotted or nested", l)
	}

	if v := str("secretTTL"); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			bad("secretTTL %s is not a duration: write it as e.g. \"30s\" or \"5m\"", mounterr.Quote(v))
		case d < MinSecretTTL || d > MaxSecretTTL:
			bad("secretTTL %s is outside %s-%s (for no cache at all, the provider's --cache=false)", v, MinSecretTTL, MaxSecretTTL)
		default:
			o.SecretTTL = d
		}
	}

	o.KeepEmpty, _ = boolean("keepEmpty")
	var problems []string
	o.AssumeRole, problems = parseAssumeRole(func(field string) (any, bool) {
		v, ok := m[field]
		return v, ok && v != nil
	}, "")
	for _, p := range problems {
		bad("%s", p)
	}
	o.StrictKeys, _ = boolean("strictKeys")
	o.Optional, _ = boolean("optional")

	if v, ok := m["jmesPath"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			bad("jmesPath must be a list of entries, e.g. jmesPath: [{path: username, objectAlias: db-user}]")
		}
		for i, e := range list {
			em, ok := e.(map[string]any)
			if !ok {
				bad("jmesPath[%d] must be a map such as {path: username, objectAlias: db-user}", i)
				continue
			}
			o.JMESPath = append(o.JMESPath, parseJMESPath(i, em, bad))
		}
	}

	if v, ok := m["failoverObject"]; ok && v != nil {
		o.Failover = parseFailoverObject(o.Type, v, bad)
	}

	if o.Flatten == FlattenOff {
		if len(o.Keys) > 0 {
			bad("keys selects keys of a flattened value: remove keys or flatten: false")
		}
		if _, ok := m["layout"]; ok {
			bad("layout applies to flattened values: remove layout or flatten: false")
		}
		if o.StrictKeys {
			bad("strictKeys checks the keys of a flattened value: remove strictKeys or flatten: false")
		}
	}
	return o, errs
}

// checkName checks the name or ARN of an object of type t, written in
// field, and returns the region an ARN names ("" for a name).
func checkName(t ObjectType, name, field string, bad func(string, ...any)) string {
	if strings.HasPrefix(name, "arn:") {
		parse, form := parseARN, "a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)"
		if t == SSMParameter {
			parse, form = parseSSMARN, "a Parameter Store parameter ARN (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)"
		}
		arn, ok := parse(name)
		switch {
		case !ok:
			bad("%s %q is not %s", field, name, form)
		case !regionRE.MatchString(arn.region):
			// Held to the region parameter's rule: a mistyped region would
			// otherwise show up only at mount time, as an unreachable
			// endpoint.
			bad("%s %q names the region %q, which is not an AWS region name such as eu-west-1", field, name, arn.region)
		}
		return arn.region
	}
	switch {
	case t == SSMParameter && strings.Contains(name, ":"):
		bad("%s %q holds ':': select a version with objectVersion (a number) or objectVersionLabel, not name:version", field, name)
	case t == SSMParameter && (!ssmNameRE.MatchString(name) || len(name) > maxSSMName):
		bad("%s %q is not a Parameter Store parameter name (1-1011 of A-Z a-z 0-9 . - _ and / for hierarchies)", field, name)
	case t == SecretsManager && !secretNameRE.MatchString(name):
		bad("%s %q is not a Secrets Manager secret name (1-512 of A-Z a-z 0-9 / _ + = . @ -)", field, name)
	}
	return ""
}

// checkVersion checks an object's objectVersion and objectVersionLabel (or
// its failoverObject's), for an object of type t.
func checkVersion(t ObjectType, version, label string, bad func(string, ...any)) {
	// A control character would make the caches' keys, which join these
	// with NUL bytes, ambiguous, and break the text of events.
	for field, v := range map[string]string{"objectVersion": version, "objectVersionLabel": label} {
		if r, ok := controlChar(v); ok {
			bad("%s %s contains the control character %U: a version id or staging label is printable text", field, mounterr.Quote(v), r)
		}
	}
	if version != "" && label != "" {
		bad("set objectVersion or objectVersionLabel, not both")
	}
	if t == SSMParameter {
		if version != "" && !ssmVerRE.MatchString(version) {
			bad("objectVersion %s of a parameter is not a version number such as \"3\"", mounterr.Quote(version))
		}
		if label != "" && !ssmLabelRE.MatchString(label) {
			bad("objectVersionLabel %s is not a Parameter Store label (1-100 of A-Z a-z 0-9 . - _, not starting with a digit)", mounterr.Quote(label))
		}
	}
}

// parseFailoverObject reads an object's failoverObject field, of an
// object of type t.
func parseFailoverObject(t ObjectType, v any, objBad func(string, ...any)) *FailoverObject {
	bad := func(format string, args ...any) { objBad("failoverObject: "+format, args...) }
	f := &FailoverObject{}
	raw, ok := v.(map[string]any)
	if !ok {
		bad("must be a map such as {objectName: arn:aws:secretsmanager:us-west-2:ACCOUNT:secret:NAME}")
		return f
	}
	m := canonical(raw, failoverObjectFields, bad)
	str := func(field string) string {
		v, ok := m[field]
		return stringOf(v, ok && v != nil, field, bad)
	}
	if f.Name = str("objectName"); f.Name != "" {
		f.Region = checkName(t, f.Name, "objectName", bad)
	}
	f.Version, f.VersionLabel = str("objectVersion"), str("objectVersionLabel")
	checkVersion(t, f.Version, f.VersionLabel, bad)
	return f
}

// failoverProblems are the problems of obj's failover, with the
// SecretProviderClass's failoverRegion (empty: none).
func failoverProblems(o *Object, failoverRegion string) []string {
	var out []string
	var f FailoverObject
	if o.Failover != nil {
		f = *o.Failover
	}
	switch {
	case failoverRegion == "" && o.Failover != nil:
		out = append(out, "failoverObject is read in the failoverRegion, which the SecretProviderClass does not set: add the parameter failoverRegion, or remove failoverObject")
	case failoverRegion == "":
	case o.Region == failoverRegion:
		out = append(out, fmt.Sprintf("objectName names the failoverRegion %s itself: name the object in its primary region, and its replica in failoverObject", failoverRegion))
	case o.Region != "" && f.Name == "":
		out = append(out, fmt.Sprintf("objectName is an ARN, which names its region %s: with failoverRegion, add failoverObject: {objectName: ...}, the ARN of its replica in %s (or its name there)", o.Region, failoverRegion))
	}
	if failoverRegion != "" && f.Region != "" && f.Region != failoverRegion {
		out = append(out, fmt.Sprintf("failoverObject objectName %q names the region %s, not the failoverRegion %s: name the replica in %s", f.Name, f.Region, failoverRegion, failoverRegion))
	}
	return out
}

// controlChar returns the first control character in s (C0, DEL, C1).
func controlChar(s string) (rune, bool) {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r < 0xa0) {
			return r, true
		}
	}
	return 0, false
}

// fileMode reads an octal file mode such as "0400" ("" is zero: unset).
func fileMode(p, field string, bad func(string, ...any)) fs.FileMode {
	switch {
	case p == "":
		return 0
	case !modeRE.MatchString(p):
		bad("%s %q is not an octal mode in quotes such as \"0400\"", field, p)
	default:
		if n, _ := strconv.ParseUint(p, 8, 32); n != 0 {
			return fs.FileMode(n)
		}
		bad("%s 0000 would make the files unreadable: use e.g. \"0400\"", field)
	}
	return 0
}

// stringOf is a field's value, trimmed: "" when it is not present; a value
// that is not a string is a problem, reported to bad naming name (YAML reads
// 0400 or 1 unquoted as numbers, true as a boolean).
func stringOf(v any, present bool, name string, bad func(format string, args ...any)) string {
	if !present {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		bad("%s must be a string: put the value in quotes", name)
		return ""
	}
	return strings.TrimSpace(s)
}

// parseJMESPath reads entry i of an object's jmesPath field.
func parseJMESPath(i int, raw map[string]any, objBad func(string, ...any)) JMESPath {
	bad := func(format string, args ...any) { objBad("jmesPath[%d]: "+format, append([]any{i}, args...)...) }
	m := canonical(raw, jmesPathFields, bad)
	str := func(field string) string {
		v, ok := m[field]
		return stringOf(v, ok && v != nil, field, bad)
	}
	var j JMESPath
	if p := str("path"); p == "" {
		bad("path is required: the JMESPath expression of the value, e.g. path: username")
	} else if expr, err := jmes.Compile(p); err != nil {
		bad("path %s %v", mounterr.Quote(p), err)
	} else {
		j.Path = expr
	}
	j.Alias = str("objectAlias")
	if j.Alias == "" {
		bad("objectAlias is required: the name of the file the value is written to")
	} else if err := files.CheckElement(j.Alias); err != nil {
		bad("objectAlias %q %v", j.Alias, err)
	}
	j.Mode = fileMode(str("filePermission"), "filePermission", bad)
	if v, ok := m["optional"]; ok && v != nil {
		if b, ok := v.(bool); ok {
			j.Optional = b
		} else {
			bad("optional must be true or false")
		}
	}
	return j
}
