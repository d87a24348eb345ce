package server

import (
	"go/constant"
	"go/importer"
	"go/token"
	"go/types"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/server/metrics"
)

// TestAnswersHaveEveryKind: every kind mounterr declares (each constant of
// type Kind, read from its source) has its own row in answers, and the
// rows are distinct, so a new kind cannot silently be answered as Internal.
func TestAnswersHaveEveryKind(t *testing.T) {
	pkg, err := importer.ForCompiler(token.NewFileSet(), "source", nil).Import("github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr")
	if err != nil {
		t.Fatal(err)
	}
	kindType := pkg.Scope().Lookup("Kind").Type()
	declared := 0
	for _, name := range pkg.Scope().Names() {
		c, ok := pkg.Scope().Lookup(name).(*types.Const)
		if !ok || !types.Identical(c.Type(), kindType) {
			continue
		}
		declared++
		v, _ := constant.Int64Val(c.Val())
		if _, ok := answers[mounterr.Kind(v)]; !ok {
			t.Errorf("mounterr.%s has no row in answers: give it its gRPC code and metric result", name)
		}
	}
	if declared < 6 || declared != len(answers) {
		t.Errorf("mounterr declares %d kinds, answers has %d rows", declared, len(answers))
	}
	codesSeen, resultsSeen := map[codes.Code]bool{}, map[string]bool{}
	for k, a := range answers {
		if resultsSeen[a.result] {
			t.Errorf("%s shares its result label %q with another kind", k, a.result)
		}
		resultsSeen[a.result] = true
		if codesSeen[a.code] {
			t.Errorf("%s shares its code %s with another kind", k, a.code)
		}
		codesSeen[a.code] = true
		if a.result == metrics.ResultOK || a.result == metrics.ResultCanceled {
			t.Errorf("%s is counted as %q", k, a.result)
		}
	}
}
