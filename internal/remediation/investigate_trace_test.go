package remediation_test

import (
	"strings"
	"testing"

	"github.com/tourniquet/tourniquet/internal/remediation"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// Sent mail is read from Graph's message trace where the tenant allows it (Microsoft's
// message trace app provisioned), with the same counts; where Graph refuses (the default
// tenant, without that service principal) Get-MessageTraceV2 answers and a note names
// which one was used and why.
func TestInvestigationPrefersGraphsMessageTraceAndNamesTheFallback(t *testing.T) {
	t.Parallel()
	for _, provisioned := range []bool{true, false} {
		e := newEnv(t, remediation.Config{})
		e.sim.SetMessageTraceServicePrincipal(provisioned)
		e.sim.ResetRequests()
		f := investigateDemo(t, e, "INC-24n")
		graphCalls, exoCalls := 0, 0
		for _, r := range e.sim.Requests() {
			switch {
			case strings.HasSuffix(r.Path, "/admin/exchange/tracing/messageTraces"):
				graphCalls++
			case r.Cmdlet == "Get-MessageTraceV2":
				exoCalls++
			}
		}
		notes := strings.Join(f.Notes, " | ")
		if f.Summary.MailSent != 24+tenantsim.AttackBurst || f.Summary.ExternalRecipients != 1+tenantsim.AttackBurst || len(f.Unavailable) != 0 {
			t.Errorf("provisioned %v: summary %+v, unavailable %+v", provisioned, f.Summary, f.Unavailable)
		}
		if provisioned {
			if graphCalls == 0 || exoCalls != 0 || !strings.Contains(notes, "sent mail was read from Microsoft Graph's message trace") {
				t.Errorf("provisioned: %d Graph and %d Exchange trace requests, notes %q", graphCalls, exoCalls, notes)
			}
			continue
		}
		if graphCalls != 1 || exoCalls == 0 || !strings.Contains(notes, "sent mail was read with Exchange Online's Get-MessageTraceV2") ||
			!strings.Contains(notes, "401") || !strings.Contains(notes, "New-MgServicePrincipal -AppId 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373") {
			t.Errorf("not provisioned: %d Graph and %d Exchange trace requests, notes %q", graphCalls, exoCalls, notes)
		}
	}
}
