package steps

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// methodNames are how the record names each type of authentication method.
var methodNames = map[string]string{
	graph.MethodPhone: "phone", graph.MethodMicrosoftAuthenticator: "Microsoft Authenticator", graph.MethodFido2: "FIDO2 security key",
	graph.MethodSoftwareOath: "software OATH token", graph.MethodEmail: "email", graph.MethodTemporaryAccessPass: "Temporary Access Pass",
	graph.MethodWindowsHello: "Windows Hello for Business", graph.MethodPlatformCredential: "platform credential",
}

// phoneOrder deletes the office phone first and the mobile phone last: a user cannot keep an
// alternate mobile without a mobile, and the mobile phone is the usual default method.
var phoneOrder = map[string]int{"office": 0, "alternateMobile": 1, "mobile": 2}

// deletionOrder sorts methods so the deletions Graph refuses least come first: every
// other type, then phones (office, alternate mobile, mobile). The default method, whatever
// its type, is deleted last by retrying what Graph refused as the default.
func deletionOrder(methods []graph.AuthMethod) {
	rank := func(m graph.AuthMethod) int {
		if m.Type != graph.MethodPhone {
			return 0
		}
		t, _ := m.Details["phoneType"].(string)
		return 1 + phoneOrder[t]
	}
	sort.SliceStable(methods, func(i, j int) bool { return rank(methods[i]) < rank(methods[j]) })
}

func methodLabel(m graph.AuthMethod) string {
	name := methodNames[m.Type]
	if name == "" {
		name = m.Type
	}
	for _, key := range []string{"displayName", "phoneNumber", "emailAddress"} {
		if v, _ := m.Details[key].(string); v != "" {
			name += " " + v
			break
		}
	}
	if t, _ := m.Details["phoneType"].(string); t != "" {
		name += " (" + t + ")"
	}
	return name + " [" + m.ID + "]"
}

func methodChange(m graph.AuthMethod, since *time.Time) runs.Change {
	before := map[string]any{"id": m.ID, "type": m.Type}
	for k, v := range m.Details {
		before[k] = v
	}
	reason := "an authentication method of a compromised account: one the attacker registered lets them pass MFA again after the password is reset; the user registers again once the account is secured"
	if m.Created != nil {
		before["createdDateTime"] = m.Created.Format(time.RFC3339)
		if since != nil {
			reason = "registered at " + m.Created.Format(time.RFC3339) + ", at or after " + since.Format(time.RFC3339) + " (options.mfaMethods.registeredSince): likely the attacker's"
		}
	}
	return runs.Change{Action: "mfa_method_removed", Target: methodLabel(m), Before: before, Reasons: []string{reason}}
}

func (r *Runner) removeMFAMethods(ctx context.Context, in Input) Outcome {
	userID := in.Target.ID
	methods, err := r.Directory.AuthenticationMethods(ctx, userID)
	if err != nil {
		return fail("remove-mfa-methods: read authentication methods", err, nil)
	}
	since := in.Options.MFAMethods.since()
	var remove, undated, unknown []graph.AuthMethod
	older := 0
	for _, m := range methods {
		switch {
		case m.Type == graph.MethodPassword:
			// The password is reset by reset-password, never deleted.
		case !m.Deletable():
			unknown = append(unknown, m)
		case since != nil && m.Created == nil:
			undated = append(undated, m)
		case since != nil && m.Created.Before(*since):
			older++
		default:
			remove = append(remove, m)
		}
	}
	var notes []string
	if len(undated) > 0 {
		notes = append(notes, fmt.Sprintf("Kept %s: Graph shows no registration time for these, so registeredSince cannot tell whether the attacker added them; check them with the user, and run without registeredSince to remove every method.", labels(undated)))
	}
	if len(unknown) > 0 {
		notes = append(notes, fmt.Sprintf("Kept %s: Tourniquet knows no Graph route that deletes this type; remove it in the Entra admin center if it is not the user's.", labels(unknown)))
	}
	if len(remove) == 0 {
		msg := "the account has no authentication method besides its password"
		if since != nil {
			msg = fmt.Sprintf("no authentication method was registered at or after %s (%d older kept)", since.Format(time.RFC3339), older)
		}
		return Outcome{Status: runs.StepNoChange, Message: joinNotes(msg, notes...)}
	}
	deletionOrder(remove)
	planned := changesOf(remove, func(m graph.AuthMethod) runs.Change { return methodChange(m, since) })
	if stop := recordBeforeActing(ctx, "remove-mfa-methods", in, planned); stop != nil {
		stop.Message = joinNotes(stop.Message, notes...)
		return *stop
	}

	// Every type but phones at once (independent objects), then phones in order; what
	// Graph refused as the user's default method is tried again once the others are gone.
	errs := make([]error, len(remove))
	phones := 0
	for _, m := range remove {
		if m.Type == graph.MethodPhone {
			phones++
		}
	}
	others := len(remove) - phones
	copy(errs, callEach(others, func(i int) error { return r.Directory.DeleteAuthenticationMethod(ctx, userID, remove[i]) }))
	for i := others; i < len(remove); i++ {
		errs[i] = r.Directory.DeleteAuthenticationMethod(ctx, userID, remove[i])
	}
	for i := range remove {
		if graph.IsDefaultMethodRefusal(errs[i]) {
			errs[i] = r.Directory.DeleteAuthenticationMethod(ctx, userID, remove[i])
		}
	}

	var (
		changes  []runs.Change
		kept     []graph.AuthMethod
		firstErr error
		failed   graph.AuthMethod
	)
	for i, m := range remove {
		switch err := errs[i]; {
		case err == nil || graph.IsNotFound(err): // already gone counts: the goal holds
			changes = append(changes, planned[i])
		case graph.IsDefaultMethodRefusal(err):
			kept = append(kept, m)
		case firstErr == nil:
			firstErr, failed = err, m
		}
	}
	if firstErr != nil {
		return fail("remove-mfa-methods: delete "+methodLabel(failed), firstErr, changes)
	}
	if len(kept) > 0 {
		return Outcome{Status: runs.StepActionRequired, Changes: changes, Message: joinNotes(
			fmt.Sprintf("Kept %s: it is the user's default sign-in method and Graph refuses to delete a default method while the user has others. Make another method the default (Entra admin center > Users > %s > Authentication methods), then run remove-mfa-methods again.", labels(kept), in.Target.UPN),
			notes...)}
	}
	return Outcome{Status: runs.StepSucceeded, Changes: changes, Message: joinNotes("", notes...)}
}

func labels(methods []graph.AuthMethod) string {
	out := make([]string, len(methods))
	for i, m := range methods {
		out[i] = methodLabel(m)
	}
	return strings.Join(out, ", ")
}
