package files

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/flatten"
)

// vcs is part of a PMP secret after flattening: some values set, some empty.
var vcs = []flatten.Entry{
	{Name: "BuildPackage.FileBasicAuthPassword", Value: []byte("file-pw")},
	{Name: "Email.SMTPPassword", Value: nil},
	{Name: "VCS.AzureAuthSecret", Value: []byte{}},
	{Name: "VCS.GithubAdminPAT", Value: []byte("ghp_admin")},
	{Name: "VCS.GithubOrgOwnerPAT", Value: []byte("ghp_owner")},
	{Name: "VCS.Legacy.Token", Value: []byte("deep")},
}

func TestSelect(t *testing.T) {
	tests := []struct {
		name    string
		entries []flatten.Entry
		sel     Selection
		want    []File
	}{
		{
			name:    "all keys with a value, dotted, empty values skipped",
			entries: vcs,
			sel:     Selection{Mode: 0o644},
			want: []File{
				{Path: "BuildPackage.FileBasicAuthPassword", Mode: 0o644, Contents: []byte("file-pw")},
				{Path: "VCS.GithubAdminPAT", Mode: 0o644, Contents: []byte("ghp_admin")},
				{Path: "VCS.GithubOrgOwnerPAT", Mode: 0o644, Contents: []byte("ghp_owner")},
				{Path: "VCS.Legacy.Token", Mode: 0o644, Contents: []byte("deep")},
			},
		},
		{
			name:    "keepEmpty mounts empty values as empty files",
			entries: vcs,
			sel:     Selection{KeepEmpty: true, Mode: 0o400},
			want: []File{
				{Path: "BuildPackage.FileBasicAuthPassword", Mode: 0o400, Contents: []byte("file-pw")},
				{Path: "Email.SMTPPassword", Mode: 0o400},
				{Path: "VCS.AzureAuthSecret", Mode: 0o400, Contents: []byte{}},
				{Path: "VCS.GithubAdminPAT", Mode: 0o400, Contents: []byte("ghp_admin")},
				{Path: "VCS.GithubOrgOwnerPAT", Mode: 0o400, Contents: []byte("ghp_owner")},
				{Path: "VCS.Legacy.Token", Mode: 0o400, Contents: []byte("deep")},
			},
		},
		{
			name:    "VCS.* selects all of VCS, deeper names included",
			entries: vcs,
			sel:     Selection{Keys: []string{"VCS.*"}, Mode: 0o644},
			want: []File{
				{Path: "VCS.GithubAdminPAT", Mode: 0o644, Contents: []byte("ghp_admin")},
				{Path: "VCS.GithubOrgOwnerPAT", Mode: 0o644, Contents: []byte("ghp_owner")},
				{Path: "VCS.Legacy.Token", Mode: 0o644, Contents: []byte("deep")},
			},
		},
		{
			name:    "exact names",
			entries: vcs,
			sel:     Selection{Keys: []string{"VCS.GithubAdminPAT", "BuildPackage.FileBasicAuthPassword"}, Mode: 0o644},
			want: []File{
				{Path: "BuildPackage.FileBasicAuthPassword", Mode: 0o644, Contents: []byte("file-pw")},
				{Path: "VCS.GithubAdminPAT", Mode: 0o644, Contents: []byte("ghp_admin")},
			},
		},
		{
			name:    "? matches one character",
			entries: []flatten.Entry{{Name: "k1", Value: []byte("1")}, {Name: "k22", Value: []byte("22")}},
			sel:     Selection{Keys: []string{"k?"}, Mode: 0o644},
			want:    []File{{Path: "k1", Mode: 0o644, Contents: []byte("1")}},
		},
		{
			name:    "overlapping patterns give each file once",
			entries: vcs,
			sel:     Selection{Keys: []string{"VCS.Github*", "*AdminPAT"}, Mode: 0o644},
			want: []File{
				{Path: "VCS.GithubAdminPAT", Mode: 0o644, Contents: []byte("ghp_admin")},
				{Path: "VCS.GithubOrgOwnerPAT", Mode: 0o644, Contents: []byte("ghp_owner")},
			},
		},
		{
			name:    "a pattern matching only empty values, with keepEmpty",
			entries: vcs,
			sel:     Selection{Keys: []string{"VCS.Azure*"}, KeepEmpty: true, Mode: 0o644},
			want:    []File{{Path: "VCS.AzureAuthSecret", Mode: 0o644, Contents: []byte{}}},
		},
		{
			name:    "dir prefix (objectAlias)",
			entries: vcs,
			sel:     Selection{Dir: "pmp", Keys: []string{"VCS.GithubAdminPAT"}, Mode: 0o644},
			want:    []File{{Path: "pmp/VCS.GithubAdminPAT", Mode: 0o644, Contents: []byte("ghp_admin")}},
		},
		{
			name:    "nested layout",
			entries: vcs,
			sel:     Selection{Keys: []string{"VCS.*"}, Layout: Nested, Mode: 0o600},
			want: []File{
				{Path: "VCS/GithubAdminPAT", Mode: 0o600, Contents: []byte("ghp_admin")},
				{Path: "VCS/GithubOrgOwnerPAT", Mode: 0o600, Contents: []byte("ghp_owner")},
				{Path: "VCS/Legacy/Token", Mode: 0o600, Contents: []byte("deep")},
			},
		},
		{
			name:    "nested layout under a dir",
			entries: vcs,
			sel:     Selection{Dir: "pmp", Keys: []string{"VCS.Legacy.*"}, Layout: Nested, Mode: 0o644},
			want:    []File{{Path: "pmp/VCS/Legacy/Token", Mode: 0o644, Contents: []byte("deep")}},
		},
		{
			name:    "nested layout allows a long name of short segments",
			entries: []flatten.Entry{{Name: strings.Repeat("segment.", 40) + "leaf", Value: []byte("v")}},
			sel:     Selection{Layout: Nested, Mode: 0o644},
			want:    []File{{Path: strings.Repeat("segment/", 40) + "leaf", Mode: 0o644, Contents: []byte("v")}},
		},
		{
			name:    "an unselected unsafe key does not fail the selection",
			entries: []flatten.Entry{{Name: "../etc", Value: []byte("x")}, {Name: "ok", Value: []byte("y")}},
			sel:     Selection{Keys: []string{"ok"}, Mode: 0o644},
			want:    []File{{Path: "ok", Mode: 0o644, Contents: []byte("y")}},
		},
		{
			name:    "an unsafe key with an empty value is skipped, not an error",
			entries: []flatten.Entry{{Name: "../etc", Value: nil}, {Name: "ok", Value: []byte("y")}},
			sel:     Selection{Mode: 0o644},
			want:    []File{{Path: "ok", Mode: 0o644, Contents: []byte("y")}},
		},
		{
			name:    "no entries",
			entries: nil,
			sel:     Selection{Mode: 0o644},
			want:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Select(tt.entries, tt.sel)
			if err != nil {
				t.Fatalf("Select() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Select() files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSelectErrors(t *testing.T) {
	tests := []struct {
		name      string
		entries   []flatten.Entry
		sel       Selection
		noMatch   string // the pattern of a *NoMatchError, or ""
		wantParts []string
	}{
		{
			name:    "a pattern matching nothing",
			entries: vcs,
			sel:     Selection{Keys: []string{"VCS.*", "Email.*PAT"}},
			noMatch: "Email.*PAT",
			wantParts: []string{
				`keys pattern "Email.*PAT" matches no key that has a value`,
			},
		},
		{
			name:      "a pattern matching only empty values",
			entries:   vcs,
			sel:       Selection{Keys: []string{"VCS.Azure*"}},
			noMatch:   "VCS.Azure*",
			wantParts: []string{`keys pattern "VCS.Azure*"`},
		},
		{
			name:      "an exact name whose value is empty",
			entries:   vcs,
			sel:       Selection{Keys: []string{"Email.SMTPPassword"}},
			noMatch:   "Email.SMTPPassword",
			wantParts: []string{`"Email.SMTPPassword"`},
		},
		{
			name:      "'*' does not cross a '/' in a name",
			entries:   []flatten.Entry{{Name: "VCS.a", Value: []byte("x")}},
			sel:       Selection{Keys: []string{"*/*"}},
			noMatch:   "*/*",
			wantParts: []string{`"*/*"`},
		},
		{
			name:      "dot dot in a key",
			entries:   []flatten.Entry{{Name: "a..b", Value: []byte("s3cr3t-value")}},
			wantParts: []string{`key "a..b" cannot be a file name: it has an empty segment`},
		},
		{
			name:      "leading dot",
			entries:   []flatten.Entry{{Name: ".data", Value: []byte("s3cr3t-value")}},
			wantParts: []string{`key ".data"`, "empty segment"},
		},
		{
			name:      "slash in a key, dotted layout",
			entries:   []flatten.Entry{{Name: "a/b", Value: []byte("s3cr3t-value")}},
			wantParts: []string{`key "a/b" cannot be a file name: it contains '/'`},
		},
		{
			name:      "escape attempt with slashes, nested layout",
			entries:   []flatten.Entry{{Name: "x/../../../etc/passwd", Value: []byte("s3cr3t-value")}},
			sel:       Selection{Layout: Nested},
			wantParts: []string{`key "x/../../../etc/passwd" cannot be a file name`},
		},
		{
			name:      "NUL in a key",
			entries:   []flatten.Entry{{Name: "a\x00b", Value: []byte("s3cr3t-value")}},
			wantParts: []string{`key "a\x00b"`, "control character U+0000"},
		},
		{
			name:      "a 256-byte name is one file name too long in the dotted layout",
			entries:   []flatten.Entry{{Name: strings.Repeat("a", 100) + "." + strings.Repeat("b", 155), Value: []byte("s3cr3t-value")}},
			wantParts: []string{"cannot be a file name: it is 256 bytes long, over the 255-byte limit"},
		},
		{
			name:      "a 256-byte segment in the nested layout",
			entries:   []flatten.Entry{{Name: "VCS." + strings.Repeat("b", 256), Value: []byte("s3cr3t-value")}},
			sel:       Selection{Layout: Nested},
			wantParts: []string{"cannot be a file name: it has a segment that is 256 bytes long"},
		},
		{
			name:      "a path over 4096 bytes in the nested layout",
			entries:   []flatten.Entry{{Name: strings.Repeat(strings.Repeat("s", 200)+".", 21) + "leaf", Value: []byte("s3cr3t-value")}},
			sel:       Selection{Layout: Nested},
			wantParts: []string{"cannot be a file path", "over the 4096-byte limit of a path"},
		},
		{
			name:      "a bad key selected by a pattern",
			entries:   []flatten.Entry{{Name: "VCS.", Value: []byte("s3cr3t-value")}},
			sel:       Selection{Keys: []string{"VCS*"}},
			wantParts: []string{`key "VCS."`, "empty segment"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Select(tt.entries, tt.sel)
			if err == nil {
				t.Fatalf("Select() = %v, want an error", got)
			}
			if got != nil {
				t.Errorf("Select() returned %d files with the error, want none", len(got))
			}
			var nm *NoMatchError
			isNoMatch := errors.As(err, &nm)
			if tt.noMatch != "" && (!isNoMatch || nm.Pattern != tt.noMatch) {
				t.Errorf("Select() error = %v, want a *NoMatchError for pattern %q", err, tt.noMatch)
			}
			if tt.noMatch == "" && isNoMatch {
				t.Errorf("Select() error = %v is a *NoMatchError, want a naming error", err)
			}
			for _, part := range tt.wantParts {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("Select() error = %q, want it to contain %q", err, part)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t-value") {
				t.Errorf("Select() error = %q contains a secret value", err)
			}
		})
	}
}

func TestWhole(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		value []byte
		mode  fs.FileMode
		want  File
	}{
		{name: "secret name", file: "PMP-Production-Credentials", value: []byte(`{"a":"b"}`), mode: 0o644,
			want: File{Path: "PMP-Production-Credentials", Mode: 0o644, Contents: []byte(`{"a":"b"}`)}},
		{name: "empty value", file: "empty", value: nil, mode: 0o400, want: File{Path: "empty", Mode: 0o400}},
		{name: "nested path is allowed", file: "dir/file", value: []byte("v"), mode: 0o600,
			want: File{Path: "dir/file", Mode: 0o600, Contents: []byte("v")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Whole(tt.file, tt.value, tt.mode)
			if err != nil {
				t.Fatalf("Whole() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Whole() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWholeErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string
	}{
		{name: "hidden", file: ".PMP", want: `".PMP" starts with '.'`},
		{name: "dot dot", file: "..", want: `file name ".."`},
		{name: "absolute", file: "/PMP", want: "is not a clean relative path"},
		{name: "too long", file: strings.Repeat("p", 256), want: "is 256 bytes long"},
		{name: "empty", file: "", want: `file name "" is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Whole(tt.file, []byte("s3cr3t-value"), 0o644)
			if err == nil {
				t.Fatalf("Whole(%q) error = nil, want one", tt.file)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || !strings.HasSuffix(msg, ": set objectAlias") {
				t.Errorf("Whole(%q) error = %q, want it to contain %q and end with the fix", tt.file, msg, tt.want)
			}
			if strings.Contains(msg, "s3cr3t-value") {
				t.Errorf("Whole() error = %q contains the value", msg)
			}
		})
	}
}

func paths(ps ...string) []File {
	out := make([]File, len(ps))
	for i, p := range ps {
		out[i] = File{Path: p, Mode: 0o644, Contents: []byte("s3cr3t-value")}
	}
	return out
}

func TestCheckVolume(t *testing.T) {
	tests := []struct {
		name  string
		files []File
	}{
		{name: "none", files: nil},
		{name: "distinct dotted names", files: paths("VCS.GithubAdminPAT", "VCS.GitlabAdminPAT")},
		{name: "a file named like a directory prefix, dotted", files: paths("VCS", "VCS.GithubAdminPAT")},
		{name: "siblings in a nested directory", files: paths("VCS/GithubAdminPAT", "VCS/GitlabAdminPAT", "Email/SMTPPassword")},
		{name: "a name that only shares a prefix with a directory", files: paths("VCS/a", "VCSX")},
		{name: "two objects in their own directories", files: paths("prod/VCS.a", "test/VCS.a")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckVolume(tt.files); err != nil {
				t.Errorf("CheckVolume() = %v, want nil", err)
			}
		})
	}
}

func TestCheckVolumeErrors(t *testing.T) {
	tests := []struct {
		name  string
		files []File
		want  string
	}{
		{name: "duplicate", files: paths("VCS.GithubAdminPAT", "Email.SMTPPassword", "VCS.GithubAdminPAT"),
			want: `two objects or keys produce the same file "VCS.GithubAdminPAT": give one an objectAlias or narrow its keys`},
		{name: "file and directory", files: paths("VCS/GithubAdminPAT", "VCS"),
			want: `"VCS" is both a file and the directory of "VCS/GithubAdminPAT": use layout dotted or rename one key`},
		{name: "file and a deeper directory", files: paths("a/b/c/d", "a/b"),
			want: `"a/b" is both a file and the directory of "a/b/c/d"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckVolume(tt.files)
			if err == nil {
				t.Fatal("CheckVolume() = nil, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckVolume() = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}
