package graph

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestAuditLogsAgainstTheSimulator(t *testing.T) {
	c, sim, demo := simClient(t, 3)
	since := time.Now().Add(-7 * 24 * time.Hour)
	ins, err := c.SignIns(context.Background(), demo.UserID, since)
	if err != nil || len(ins) != 17 {
		t.Fatalf("SignIns: %d, %v", len(ins), err)
	}
	failed := 0
	for _, in := range ins {
		if in.ErrorCode != 0 {
			failed++
		}
		if in.Time.IsZero() || in.IP == "" || in.Country == "" {
			t.Errorf("sign-in %+v", in)
		}
	}
	if failed != 3 {
		t.Errorf("%d failed sign-ins, want 3", failed)
	}
	audits, err := c.DirectoryAudits(context.Background(), demo.UserID, since)
	// MFA, consent and a service principal credential (initiator, MFA also target) and the
	// helpdesk's update (target): merged.
	if err != nil || len(audits) != 4 {
		t.Fatalf("DirectoryAudits: %d %+v, %v", len(audits), audits, err)
	}

	// An identifier that is not a GUID never reaches the filter.
	sim.ResetRequests()
	for _, id := range []string{"x' or 1 eq 1 or userId eq 'y", demo.UPN, ""} {
		if _, err := c.SignIns(context.Background(), id, since); err == nil {
			t.Errorf("SignIns(%q) accepted", id)
		}
		if _, err := c.DirectoryAudits(context.Background(), id, since); err == nil {
			t.Errorf("DirectoryAudits(%q) accepted", id)
		}
	}
	if n := len(sim.Requests()); n != 0 {
		t.Errorf("%d requests sent for invalid ids", n)
	}

	sim.SetSignInLogsLicensed(false)
	_, err = c.SignIns(context.Background(), demo.UserID, since)
	var ge *Error
	if !errors.As(err, &ge) || ge.Status != http.StatusForbidden || ge.Code != SignInLicenceRequired {
		t.Errorf("unlicensed: %v", err)
	}
}
