package logcapture

import (
	"flag"
	"strconv"
	"testing"

	"k8s.io/klog/v2"
)

// Klog sends klog's output, at verbosity v and above, to a new Buffer
// until the test ends, and nothing to stderr.
func Klog(t testing.TB, v int) *Buffer {
	t.Helper()
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	for k, val := range map[string]string{"v": strconv.Itoa(v), "logtostderr": "false", "alsologtostderr": "false", "stderrthreshold": "FATAL"} {
		if err := fs.Set(k, val); err != nil {
			t.Fatal(err)
		}
	}
	buf := &Buffer{}
	klog.SetOutput(buf)
	t.Cleanup(func() {
		klog.Flush()
		_ = fs.Set("v", "0")
		_ = fs.Set("logtostderr", "true")
	})
	return buf
}

// Flushed is everything klog has written to b, once its buffers are
// flushed.
func (b *Buffer) Flushed() string {
	klog.Flush()
	return b.String()
}
