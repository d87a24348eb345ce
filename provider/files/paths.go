// Package files turns fetched secrets into the files of a volume: the
// per-object selection, naming and layout, and the safety rules every
// returned path obeys so nothing can land outside the volume.
package files

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

const (
	// MaxNameBytes is the longest file or directory name (one path element).
	MaxNameBytes = 255
	// MaxPathBytes is the longest path the driver accepts, and Linux's
	// PATH_MAX (the terminating NUL included).
	MaxPathBytes = 4096
	// writerDirBytes is the longest name of the directory the driver's
	// atomic writer puts each version of the files in:
	// "..2006_01_02_15_04_05." and up to 10 random digits (os.MkdirTemp).
	writerDirBytes = len("..2006_01_02_15_04_05.") + 10
	// DefaultTargetPathBytes is the volume directory's length assumed for
	// a request that names none: the kubelet's
	// /var/lib/kubelet/pods/UID/volumes/kubernetes.io~csi/VOLUME/mount with
	// a 63-byte volume name is 155 bytes.
	DefaultTargetPathBytes = 160
)

// PathRoom is the longest file path that the driver can write under the
// volume directory targetPath: the driver writes
// targetPath/..<timestamp>.<digits>/path, and Linux refuses a path of
// MaxPathBytes or more. A path the driver accepts (up to 4096 bytes) but
// cannot write would fail the mount after the provider reported success.
func PathRoom(targetPath string) int {
	t := len(targetPath)
	if t == 0 {
		t = DefaultTargetPathBytes
	}
	return MaxPathBytes - 1 - t - 1 - writerDirBytes - 1
}

// CheckElement reports why s cannot be one element of a returned path, or
// nil. The rules are the driver's (it rejects "..", over-long elements) and
// ours: no hidden names (the driver's atomic writer owns "..data" and
// dot-prefixed names), no separators, no control characters.
func CheckElement(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("is empty")
	case len(s) > MaxNameBytes:
		return fmt.Errorf("is %d bytes long, over the %d-byte limit of a file name", len(s), MaxNameBytes)
	}
	return checkChars(s)
}

// checkChars is CheckElement without the length limit.
func checkChars(s string) error {
	switch {
	case strings.HasPrefix(s, "."):
		return fmt.Errorf("starts with '.', which hides the file and clashes with the driver's own ..data entries")
	case strings.ContainsRune(s, '/'):
		return fmt.Errorf("contains '/'")
	case !utf8.ValidString(s):
		return fmt.Errorf("is not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("contains the control character %U", r)
		}
	}
	return nil
}

// CheckPath reports why p cannot be a returned file path, or nil: every
// element must pass CheckElement and the whole must be clean and relative.
func CheckPath(p string) error {
	if p == "" {
		return fmt.Errorf("is empty")
	}
	if len(p) > MaxPathBytes {
		return fmt.Errorf("is %d bytes long, over the %d-byte limit of a path", len(p), MaxPathBytes)
	}
	if filepath.IsAbs(p) || filepath.Clean(p) != p {
		return fmt.Errorf("is not a clean relative path")
	}
	for _, el := range strings.Split(p, "/") {
		if err := CheckElement(el); err != nil {
			return fmt.Errorf("element %q %w", el, err)
		}
	}
	return nil
}

// CheckDottedName reports why a flattened key name cannot be used, or nil.
// A dotted name is split on '.' into segments; none may be empty, so a name
// cannot start or end with '.' or contain "..". Each segment is held to the
// file-name length limit; the whole name's length is the layout's concern:
// the dotted layout makes it one file name (CheckElement), the nested one a
// directory per segment.
func CheckDottedName(name string) error {
	if name == "" {
		return fmt.Errorf("is empty")
	}
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return fmt.Errorf("has an empty segment (a key that is empty, or starts or ends with '.')")
	}
	for _, seg := range strings.Split(name, ".") {
		if len(seg) > MaxNameBytes {
			return fmt.Errorf("has a segment that is %d bytes long, over the %d-byte limit of a file name", len(seg), MaxNameBytes)
		}
	}
	return checkChars(name)
}
