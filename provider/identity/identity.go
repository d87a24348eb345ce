// Package identity resolves who a Mount is for: the IAM role of the pod's
// service account (IRSA), the AWS region, and short-lived credentials for
// that role from STS, exchanged for the pod's own token. The provider's own
// AWS identity is never used for a pod.
package identity

import (
	"regexp"
	"strings"
)

// RoleAnnotation is the service-account annotation that names the IAM role.
const RoleAnnotation = "eks.amazonaws.com/role-arn"

// Identity is a pod identity: the role it asks for and who asks. Caches of
// credentials and secrets are keyed by all of it, never by role alone: STS
// enforces the role's trust policy per namespace and service account, so a
// pod elsewhere that copied the annotation must go through STS itself.
type Identity struct {
	RoleARN        string
	Namespace      string
	ServiceAccount string
	Region         string
}

// Key is the cache key of the identity. It holds no token.
func (i Identity) Key() string {
	return strings.Join([]string{i.RoleARN, i.Namespace, i.ServiceAccount, i.Region}, "\x00")
}

// Subject is the token subject an IRSA trust policy must name.
func (i Identity) Subject() string {
	return "system:serviceaccount:" + i.Namespace + ":" + i.ServiceAccount
}

var roleARNRE = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)

// ValidRoleARN reports whether s is an IAM role ARN.
func ValidRoleARN(s string) bool { return roleARNRE.MatchString(s) }

var sessionUnsafe = regexp.MustCompile(`[^\w+=,.@-]`)

// SessionName is the RoleSessionName STS records in CloudTrail: it tells a
// reader which pod identity asked ("pmp-NAMESPACE-SERVICEACCOUNT"), within
// STS's 64 characters of [\w+=,.@-]. Over-long names keep their start and
// end around a "..": namespace and service account stay recognisable.
func SessionName(namespace, serviceAccount string) string {
	s := sessionUnsafe.ReplaceAllString("pmp-"+namespace+"-"+serviceAccount, "_")
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:30] + ".." + s[len(s)-(max-32):]
}
