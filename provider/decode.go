package provider

import (
	"bytes"
	"encoding/base64"
	"strings"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/files"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// decodeValue decodes v as obj.Decode says. Padding is optional and
// surrounding whitespace (a trailing newline from `base64`) is ignored.
// The error never holds the value.
func decodeValue(d params.Decode, v []byte) ([]byte, bool) {
	var enc *base64.Encoding
	switch d {
	case params.DecodeBase64:
		enc = base64.RawStdEncoding
	case params.DecodeBase64URL:
		enc = base64.RawURLEncoding
	default:
		return v, true
	}
	v = bytes.TrimRight(bytes.TrimSpace(v), "=")
	out := make([]byte, enc.DecodedLen(len(v)))
	n, err := enc.Strict().Decode(out, v)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}

func decodeName(d params.Decode) string {
	if d == params.DecodeBase64URL {
		return "base64url"
	}
	return "base64"
}

// decodeFiles returns copies of fs with each value decoded: the files of
// a selection are shared by every Mount of the secret version.
func decodeFiles(obj params.Object, s *object.Version, fs []files.File) ([]files.File, error) {
	if obj.Decode == params.DecodeNone {
		return fs, nil
	}
	out := make([]files.File, len(fs))
	for i, f := range fs {
		v, ok := decodeValue(obj.Decode, f.Contents)
		if !ok {
			key := f.Path
			if obj.Alias != "" {
				key = strings.TrimPrefix(key, obj.Alias+"/")
			}
			if obj.Layout == files.Nested {
				key = strings.ReplaceAll(key, "/", ".")
			}
			return nil, mounterr.New(mounterr.Invalid,
				"objects entry %s: the value of key %s of %s %s is not valid %s (decode: %s): store it %s-encoded, or remove decode",
				obj.Name, key, noun(obj), s.Name, decodeName(obj.Decode), decodeName(obj.Decode), decodeName(obj.Decode))
		}
		f.Contents = v
		out[i] = f
	}
	return out, nil
}
