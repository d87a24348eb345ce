// Package mlog stands in for monis.app/mlog, which the module proxy refuses,
// so that the Secrets Store CSI Driver's main builds. It implements only the
// names the driver v1.6.1 uses, on top of klog: text logging only.
package mlog

import (
	"context"
	"errors"
	"flag"
	"strconv"

	"k8s.io/klog/v2"
)

// LogFormat names a log output format.
type LogFormat string

// The formats the driver asks for. Only FormatText is implemented.
const (
	FormatText LogFormat = "text"
	FormatJSON LogFormat = "json"
)

// Setup returns the function that flushes the logs at exit.
func Setup() func() { return klog.Flush }

// ValidateAndSetKlogLevelAndFormatGlobally sets klog's verbosity. It refuses
// the JSON format, which this shim does not implement.
func ValidateAndSetKlogLevelAndFormatGlobally(_ context.Context, level klog.Level, format LogFormat) error {
	if format != FormatText {
		return errors.New("mlog shim: only the text log format is implemented")
	}
	if level < 0 {
		return nil
	}
	fs := flag.NewFlagSet("mlog", flag.ContinueOnError)
	klog.InitFlags(fs)
	return fs.Set("v", strconv.Itoa(int(level)))
}

// Error logs err with a message.
func Error(msg string, err error, keysAndValues ...any) {
	klog.ErrorS(err, msg, keysAndValues...)
}

// Fatal logs err and exits with status 1.
func Fatal(err error, keysAndValues ...any) {
	klog.ErrorS(err, "fatal error", keysAndValues...)
	klog.FlushAndExit(klog.ExitFlushTimeout, 1)
}
