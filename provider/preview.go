package provider

import (
	"io/fs"
	"slices"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/files"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/object"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// ObjectFiles returns the files a Mount gives for one object of a
// SecretProviderClass whose secret or parameter holds value (its jmesPath
// files included), with the request's default
// mode and pathTranslation (params.Request.PathTranslation), or the error that Mount fails with: the same code as Mount, for
// tools that show what a class would mount before a pod does. The volume
// as a whole is checked by files.CheckVolume.
func ObjectFiles(obj params.Object, value []byte, mode fs.FileMode, translation string) ([]files.File, error) {
	if obj.Mode != 0 {
		mode = obj.Mode
	}
	s := &object.Version{Name: obj.Name, Value: value}
	out, _, err := objectFiles(obj, s, mode, translation)
	if err != nil {
		return nil, err
	}
	var skipped []Skip // an optional entry that selects nothing: no file, as in a Mount
	selected, err := jmesPathFiles(obj, s, mode, &skipped)
	if err != nil {
		return nil, err
	}
	return append(slices.Clip(out), selected...), nil
}
