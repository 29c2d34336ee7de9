// Package report renders a run document as one self-contained HTML page a person reads
// without help: who, why, when, what each step did, every change with its before and after,
// what a person must still do, and the calls that undo or approve it.
//
// The page loads nothing (no scripts, no images, no fonts, no external style sheets) so that
// it can be served under the contract's Content-Security-Policy, saved, mailed or printed as
// it is. Everything in a run that came from the tenant (rule names, targets, evidence) is
// attacker-controlled text; page.go escapes every value it writes, and writes the page with
// plain Go code so that no template engine's reflection weighs on the handler's link.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tourniquet/tourniquet/internal/catalog"
	"github.com/tourniquet/tourniquet/internal/runs"
)

// ContentSecurityPolicy is the header the page must be served with (contract section 2): no
// script, image, font or connection of any kind, only the page's own inline style.
const ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'"

// ContentType is the page's media type.
const ContentType = "text/html; charset=utf-8"

// Options tune the commands the page shows.
type Options struct {
	// BaseURL is the app's address used in the curl examples (e.g.
	// "https://tourniquet.azurewebsites.net"); a placeholder when empty.
	BaseURL string
	// Preflight, when set, is the deployment's last preflight in a line ("ready: 13 of 13
	// steps ready, checked 2026-12-07T14:00:00Z"), shown in the footer: a reader sees whether
	// a step that failed was expected to.
	Preflight string
}

// awaitingApproval is the status of a run waiting for a second person (contract section
// 6.1).
const awaitingApproval = runs.AwaitingApproval

// Render writes the page of run to w.
func Render(w io.Writer, run *runs.Run, opts Options) error {
	if run == nil {
		return fmt.Errorf("report: no run")
	}
	v, err := build(run, opts)
	if err != nil {
		return err
	}
	var page writer
	writePage(&page, v)
	_, err = io.WriteString(w, page.String())
	return err
}

type view struct {
	Run          *runs.Run
	Title        string
	Outcome      string
	OutcomeClass string
	Duration     string
	Steps        []stepView
	ToDo         []todo
	Restorations []restorationView
	Restore      *command // restore-admin-roles, when the run removed admin roles
	RestoreAll   *command // restore, when the run made a reversible change
	Approve      *command // approve, when the run waits for approval
	Reject       *command
	// Findings is what the investigate step read, shown as "What happened".
	Findings *runs.Findings
	// Preflight is the deployment's last preflight in a line (Options.Preflight).
	Preflight string
}

type stepView struct {
	Name        string // the catalog name (reset-password)
	Title       string // what it does, in words
	Status      string // the status as the API spells it
	StatusWords string
	StatusClass string
	StartedAt   *time.Time
	FinishedAt  *time.Time
	Attempts    int
	Message     string
	Error       *runs.Error
	Changes     []changeView
}

type changeView struct {
	Action  string
	Target  string
	Before  *value
	After   *value
	Reasons []string
}

type todo struct {
	Step string
	What string
}

type restorationView struct {
	At          time.Time
	RequestedBy string
	Status      string
	Error       *runs.Error
	Changes     []changeView
	// Why, Approve and Reject are set while the restoration awaits approval.
	Why             string
	Approve, Reject *command
}

type command struct {
	Method, Path, Curl, Note string
}

// value is a before/after value made readable: a scalar, a list or key: value fields.
type value struct {
	Scalar string
	Empty  bool // an empty string, list or object, or null: shown as "(none)"
	List   []*value
	Fields []field
	IsMap  bool
	// EmptyKeys are the fields of an object with no value, named on one line so that the
	// fields that matter stand out (a rule's evidence has twenty, most of them empty).
	EmptyKeys []string
}

type field struct {
	Key   string
	Value *value
}

// stepTitle says what a catalog step does, for the timeline.
func stepTitle(name string) string {
	st, _ := catalog.Lookup(catalog.Name(name))
	return st.Title
}

// statusWords says each step status in words; the class colours it.
var statusWords = map[runs.StepStatus][2]string{
	runs.StepPending:        {"Waiting to run", "wait"},
	runs.StepRunning:        {"Running now", "wait"},
	runs.StepSucceeded:      {"Done", "ok"},
	runs.StepNoChange:       {"Nothing to change", "ok"},
	runs.StepActionRequired: {"A person must act", "act"},
	runs.StepFailed:         {"Failed", "bad"},
	runs.StepSkipped:        {"Skipped: a step it waits for did not succeed", "act"},
	runs.StepPlanned:        {"Would change (dry run, nothing changed)", "plan"},
}

// StatusWords returns a step status in words.
func StatusWords(s runs.StepStatus) string {
	if w, ok := statusWords[s]; ok {
		return w[0]
	}
	return "Unknown status " + strconv.Quote(string(s))
}

func build(run *runs.Run, opts Options) (*view, error) {
	v := &view{Run: run, Title: "Remediation of " + userLabel(run.User), Preflight: opts.Preflight}
	v.Outcome, v.OutcomeClass = outcome(run)
	if run.FinishedAt != nil && !run.CreatedAt.IsZero() {
		v.Duration = run.FinishedAt.Sub(run.CreatedAt).Round(time.Millisecond).String()
	}
	removedRoles, reversible := false, false
	for _, s := range orderedSteps(run.Steps) {
		sv := stepView{
			Name: s.Name, Title: stepTitle(s.Name), Status: string(s.Status),
			StatusWords: StatusWords(s.Status), StatusClass: statusWords[s.Status][1],
			StartedAt: s.StartedAt, FinishedAt: s.FinishedAt, Attempts: s.Attempts,
			Message: s.Message, Error: s.Error,
		}
		if sv.Title == "" {
			sv.Title = s.Name
		}
		for _, c := range s.Changes {
			cv, err := changeOf(c)
			if err != nil {
				return nil, fmt.Errorf("report: step %s: %w", s.Name, err)
			}
			sv.Changes = append(sv.Changes, cv)
			if !run.DryRun && s.Status != runs.StepPlanned {
				reversible = reversible || isReversible(s.Name, c)
				removedRoles = removedRoles || (s.Name == string(catalog.RemoveAdminRoles) && c.Restore != nil)
			}
		}
		v.Steps = append(v.Steps, sv)
		if s.Findings != nil {
			v.Findings = s.Findings
			// A way in the attacker left elsewhere in the tenant: no step undoes it.
			for _, sig := range s.Findings.Signals {
				if strings.HasPrefix(sig, runs.PersistenceSignal) {
					v.ToDo = append(v.ToDo, todo{s.Name, sig})
				}
			}
		}
		switch s.Status {
		case runs.StepActionRequired:
			v.ToDo = append(v.ToDo, todo{s.Name, orDefault(s.Message, "the step needs a person; see its record")})
		case runs.StepSkipped:
			v.ToDo = append(v.ToDo, todo{s.Name, "it did not run: " + orDefault(s.Message, "a step it waits for did not succeed") + ". Run it again once the account is secured."})
		case runs.StepFailed:
			what := "it failed"
			if s.Error != nil {
				what += ": " + s.Error.Message
			}
			v.ToDo = append(v.ToDo, todo{s.Name, what + ". Check the cause, then start the step again."})
		}
	}
	for _, r := range run.Restorations {
		rv := restorationView{At: r.At, RequestedBy: r.RequestedBy, Status: r.Status, Error: r.Error}
		// Only an id of the shape the handler writes goes into a command a person pastes
		// into a shell.
		if r.Status == "awaiting_approval" && restorationID.MatchString(r.ID) {
			if r.Approval != nil {
				rv.Why = r.Approval.Why
			}
			path := "/api/remediations/" + run.RunID
			rv.Approve = post(strings.TrimRight(orDefault(opts.BaseURL, "https://<app>.azurewebsites.net"), "/"), path+"/approve", `{"restorationId":"`+r.ID+`","reason":"<why>"}`,
				"A second person (not who asked for the restore) approves; the restore is carried out at once.")
			rv.Reject = post(strings.TrimRight(orDefault(opts.BaseURL, "https://<app>.azurewebsites.net"), "/"), path+"/reject", `{"restorationId":"`+r.ID+`","reason":"<why>"}`,
				"Ends the restore rejected; nothing is granted.")
		}
		for _, c := range r.Changes {
			cv, err := changeOf(c)
			if err != nil {
				return nil, fmt.Errorf("report: restoration: %w", err)
			}
			rv.Changes = append(rv.Changes, cv)
		}
		v.Restorations = append(v.Restorations, rv)
	}
	base := strings.TrimRight(opts.BaseURL, "/")
	if base == "" {
		base = "https://<app>.azurewebsites.net"
	}
	runPath := "/api/remediations/" + run.RunID
	if removedRoles {
		v.Restore = post(base, runPath+"/restore-admin-roles", "",
			"Re-grants the roles this run removed (same role, scope and kind; eligible stays eligible). Only once the account is secured; safe to repeat.")
	}
	if reversible {
		v.RestoreAll = post(base, runPath+"/restore", "",
			`Gives back the user's own access this run removed (roles, sign-in, mail protocols, role groups); mailbox delegates, app consents and the devices block-sign-in disabled only when their step is named in {"steps": [...]}. Refused with 409 account_not_secured until the account is secured, unless the body says "force": true with a "reason".`)
	}
	if run.Status == awaitingApproval {
		v.Approve = post(base, runPath+"/approve", `{"reason":"<why>"}`, "A second person approves; the run then continues on its own.")
		v.Reject = post(base, runPath+"/reject", `{"reason":"<why>"}`, "Ends the run rejected; nothing is changed.")
	}
	return v, nil
}

// restorationID is the shape of the restoration ids the handler writes.
var restorationID = regexp.MustCompile(`^[0-9a-f]{16}$`)

func post(base, path, body, note string) *command {
	curl := "curl -X POST \"" + base + path + "\" \\\n  -H 'x-functions-key: <function key>'"
	if body != "" {
		curl += " \\\n  -H 'Content-Type: application/json' -d '" + body + "'"
	}
	return &command{Method: "POST", Path: path, Curl: curl, Note: note}
}

// isReversible reports whether restore can undo the change: a change a reversible step of
// the catalog recorded with what restore needs (block-sign-in records nothing to undo when
// the account was already disabled).
func isReversible(step string, c runs.Change) bool {
	st, ok := catalog.Lookup(catalog.Name(step))
	return ok && st.Reversible && c.Restore != nil
}

func outcome(run *runs.Run) (string, string) {
	who := userLabel(run.User)
	errText := ""
	if run.Error != nil {
		errText = ": " + run.Error.Message
	}
	switch run.Status {
	case runs.Succeeded:
		return who + " is secured: every step succeeded or had nothing to change.", "ok"
	case runs.ActionRequired:
		return "Tourniquet did its part for " + who + ", but a person must still act (see \"What a person must still do\").", "act"
	case runs.Failed:
		return "The remediation of " + who + " failed" + errText + ". The account may not be secured.", "bad"
	case runs.Refused:
		return "The remediation of " + who + " was refused" + errText + ". Nothing in the tenant was changed.", "bad"
	case runs.Planned:
		return "Dry run for " + who + ": nothing was changed; the steps below show what a real run would change.", "plan"
	case runs.Queued, runs.Running:
		return "The remediation of " + who + " is still in progress; reload this page for the rest.", "wait"
	case awaitingApproval:
		return "The remediation of " + who + " waits for a second person's approval; nothing has been changed yet.", "wait"
	case runs.Rejected:
		return "The remediation of " + who + " was rejected; nothing was changed.", "bad"
	case runs.Expired:
		return "The remediation of " + who + " expired without a decision; nothing was changed.", "bad"
	}
	return "The remediation of " + who + " has status " + strconv.Quote(string(run.Status)) + errText + ".", "wait"
}

func userLabel(u runs.UserRef) string {
	if u.UserPrincipalName != "" {
		return u.UserPrincipalName
	}
	if u.ID != "" {
		return u.ID
	}
	return "an unknown user"
}

// orderedSteps lists the steps in catalog order (the order a run moves), unknown ones last.
func orderedSteps(steps []runs.Step) []runs.Step {
	out := slices.Clone(steps)
	rank := func(name string) int {
		if i := slices.Index(catalog.All, catalog.Name(name)); i >= 0 {
			return i
		}
		return len(catalog.All)
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i].Name) < rank(out[j].Name) })
	return out
}

func changeOf(c runs.Change) (changeView, error) {
	cv := changeView{Action: actionWords(c.Action), Target: c.Target, Reasons: c.Reasons}
	var err error
	if c.Before != nil {
		if cv.Before, err = readable(c.Before); err != nil {
			return cv, err
		}
	}
	if c.After != nil {
		if cv.After, err = readable(c.After); err != nil {
			return cv, err
		}
	}
	return cv, nil
}

var actionNames = map[string]string{
	"password_reset":            "Password reset",
	"sessions_revoked":          "Sessions revoked",
	"forwarding_removed":        "Forwarding removed",
	"disabled":                  "Inbox rule disabled",
	"deleted":                   "Inbox rule deleted",
	"role_assignment_removed":   "Role assignment removed",
	"group_membership_removed":  "Role-assignable group membership removed",
	"sender_unblocked":          "Sender unblocked",
	"protocol_disabled":         "Mail protocol turned off",
	"role_group_member_removed": "Removed from Exchange role group",
	"full_access_removed":       "FullAccess delegate removed",
	"send_as_removed":           "SendAs delegate removed",
	"send_on_behalf_removed":    "SendOnBehalf delegate removed",
	"sign_in_blocked":           "Sign-in blocked",
	"device_disabled":           "Device disabled",
	"granted_back":              "Granted back at once (no other Global Administrator remained)",
	"sign_in_allowed_again":     "Sign-in allowed again at once (no other Global Administrator remained)",
	"mfa_method_removed":        "Authentication method removed",
	"consent_revoked":           "App consent revoked",
	"restored":                  "Restored",
	"already_present":           "Already present",
}

func actionWords(action string) string {
	if w, ok := actionNames[action]; ok {
		return w
	}
	words := strings.ReplaceAll(action, "_", " ")
	if words == "" {
		return "Change"
	}
	return strings.ToUpper(words[:1]) + words[1:]
}

// readable turns an arbitrary JSON-shaped value (a map from the store, or a typed value
// from a run still in memory) into key: value lists, keys sorted.
func readable(v any) (*value, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	return toValue(generic), nil
}

func toValue(v any) *value {
	switch t := v.(type) {
	case nil:
		return &value{Empty: true}
	case string:
		return &value{Scalar: t, Empty: t == ""}
	case bool:
		if t {
			return &value{Scalar: "yes"}
		}
		return &value{Scalar: "no"}
	case json.Number:
		return &value{Scalar: t.String()}
	case []any:
		out := &value{Empty: len(t) == 0}
		for _, item := range t {
			out.List = append(out.List, toValue(item))
		}
		return out
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := &value{Empty: len(t) == 0, IsMap: true}
		for _, k := range keys {
			v := toValue(t[k])
			if v.Empty {
				out.EmptyKeys = append(out.EmptyKeys, k)
				continue
			}
			out.Fields = append(out.Fields, field{Key: k, Value: v})
		}
		return out
	}
	return &value{Scalar: fmt.Sprint(v)}
}

// formatTime writes a time in UTC to the second, "not recorded" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "not recorded"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// formatTimeOrNotYet is formatTime of *t, "not yet" when there is no time.
func formatTimeOrNotYet(t *time.Time) string {
	if t == nil {
		return "not yet"
	}
	return formatTime(*t)
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
