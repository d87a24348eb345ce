package doctor

import (
	"context"
	"strings"
	"testing"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/apifake"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/internal/awsemu"
)

// An optional object that does not exist is a warning that says the
// Mount leaves it out, not an error, and the mount check still runs and
// names it; one the role may not read is still an error that stops it.
func TestOptionalObjectThatDoesNotExist(t *testing.T) {
	class := "- objectName: PMP-Production-Credentials\n- {objectName: PMP-Staging-Credentials, optional: true}\n"
	w := newWorld(t, "")
	w.api.Put(apifake.ClassPath, apifake.Class("pmp-credentials", "pmp", "eu-west-1", class))
	res := w.doctor(t).Check(context.Background(), ofDeployment)
	want := "csidriver ok, daemonset ok, deployment ok, secretproviderclass ok, serviceaccount ok, token ok, sts ok, secret[0] ok, secret[0] ok, secret[0] ok, secret[1] warning, mount ok"
	if got := strings.Join(statuses(res), ", "); got != want {
		t.Fatalf("steps:\n%s\nwant:\n%s\n%+v", got, want, res.Steps)
	}
	if m := step(res, "secret[1]", report.Warning).Message; m != "secret PMP-Staging-Credentials does not exist in eu-west-1: it is optional, so each Mount leaves it out (and logs that it does) until it is created" {
		t.Errorf("secret[1]: %s", m)
	}
	if m := step(res, "mount", report.OK).Message; !strings.HasSuffix(m, "gets 3 files: Email.SMTPPassword, VCS.GithubAdminPAT, VCS.GithubOrgOwnerPAT; optional and missing, left out: secret PMP-Staging-Credentials") {
		t.Errorf("mount: %s", m)
	}

	t.Run("denied", func(t *testing.T) {
		w := newWorld(t, "")
		w.api.Put(apifake.ClassPath, apifake.Class("pmp-credentials", "pmp", "eu-west-1", "- {objectName: PMP-Staging-Credentials, optional: true}\n- objectName: PMP-Production-Credentials\n"))
		w.aws.Front.Inject(awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Status: 400, Code: "AccessDeniedException", Message: "denied"})
		res := w.doctor(t).Check(context.Background(), ofDeployment)
		denied := false
		for _, s := range res.Steps {
			denied = denied || s.Check == "secret[0]" && s.Severity == report.Error && strings.Contains(s.Message, "access to secret PMP-Staging-Credentials in eu-west-1 was denied")
		}
		if !denied {
			t.Errorf("no secret[0] error saying the optional secret was denied:\n%+v", res.Steps)
		}
		if step(res, "mount", report.OK) != nil {
			t.Error("the mount check passed")
		}
	})
}
