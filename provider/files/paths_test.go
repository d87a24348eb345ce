package files

import (
	"strings"
	"testing"
)

func TestCheckElement(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{name: "PMP dotted name", in: "VCS.GithubAdminPAT"},
		{name: "single character", in: "a"},
		{name: "255 bytes", in: strings.Repeat("a", 255)},
		{name: "trailing dot", in: "a."},
		{name: "dot inside", in: "a.b"},
		{name: "space and punctuation", in: "my key,=@+-_"},
		{name: "backslash is an ordinary character on Linux", in: `a\b`},
		{name: "non-ASCII UTF-8", in: "clé-ñ-日本"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckElement(tt.in); err != nil {
				t.Errorf("CheckElement(%q) = %v, want nil", tt.in, err)
			}
		})
	}
}

func TestCheckElementErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // a part of the message
	}{
		{name: "empty", in: "", want: "is empty"},
		{name: "256 bytes", in: strings.Repeat("a", 256), want: "is 256 bytes long, over the 255-byte limit"},
		{name: "256 bytes of two-byte runes", in: strings.Repeat("é", 128), want: "is 256 bytes long"},
		{name: "leading dot", in: ".hidden", want: "starts with '.'"},
		{name: "dot dot", in: "..", want: "starts with '.'"},
		{name: "driver's data dir", in: "..data", want: "starts with '.'"},
		{name: "lone dot", in: ".", want: "starts with '.'"},
		{name: "slash", in: "a/b", want: "contains '/'"},
		{name: "only a slash", in: "/", want: "contains '/'"},
		{name: "NUL", in: "a\x00b", want: "control character U+0000"},
		{name: "newline", in: "a\nb", want: "control character U+000A"},
		{name: "tab", in: "\tkey", want: "control character U+0009"},
		{name: "DEL", in: "a\x7f", want: "control character U+007F"},
		{name: "invalid UTF-8", in: "a\xffb", want: "is not valid UTF-8"},
		{name: "truncated UTF-8 sequence", in: "caf\xc3", want: "is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckElement(tt.in)
			if err == nil {
				t.Fatalf("CheckElement(%q) = nil, want an error containing %q", tt.in, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckElement(%q) = %q, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

// pathOfLen is a valid path of n bytes: 99-byte elements and a shorter
// last one.
func pathOfLen(n int) string {
	p := strings.Repeat(strings.Repeat("a", 99)+"/", n/100) + strings.Repeat("b", n%100)
	if n%100 == 0 {
		p = p[:len(p)-1] + "b" // replace the trailing '/'
	}
	return p
}

func TestCheckPath(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{name: "one element", in: "VCS.GithubAdminPAT"},
		{name: "nested", in: "VCS/GithubAdminPAT"},
		{name: "alias dir and nested", in: "pmp/VCS/GithubAdminPAT"},
		{name: "trailing dots are ordinary", in: "dir./file."},
		{name: "255-byte element", in: "d/" + strings.Repeat("a", 255)},
		{name: "4096 bytes", in: pathOfLen(4096)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckPath(tt.in); err != nil {
				t.Errorf("CheckPath(%q) = %v, want nil", tt.in, err)
			}
		})
	}
}

func TestCheckPathErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "empty", in: "", want: "is empty"},
		{name: "4097 bytes", in: pathOfLen(4097), want: "is 4097 bytes long, over the 4096-byte limit"},
		{name: "absolute", in: "/etc/passwd", want: "not a clean relative path"},
		{name: "dot dot", in: "..", want: `element ".." starts with '.'`},
		{name: "escape upwards", in: "../x", want: `element ".." starts with '.'`},
		{name: "dot dot inside", in: "a/../../x", want: "not a clean relative path"},
		{name: "starts with dot dot", in: "..x/y", want: `element "..x" starts with '.'`},
		{name: "double slash", in: "a//b", want: "not a clean relative path"},
		{name: "trailing slash", in: "a/", want: "not a clean relative path"},
		{name: "dot element", in: "./a", want: "not a clean relative path"},
		{name: "hidden element", in: "a/.b", want: `element ".b" starts with '.'`},
		{name: "256-byte element", in: "d/" + strings.Repeat("a", 256), want: "is 256 bytes long"},
		{name: "NUL in an element", in: "a/b\x00c", want: "control character U+0000"},
		{name: "invalid UTF-8 element", in: "a/\xfe", want: "is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPath(tt.in)
			if err == nil {
				t.Fatalf("CheckPath(%q) = nil, want an error containing %q", tt.in, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckPath(%q) = %q, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestCheckDottedName(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{name: "PMP name", in: "CIAdmin.JenkinsConfigureAPIToken"},
		{name: "no dot", in: "token"},
		{name: "deep", in: "a.b.c.d"},
		{name: "255 bytes", in: strings.Repeat("a", 255)},
		// Each segment is a directory or file in the nested layout, so
		// only the segments have the 255-byte limit; the dotted layout's
		// whole-name limit is checked on the path (see Select).
		{name: "long name with short segments", in: strings.Repeat("abcdefghi.", 40) + "z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckDottedName(tt.in); err != nil {
				t.Errorf("CheckDottedName(%q) = %v, want nil", tt.in, err)
			}
		})
	}
}

func TestCheckDottedNameErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "empty", in: "", want: "is empty"},
		{name: "leading dot", in: ".VCS", want: "empty segment"},
		{name: "trailing dot", in: "VCS.", want: "empty segment"},
		{name: "dot dot inside", in: "VCS..PAT", want: "empty segment"},
		{name: "only dots", in: "..", want: "empty segment"},
		{name: "slash", in: "VCS/PAT", want: "contains '/'"},
		{name: "escape with slashes", in: "a/../../etc", want: "empty segment"},
		{name: "NUL", in: "VCS.\x00", want: "control character U+0000"},
		{name: "invalid UTF-8", in: "VCS.\xff", want: "is not valid UTF-8"},
		{name: "256-byte segment", in: "VCS." + strings.Repeat("a", 256), want: "is 256 bytes long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckDottedName(tt.in)
			if err == nil {
				t.Fatalf("CheckDottedName(%q) = nil, want an error containing %q", tt.in, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckDottedName(%q) = %q, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}
