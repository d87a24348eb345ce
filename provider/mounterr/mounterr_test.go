package mounterr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestKindString(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		want string
	}{
		{name: "internal", kind: Internal, want: "Internal"},
		{name: "invalid", kind: Invalid, want: "Invalid"},
		{name: "unauthenticated", kind: Unauthenticated, want: "Unauthenticated"},
		{name: "denied", kind: Denied, want: "Denied"},
		{name: "not found", kind: NotFound, want: "NotFound"},
		{name: "transient", kind: Transient, want: "Transient"},
		{name: "out of range", kind: Kind(99), want: "Internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.kind.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestError(t *testing.T) {
	cause := errors.New("AccessDeniedException: not authorized")
	tests := []struct {
		name    string
		err     *Error
		wantMsg string
		wantIs  error
	}{
		{name: "New formats", err: New(NotFound, "secret %s was not found in %s", "PMP-x", "eu-west-1"),
			wantMsg: "secret PMP-x was not found in eu-west-1"},
		{name: "New with a percent in an argument", err: New(Invalid, "objectName %q", "100%"),
			wantMsg: `objectName "100%"`},
		{name: "Wrap appends the cause", err: Wrap(Denied, cause, "reading %s", "PMP-x"),
			wantMsg: "reading PMP-x: AccessDeniedException: not authorized", wantIs: cause},
		{name: "Wrap with no cause", err: Wrap(Invalid, nil, "no region"), wantMsg: "no region"},
		{name: "no message: the cause's text", err: &Error{Kind: Transient, Err: context.DeadlineExceeded},
			wantMsg: "context deadline exceeded", wantIs: context.DeadlineExceeded},
		{name: "message and cause: only the message", err: &Error{Kind: Transient, Msg: "kept failing; transient", Err: cause},
			wantMsg: "kept failing; transient", wantIs: cause},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.wantMsg {
				t.Errorf("Error() = %q, want %q", got, tt.wantMsg)
			}
			if tt.wantIs != nil && !errors.Is(tt.err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.wantIs)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{name: "nil", err: nil, want: Internal},
		{name: "unclassified", err: errors.New("boom"), want: Internal},
		{name: "classified", err: New(NotFound, "x"), want: NotFound},
		{name: "wrapped with %w", err: fmt.Errorf("mount: %w", New(Denied, "x")), want: Denied},
		{name: "the first in the chain wins", err: Wrap(Invalid, New(Transient, "inner"), "outer"), want: Invalid},
		{name: "joined", err: errors.Join(errors.New("a"), New(Unauthenticated, "b")), want: Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestNegativeTTL: refusals may be remembered; transient failures and bugs
// never are, so the next Mount after an outage tries AWS again.
func TestNegativeTTL(t *testing.T) {
	const window = 10 * time.Second
	for _, tc := range []struct {
		kind Kind
		want time.Duration
	}{
		{Invalid, window}, {Unauthenticated, window}, {Denied, window}, {NotFound, window},
		{Transient, 0}, {Internal, 0},
	} {
		if got := tc.kind.NegativeTTL(window); got != tc.want {
			t.Errorf("%s.NegativeTTL = %s, want %s", tc.kind, got, tc.want)
		}
	}
}

func TestBound(t *testing.T) {
	short := "service account pmp/ghost does not exist"
	if got := Bound(short); got != short {
		t.Errorf("Bound(short) = %q", got)
	}
	long := "objects[0]: " + strings.Repeat("é", 5000) + " ...: fix it"
	got := Bound(long)
	if len(got) > MaxMessageBytes {
		t.Errorf("Bound is %d bytes, over %d", len(got), MaxMessageBytes)
	}
	if !strings.HasPrefix(got, "objects[0]: ") || !strings.HasSuffix(got, ": fix it") || !strings.Contains(got, "bytes cut]") {
		t.Errorf("Bound lost the start, the end or the note: %.80q...%q", got, got[len(got)-40:])
	}
	if !utf8.ValidString(got) {
		t.Error("Bound cut a character in two")
	}
}

func TestQuote(t *testing.T) {
	if got := Quote("a\nb"); got != `"a\nb"` {
		t.Errorf("Quote = %s", got)
	}
	got := Quote(strings.Repeat("日", 200))
	if !strings.HasSuffix(got, "... (600 bytes)") || len(got) > 300 || !utf8.ValidString(got) {
		t.Errorf("Quote of a long name = %s", got)
	}
}
