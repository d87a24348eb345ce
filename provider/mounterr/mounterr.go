// Package mounterr classifies why a Mount failed, by the stage that failed,
// so the gRPC adapter can give each stage its own status code and the user
// reads one short, actionable message in `kubectl describe pod`. AWS
// errors are classified by AWSTable, one table of error codes per service.
//
// Messages never contain a secret value or a token: they name fields, AWS
// resources and the fix.
package mounterr

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Kind is the stage a Mount failed in.
type Kind int

const (
	// Internal is a bug in the provider.
	Internal Kind = iota
	// Invalid is a bad SecretProviderClass parameter, CSIDriver setting or
	// mount request: the user must change configuration.
	Invalid
	// Unauthenticated is a missing or refused pod token.
	Unauthenticated
	// Denied is an identity that may not do what was asked: no role on the
	// service account, a trust policy or IAM policy that refuses.
	Denied
	// NotFound is a secret, version or key that does not exist.
	NotFound
	// Transient is an AWS failure that outlived the retry budget; the next
	// mount attempt may well succeed.
	Transient
)

func (k Kind) String() string {
	switch k {
	case Invalid:
		return "Invalid"
	case Unauthenticated:
		return "Unauthenticated"
	case Denied:
		return "Denied"
	case NotFound:
		return "NotFound"
	case Transient:
		return "Transient"
	default:
		return "Internal"
	}
}

// Refusal reports whether a failure of kind k is an answer that a retry
// would not change (a 4xx: denied, not found, invalid), so caches may
// remember it for a short while. Transient failures and bugs are never
// remembered.
func (k Kind) Refusal() bool { return k != Transient && k != Internal }

// NegativeTTL is how long a failure of kind k may be remembered, given the
// configured window for refusals: the window for a refusal, zero otherwise.
func (k Kind) NegativeTTL(window time.Duration) time.Duration {
	if k.Refusal() {
		return window
	}
	return 0
}

// Error is a classified Mount failure.
type Error struct {
	Kind Kind
	Msg  string
	Err  error // the cause, for errors.Is/As; its text is not repeated in Msg
}

func (e *Error) Error() string {
	if e.Msg == "" && e.Err != nil {
		return e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// New returns a classified error with a formatted message.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Wrap classifies err, keeping it as the cause. The message is format's,
// followed by err's text when err is not nil.
func Wrap(kind Kind, err error, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if err != nil {
		msg += ": " + err.Error()
	}
	return &Error{Kind: kind, Msg: msg, Err: err}
}

// KindOf returns the kind of the first classified error in err's chain,
// Internal when there is none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// MaxMessageBytes bounds the text of a failed Mount's status and log line:
// a key, path or YAML problem can be long, and the message ends up in an
// Event, whose text Kubernetes cuts anyway.
const MaxMessageBytes = 2048

// Bound returns msg when it fits MaxMessageBytes, else its start and its
// end (where the fix is said) around a note of how much was cut.
func Bound(msg string) string {
	if len(msg) <= MaxMessageBytes {
		return msg
	}
	const tail = 400
	head := MaxMessageBytes - tail - 40
	h, t := cutBefore(msg, head), cutAfter(msg, len(msg)-tail)
	return fmt.Sprintf("%s ...[%d bytes cut]... %s", msg[:h], t-h, msg[t:])
}

// maxQuoted bounds a quoted name or path in a message.
const maxQuoted = 256

// Quote quotes s for a message, cut to its first 256 bytes.
func Quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:cutBefore(s, maxQuoted)]), len(s))
}

// cutBefore is the last character boundary of s at or before i.
func cutBefore(s string, i int) int {
	for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

// cutAfter is the first character boundary of s at or after i.
func cutAfter(s string, i int) int {
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return i
}
