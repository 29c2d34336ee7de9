package main

import (
	"strings"

	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/runs"
	"github.com/tourniquet/tourniquet/internal/tenantsim"
)

// demoSteps is full containment: every step of the catalog, the investigation included
// (what the attacker did is read beside the containment, which does not wait for it).
var demoSteps = catalog.All

// demoOptions: the eviction watch, and block-sign-in disabling the devices registered during
// the compromise (options.blockSignIn.disableDevices).
var demoOptions = map[string]any{
	"watch":       map[string]any{"duration": "20s", "ips": []string{tenantsim.AttackerIP}},
	"blockSignIn": map[string]any{"disableDevices": true},
}

// findings prints the investigation's summary, signals and timeline.
func (r *report) findings(f *runs.Findings) {
	if f == nil {
		return
	}
	s := f.Summary
	r.line("      what happened (%s to %s):", f.From, f.To)
	r.line("        %d sign-ins (%d failed) from %v; %d messages sent, %d external recipients in %d domains",
		s.SignIns, s.FailedSignIns, s.Countries, s.MailSent, s.ExternalRecipients, len(s.ExternalDomains))
	for _, u := range f.Unavailable {
		r.line("        not read: %s: %s", u.Source, u.Reason)
	}
	// The flagged events in full; the ordinary ones (six days of the user's own sign-ins and
	// mail) are counted, the report page lists them.
	ordinary := 0
	for _, e := range f.Timeline {
		if len(e.Signals) == 0 {
			ordinary++
			continue
		}
		r.line("      ! %s %-9s %-45s %-16s %s", e.Time, e.Source, e.What, e.IP, e.Location)
	}
	r.line("        and %d ordinary events (GET /api/remediations/{runId}/report shows the whole timeline)", ordinary)
	for _, sig := range f.Signals {
		r.line("        signal: %s", sig)
	}
	if len(f.Indicators.IPs) > 0 {
		r.line("        the attacker's addresses (the eviction watch looks for them): %v", f.Indicators.IPs)
	}
	for _, rel := range f.Related {
		r.line("        related account (read only, nothing changed): %s: %s", rel.User, strings.Join(rel.Why, "; "))
		r.line("          look at it: tourniquet remediate %s --dry-run", rel.User)
	}
	if len(f.Truncated) > 0 {
		r.line("        cut at a service limit: %v", f.Truncated)
	}
}
