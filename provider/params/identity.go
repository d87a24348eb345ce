package params

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
)

// SecretProviderClass parameters that choose the pod's AWS identity. The
// names are ASCP's (usePodIdentity, preferredAddressType) or, for
// cross-account access, those of the pull request that proposes it there.
const (
	ParamUsePodIdentity       = "usePodIdentity"
	ParamPreferredAddressType = "preferredAddressType"
	ParamAssumeRoleARN        = "assumeRoleArn"
	ParamAssumeRoleExternalID = "assumeRoleExternalId"
	ParamAssumeRoleDuration   = "assumeRoleDurationSeconds"
)

// AddressType is the preferredAddressType parameter: which address of the
// EKS Pod Identity Agent is asked (auto: IPv4, then IPv6 when IPv4 cannot
// be reached).
type AddressType = identity.AddressType

// The values of preferredAddressType.
const (
	AddressAuto = identity.AddressAuto
	AddressIPv4 = identity.AddressIPv4
	AddressIPv6 = identity.AddressIPv6
)

// AssumeRole is a role assumed with sts:AssumeRole, with the pod's own
// credentials (IRSA or EKS Pod Identity), for cross-account access. The
// zero value assumes nothing.
type AssumeRole struct {
	RoleARN    string
	ExternalID string
	// Duration is the session's DurationSeconds; zero: STS's default (1h).
	Duration time.Duration
}

// Bounds of assumeRoleDurationSeconds: STS's least, and the most STS
// grants a chained role session (one assumed with role credentials, as the
// pod's always are).
const (
	MinAssumeRoleDuration = 900 * time.Second
	MaxAssumeRoleDuration = time.Hour
)

// externalIDRE is STS's rule for ExternalId's characters; it is 2-1224 of
// them (RE2 repeats at most 1000).
var externalIDRE = regexp.MustCompile(`^[\w+=,.@:/-]+$`)

// parseIdentityParams reads the SecretProviderClass parameters that choose
// the pod's AWS identity into req.
func parseIdentityParams(attrs map[string]string, req *Request, add func(format string, args ...any)) {
	if v, set := attrs[ParamUsePodIdentity]; set && strings.TrimSpace(v) != "" {
		// ASCP reads it with strconv.ParseBool; so does this provider,
		// so a copied class means the same.
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			add(`parameter usePodIdentity %q is not "true" or "false"`, v)
		}
		req.PodIdentity = b
	}
	switch v := strings.ToLower(strings.TrimSpace(attrs[ParamPreferredAddressType])); v {
	case "", "auto":
		req.AddressType = AddressAuto
	case "ipv4":
		req.AddressType = AddressIPv4
	case "ipv6":
		req.AddressType = AddressIPv6
	default:
		add(`parameter preferredAddressType %q is not ipv4, ipv6 or auto (the EKS Pod Identity Agent's address to use)`, attrs[ParamPreferredAddressType])
	}
	get := func(field string) (any, bool) {
		v, ok := attrs[field]
		if !ok || strings.TrimSpace(v) == "" {
			return nil, false
		}
		return v, true
	}
	var problems []string
	req.AssumeRole, problems = parseAssumeRole(get, "parameter ")
	for _, p := range problems {
		add("%s", p)
	}
}

// parseAssumeRole reads an AssumeRole from get, the parameters of the
// SecretProviderClass or the fields of an object; what prefixes the names
// in problems ("parameter " or "").
func parseAssumeRole(get func(field string) (any, bool), what string) (AssumeRole, []string) {
	var a AssumeRole
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	str := func(field string) string {
		v, ok := get(field)
		return stringOf(v, ok, what+field, bad)
	}
	a.RoleARN = str(ParamAssumeRoleARN)
	if a.RoleARN != "" && !identity.ValidRoleARN(a.RoleARN) {
		bad("%sassumeRoleArn %q is not an IAM role ARN (arn:aws:iam::ACCOUNT_ID:role/NAME)", what, a.RoleARN)
	}
	a.ExternalID = str(ParamAssumeRoleExternalID)
	if a.ExternalID != "" && (len(a.ExternalID) < 2 || len(a.ExternalID) > 1224 || !externalIDRE.MatchString(a.ExternalID)) {
		bad("%sassumeRoleExternalId is not an STS external id (2-1224 of A-Z a-z 0-9 _ + = , . @ : / -)", what)
	}
	if v, ok := get(ParamAssumeRoleDuration); ok {
		n, whole := wholeNumber(v)
		if !whole || n < int64(MinAssumeRoleDuration/time.Second) || n > int64(MaxAssumeRoleDuration/time.Second) {
			shown := fmt.Sprint(v)
			switch v := v.(type) {
			case string:
				if len(v) > 32 {
					shown = mounterr.Quote(v)
				}
			case float64:
				if math.Abs(v) < 1e21 && v == math.Trunc(v) {
					shown = strconv.FormatFloat(v, 'f', 0, 64) // 36028797018964968, not 3.602879701896497e+16
				}
			}
			bad("%sassumeRoleDurationSeconds %s is not a whole number of seconds from %d to %d: STS grants a role session assumed with the pod's own role credentials at most one hour",
				what, shown, int(MinAssumeRoleDuration.Seconds()), int(MaxAssumeRoleDuration.Seconds()))
		} else {
			a.Duration = time.Duration(n) * time.Second // n is in range: no overflow
		}
	}
	if a.RoleARN == "" {
		for _, f := range []string{ParamAssumeRoleExternalID, ParamAssumeRoleDuration} {
			if _, ok := get(f); ok {
				bad("%s%s applies to the role assumed with assumeRoleArn: set %sassumeRoleArn too, or remove %s", what, f, what, f)
			}
		}
	}
	return a, problems
}

// wholeNumber reads v, a parameter's string or a YAML number, as a whole
// number, refusing what is not one or does not fit an int64: the caller
// checks the range before it multiplies, so a huge count can never wrap
// into a small one.
func wholeNumber(v any) (int64, bool) {
	switch v := v.(type) {
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n, err == nil
	case int64:
		return v, true
	case float64: // YAML numbers read through JSON
		// Within ±2^53 every float64 that is whole converts exactly.
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return 0, false
		}
		return int64(v), true
	}
	return 0, false
}
