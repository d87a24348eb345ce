package doctor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	smithy "github.com/aws/smithy-go"

	"github.com/pmp-secrets-provider/pmp-secrets-provider/cli/report"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/backend"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/identity"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/mounterr"
	"github.com/pmp-secrets-provider/pmp-secrets-provider/provider/params"
)

// failover reads every object as a Mount reads it in the class's
// failoverRegion while the object's primary region is out: as the pod's
// identity exchanged there (IRSA: that region's own STS; Pod Identity: the
// agent), the assumeRoleArn role assumed there, then GetSecretValue of the
// object's failoverObject. A failure is a warning, not an error: the
// primary region serves the Mount today; one during its outage would fail.
// Parameters are read only by the mount check, in the primary region, so
// they are not checked here (a skipped step says so).
func (d *Doctor) failover(ctx context.Context, p *provider.Provider, req *params.Request, own identity.Identity, token string, s *Steps) {
	const check = "failover"
	region := req.FailoverRegion
	var served, parameters, primaries []string
	failed := false
	exchanged := map[identity.Key]bool{} // by identity key: one exchange, and one finding, each
	for _, obj := range req.Objects {
		primary := own.Region
		if obj.Region != "" {
			primary = obj.Region
		}
		if primary == region {
			s.skip(check, "objects entry %s is read in %s, the failoverRegion itself: the mount check above says what to change", obj.Name, region)
			failed = true
			continue
		}
		if !slices.Contains(primaries, primary) {
			primaries = append(primaries, primary)
		}
		name, version, label := obj.InFailover()
		b := provider.Backend(obj.Type)
		if b.Batch > 1 {
			// Read in batches: only the mount check reads them (below).
			parameters = append(parameters, name)
			continue
		}
		id := own
		id.Region = region
		id.Target = provider.Target(req, obj)
		if !d.failoverIdentity(ctx, p, id, primary, token, exchanged, s) {
			failed = true
			continue
		}
		secret, err := p.Read(ctx, obj.Type, id, token, backend.Ref{Name: name, Version: version, Label: label})
		if err != nil {
			s.fail(check, report.Warning, fmt.Sprintf("objects entry %s cannot be read in failover region %s, so its Mount would fail during an outage of %s: %s", obj.Name, region, primary, withCode(err)),
				failoverFix(obj, name, primary, region, id, err))
			failed = true
			continue
		}
		served = append(served, fmt.Sprintf("%s %s as %s (%s, version %s)", b.Noun, name, reader(id), b.Call, secret.VersionID))
	}
	if len(parameters) > 0 {
		s.skip(check, "parameters %s (Parameter Store) are not read in failover region %s: doctor reads parameters only through the mount check, in the primary region; aws ssm get-parameters --names NAME --with-decryption --region %s, as the role, shows whether it serves them",
			strings.Join(parameters, ", "), region, region)
	}
	if failed || len(served) == 0 {
		return
	}
	every := "every object"
	if len(parameters) > 0 {
		every = "every secret"
	}
	s.ok(check, "failover region %s serves %s as a Mount reads it there during an outage of %s, with the pod's credentials from %s: %s",
		region, every, strings.Join(primaries, " or "), exchangedBy(own, region), strings.Join(served, "; "))
}

// failoverIdentity gets id's credentials in the failover region, its own
// and then its target role's, once per identity: a failure is a warning.
func (d *Doctor) failoverIdentity(ctx context.Context, p *provider.Provider, id identity.Identity, primary, token string, exchanged map[identity.Key]bool, s *Steps) bool {
	if ok, seen := exchanged[id.Key()]; seen {
		return ok
	}
	ok := d.exchangeIn(ctx, p, id, primary, token, exchanged, s)
	exchanged[id.Key()] = ok
	return ok
}

func (d *Doctor) exchangeIn(ctx context.Context, p *provider.Provider, id identity.Identity, primary, token string, exchanged map[identity.Key]bool, s *Steps) bool {
	const check = "failover"
	outage := fmt.Sprintf("in failover region %s, so every Mount would fail during an outage of %s", id.Region, primary)
	own := id.Own()
	if ok, seen := exchanged[own.Key()]; seen && !ok {
		return false // said once
	}
	_, _, err := p.Credentials().Get(ctx, own, token)
	exchanged[own.Key()] = err == nil
	if err != nil {
		s.fail(check, report.Warning, fmt.Sprintf("%s does not give the pod's credentials %s: %s", exchangedBy(id, id.Region), outage, stsMessage(err)),
			regionalSTSFix(id.Region))
		return false
	}
	if id.Target.RoleARN == "" {
		return true
	}
	if _, _, err := p.Credentials().Get(ctx, id, token); err != nil {
		s.fail(check, report.Warning, fmt.Sprintf("%s may not assume role %s (assumeRoleArn) %s: %s", id.Principal(), id.Target.RoleARN, outage, stsMessage(err)),
			regionalSTSFix(id.Region))
		return false
	}
	return true
}

// regionalSTSFix is what to do when STS refuses in the failover region
// what it allows in the primary.
func regionalSTSFix(region string) string {
	return "the message says what to change: IAM roles and trust policies are global, so a refusal in " + region + " alone is its STS (activated per account in the IAM account settings)"
}

// withCode is err's message after AWS's error code, when the message does
// not already name it (the provider's message for a missing secret says
// what to check, not ResourceNotFoundException).
func withCode(err error) string {
	msg := err.Error()
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && !strings.Contains(msg, apiErr.ErrorCode()) {
		msg = apiErr.ErrorCode() + ": " + msg
	}
	return msg
}

// exchangedBy names where the pod's credentials come from in region.
func exchangedBy(id identity.Identity, region string) string {
	if id.Source == identity.PodIdentity {
		return "the EKS Pod Identity Agent"
	}
	return "STS in " + region
}

// failoverFix is what to do when the failover region refuses name, the
// object obj is read as there, by the failure's kind.
func failoverFix(obj params.Object, name, primary, region string, id identity.Identity, err error) string {
	replicate := fmt.Sprintf("replicate the secret to %s: aws secretsmanager replicate-secret-to-regions --secret-id %s --add-replica-regions Region=%s --region %s",
		region, obj.Name, region, primary)
	grant := fmt.Sprintf("grant %s secretsmanager:GetSecretValue on the replica's ARN in %s: pmp-secrets-provider policy --secret %s --region %s --failover-region %s writes such a policy",
		reader(id), region, obj.Name, primary, region)
	if name != obj.Name {
		grant += " (add failoverObject's " + name + " to it yourself)"
	}
	fixObject := "or fix failoverObject (objectName, objectVersion, objectVersionLabel) to name the object as it is in " + region
	switch mounterr.KindOf(err) {
	case mounterr.NotFound:
		return replicate + "; " + fixObject
	case mounterr.Denied:
		return grant + "; " + fixObject
	}
	return "the message says what to change: " + replicate + "; or " + grant + "; " + fixObject
}
