package validate

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/spclass"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/files"
)

// Volume is what one SecretProviderClass would mount from the secret.
type Volume struct {
	Class   string        `json:"class"`
	Objects []ObjectFiles `json:"objects"`
}

// ObjectFiles are the files of one objects entry.
type ObjectFiles struct {
	// Index is the entry's position in objects.
	Index  int    `json:"index"`
	Object string `json:"objectName"`
	// Files are the paths and modes (never the contents).
	Files []File `json:"files"`
	// Other is set when the entry reads another secret than the one
	// validated: its files are not shown.
	Other bool `json:"otherSecret,omitempty"`
	// Fails is set when the Mount would fail on this entry (a finding
	// says why).
	Fails bool `json:"mountFails,omitempty"`
}

// File is one mounted file.
type File struct {
	Path string `json:"path"`
	Mode string `json:"mode"`
}

// mountPreview shows the files each class would mount from raw, through
// the provider's own code: its parser for the class parameters, its
// flattening and file selection for each object, its volume check. With a
// secret name, only the objects that read that secret are shown; without
// one (a file), every object is taken to hold raw. With raw nil (a secret
// the provider refuses), only the classes themselves are checked.
func mountPreview(classes []spclass.SecretProviderClass, secret string, raw []byte, providerName string) ([]Volume, []report.Finding) {
	var vols []Volume
	var findings []report.Finding
	bad := func(check, msg, fix string) {
		findings = append(findings, report.Finding{Severity: report.Error, Check: check, Message: msg, Fix: fix})
	}
	for _, c := range classes {
		name := c.Metadata.Name
		if c.Spec.Provider != providerName {
			bad("class-provider", fmt.Sprintf("SecretProviderClass %q has spec.provider %q, so the driver sends its mounts to another provider", name, c.Spec.Provider),
				fmt.Sprintf("set spec.provider: %s", providerName))
		}
		req, err := c.Request()
		if err != nil {
			bad("class-invalid", err.Error(), "fix the named field of the SecretProviderClass; docs/secretproviderclass.md lists them")
			continue
		}
		if raw == nil {
			continue
		}
		vol := Volume{Class: name, Objects: []ObjectFiles{}}
		var all []files.File
		reads := false
		for i, obj := range req.Objects {
			of := ObjectFiles{Index: i, Object: obj.Name, Files: []File{}}
			if secret != "" && !sameSecret(obj.Name, secret) {
				of.Other = true
				vol.Objects = append(vol.Objects, of)
				continue
			}
			reads = true
			out, err := provider.ObjectFiles(obj, raw, req.Mode, req.PathTranslation)
			if err != nil {
				of.Fails = true
				bad("mount-fails", fmt.Sprintf("SecretProviderClass %q objects[%d]: the Mount would fail: %v", name, i, err),
					"change the secret or this objects entry as the message says")
			}
			for _, f := range out {
				of.Files = append(of.Files, File{Path: f.Path, Mode: fmt.Sprintf("%04o", f.Mode)})
			}
			all = append(all, out...)
			vol.Objects = append(vol.Objects, of)
		}
		if !reads {
			findings = append(findings, report.Finding{Severity: report.Warning, Check: "class-other-secret",
				Message: fmt.Sprintf("SecretProviderClass %q does not mount secret %s: its objects read %s", name, secret, strings.Join(req.ObjectNames(), ", ")),
				Fix:     fmt.Sprintf("set objectName: %s in its objects, or validate the secret it reads", secret)})
		}
		if err := files.CheckVolume(all); err != nil {
			bad("mount-fails", fmt.Sprintf("SecretProviderClass %q: the Mount would fail: %v", name, err), "give one object an objectAlias, or narrow its keys")
		}
		vols = append(vols, vol)
	}
	return vols, findings
}

// arnName is the secret name of a secret ARN, with its random suffix.
var arnName = regexp.MustCompile(`^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:(.+)$`)

// sameSecret says whether the objectName a and the secret b (each a name
// or an ARN) are the same secret, as far as names tell.
func sameSecret(a, b string) bool {
	if a == b {
		return true
	}
	na, aIsARN := secretName(a)
	nb, bIsARN := secretName(b)
	switch {
	case aIsARN && bIsARN:
		return false // two different full ARNs
	case aIsARN:
		return na == nb || strings.TrimSuffix(na, suffix(na)) == nb
	case bIsARN:
		return na == nb || strings.TrimSuffix(nb, suffix(nb)) == na
	}
	return false
}

func secretName(s string) (string, bool) {
	if m := arnName.FindStringSubmatch(s); m != nil {
		return m[1], true
	}
	return s, false
}

// suffix is the "-AbCdEf" Secrets Manager appends to a name in its ARN.
func suffix(name string) string {
	if i := len(name) - 7; i > 0 && name[i] == '-' {
		return name[i:]
	}
	return ""
}
