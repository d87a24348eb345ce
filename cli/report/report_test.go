package report

import (
	"bytes"
	"testing"
)

func TestSummaryAndExit(t *testing.T) {
	e := Finding{Severity: Error, Check: "x", Message: "m"}
	w := Finding{Severity: Warning, Check: "y", Message: "m"}
	ok := Finding{Severity: OK, Check: "z", Message: "m"}
	skipped := Finding{Severity: Skipped, Check: "z", Message: "m"}
	for _, tc := range []struct {
		fs   []Finding
		want string
		exit int
	}{
		{nil, "no problems", ExitClean},
		{[]Finding{e}, "1 problem (1 error)", ExitProblems},
		{[]Finding{w, w}, "2 problems (2 warnings)", ExitProblems},
		{[]Finding{e, w, e}, "3 problems (2 errors, 1 warning)", ExitProblems},
		{[]Finding{ok, skipped}, "no problems", ExitClean},                              // doctor's checks that found nothing
		{[]Finding{ok, w, skipped, e}, "2 problems (1 error, 1 warning)", ExitProblems}, // only problems count
	} {
		if got := Summary(tc.fs); got != tc.want {
			t.Errorf("Summary = %q, want %q", got, tc.want)
		}
		if got := Exit(tc.fs); got != tc.exit {
			t.Errorf("Exit = %d, want %d", got, tc.exit)
		}
	}
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	WriteText(&b, []Finding{
		{Severity: Error, Line: 3, Column: 5, Message: "VCS.X is not a PMP key", Fix: "rename it\nor remove it"},
		{Severity: Warning, Message: "whole secret"},
	})
	want := "error    line 3, column 5: VCS.X is not a PMP key\n         fix: rename it\n              or remove it\nwarning  whole secret\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteJSONKeepsArrows(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, map[string]string{"m": "a -> b & <c>"}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "{\n  \"m\": \"a -> b & <c>\"\n}\n" {
		t.Errorf("got %s", b.String())
	}
}
