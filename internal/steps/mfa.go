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

func methodChange(m graph.AuthMethod, since *time.Time, dated map[string]registration) runs.Change {
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
	} else if reg, ok := dated[m.ID]; ok && since != nil {
		before["registeredPerAuditLog"] = reg.at.Format(time.RFC3339)
		reason = "registered at " + reg.at.Format(time.RFC3339) + " according to the directory audit log (" + reg.what + "), at or after " + since.Format(time.RFC3339) +
			" (options.mfaMethods.registeredSince): likely the attacker's; Graph shows no createdDateTime for it"
		if reg.ip != "" {
			reason += "; registered from " + reg.ip
		}
	}
	return runs.Change{Action: "mfa_method_removed", Target: methodLabel(m), Before: before, Reasons: []string{reason}}
}

// registration is when the directory audit log says a method was registered.
type registration struct {
	at   time.Time
	what string // activity: resultReason
	ip   string
}

// methodKey is what a registration event can tell about a method: its type, and for a
// phone its phone type.
func methodKey(m graph.AuthMethod) string {
	if m.Type == graph.MethodPhone {
		t, _ := m.Details["phoneType"].(string)
		if t == "" {
			t = "mobile"
		}
		return "phone:" + t
	}
	return m.Type
}

// registeredKeys reads which kinds of method a directory audit event registered (or
// changed: a new phone number or address is as good as a new method), from its activity
// and resultReason: "User registered security info" / "User registered Authenticator App
// with Notification and Code", "Admin registered phone method for user"... Deletions,
// default-method changes and events that name no method answer nothing. "phone:*" is any
// phone.
func registeredKeys(a graph.DirectoryAudit) []string {
	if a.Result != "" && !strings.EqualFold(a.Result, "success") {
		return nil
	}
	text := strings.ToLower(a.Activity + " | " + a.ResultReason)
	if !strings.Contains(text, "registered") && !strings.Contains(text, "changed") && !strings.Contains(text, "updated") {
		return nil
	}
	for _, no := range []string{"deleted", "default", "all required", "started", "reviewed"} {
		if strings.Contains(text, no) {
			return nil
		}
	}
	var keys []string
	add := func(k ...string) { keys = append(keys, k...) }
	switch {
	case strings.Contains(text, "authenticator app"):
		add(graph.MethodMicrosoftAuthenticator)
		if !strings.Contains(text, "notification") {
			add(graph.MethodSoftwareOath) // "with Code" alone may be a third-party app's OATH token
		}
	case strings.Contains(text, "oath"):
		add(graph.MethodSoftwareOath)
	}
	switch {
	case strings.Contains(text, "alternate mobile"):
		add("phone:alternateMobile")
	case strings.Contains(text, "office phone"):
		add("phone:office")
	case strings.Contains(text, "mobile phone"), strings.Contains(text, "sms"):
		add("phone:mobile")
	case strings.Contains(text, "phone method"), strings.Contains(text, "phone number"):
		add("phone:*")
	}
	if strings.Contains(text, "email") {
		add(graph.MethodEmail)
	}
	if strings.Contains(text, "fido") {
		add(graph.MethodFido2)
	}
	if strings.Contains(text, "temporary access pass") {
		add(graph.MethodTemporaryAccessPass)
	}
	if strings.Contains(text, "windows hello") {
		add(graph.MethodWindowsHello)
	}
	return keys
}

func keyMatches(keys []string, key string) bool {
	for _, k := range keys {
		if k == key || k == "phone:*" && strings.HasPrefix(key, "phone:") {
			return true
		}
	}
	return false
}

// dateFromAuditLog dates the methods the directory gives no creation time for by their
// registration events. A kind with one undated method takes its latest registration of
// that kind (a number re-registered is the one in use). Several undated methods of one kind
// cannot be told apart: they are dated only when there are at least as many events of the
// kind as methods and every one falls on the same side of since; otherwise none is.
func dateFromAuditLog(undated []graph.AuthMethod, events []graph.DirectoryAudit, since time.Time) map[string]registration {
	out := map[string]registration{}
	byKey := map[string][]graph.AuthMethod{}
	for _, m := range undated {
		byKey[methodKey(m)] = append(byKey[methodKey(m)], m)
	}
	for key, methods := range byKey {
		var matching []registration
		after := 0
		for _, a := range events {
			if !keyMatches(registeredKeys(a), key) || a.Time.IsZero() {
				continue
			}
			what := a.Activity
			if a.ResultReason != "" {
				what += ": " + a.ResultReason
			}
			matching = append(matching, registration{at: a.Time.UTC(), what: what, ip: a.IP})
			if !a.Time.Before(since) {
				after++
			}
		}
		if len(matching) == 0 {
			continue
		}
		latest := matching[0]
		for _, r := range matching[1:] {
			if r.at.After(latest.at) {
				latest = r
			}
		}
		if len(methods) > 1 && (len(matching) < len(methods) || after != 0 && after != len(matching)) {
			// Which event is which method's cannot be told: each must have its own, all on
			// one side of since.
			continue
		}
		for _, m := range methods {
			out[m.ID] = latest
		}
	}
	return out
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
	// Said on every outcome: what the listing never shows is not covered by "no method left".
	unlisted := "Graph v1.0 does not list " + graph.UnlistedMethods + ": check the user's Authentication methods in the Entra admin center if the tenant uses them."
	dated := map[string]registration{}
	if len(undated) > 0 {
		// Graph gives these no creation time (an Authenticator registered for push or codes
		// shows null; phone, email and software OATH have none in v1.0): their registration
		// events in the directory audit log, read as far back as the tenant keeps them, date them.
		from := r.now().Add(-graph.AuditLogRetention)
		events, err := r.Directory.MethodRegistrations(ctx, userID, from)
		if err != nil {
			notes = append(notes, "The directory audit log could not be read to date the methods Graph gives no registration time for ("+err.Error()+").")
		} else {
			dated = dateFromAuditLog(undated, events, *since)
		}
		var still []graph.AuthMethod
		for _, m := range undated {
			reg, ok := dated[m.ID]
			switch {
			case !ok:
				still = append(still, m)
			case reg.at.Before(*since):
				older++
			default:
				remove = append(remove, m)
			}
		}
		undated = still
	}
	if len(undated) > 0 {
		notes = append(notes, fmt.Sprintf("Kept %s: neither the directory (no createdDateTime in Graph v1.0) nor the directory audit log (read as far back as the tenant keeps it, at most 30 days) gives a registration time for these, so registeredSince cannot tell whether the attacker added them. A person must decide: check them with the user, remove them in the Entra admin center, or run without registeredSince to remove every method.", labels(undated)))
	}
	if len(unknown) > 0 {
		notes = append(notes, fmt.Sprintf("Kept %s: Tourniquet knows no Graph route that deletes this type; remove it in the Entra admin center if it is not the user's.", labels(unknown)))
	}
	notes = append(notes, unlisted)
	if len(remove) == 0 {
		msg := "the account has no authentication method besides its password"
		if since != nil {
			msg = fmt.Sprintf("no authentication method was registered at or after %s (%d older kept)", since.Format(time.RFC3339), older)
		}
		status := runs.StepNoChange
		if len(undated) > 0 {
			status = runs.StepActionRequired
		}
		return Outcome{Status: status, Message: joinNotes(msg, notes...)}
	}
	deletionOrder(remove)
	planned := changesOf(remove, func(m graph.AuthMethod) runs.Change { return methodChange(m, since, dated) })
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
	if len(undated) > 0 {
		return Outcome{Status: runs.StepActionRequired, Changes: changes, Message: joinNotes("", notes...)}
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

// now is the runner's clock (time.Now when Now is nil).
func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
