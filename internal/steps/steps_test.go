package steps

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
)

func TestNewPasswordMeetsThePolicy(t *testing.T) {
	allowed := lowerChars + upperChars + digitChars + symbolChars
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		p, err := NewPassword()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) < 20 || len(p) != PasswordLength {
			t.Fatalf("length %d", len(p))
		}
		var lower, upper, digit, symbol bool
		for _, r := range p {
			switch {
			case !strings.ContainsRune(allowed, r):
				t.Fatalf("character %q is outside the allowed set", r)
			case unicode.IsLower(r):
				lower = true
			case unicode.IsUpper(r):
				upper = true
			case unicode.IsDigit(r):
				digit = true
			default:
				symbol = true
			}
		}
		if !lower || !upper || !digit || !symbol {
			t.Fatalf("password lacks a character class (lower %v upper %v digit %v symbol %v)", lower, upper, digit, symbol)
		}
		if seen[p] {
			t.Fatal("the same password twice")
		}
		seen[p] = true
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    Options
		wantErr bool
	}{
		{"absent", ``, Options{}, false},
		{"null", `null`, Options{}, false},
		{"delete all", `{"inboxRules":{"action":"delete","scope":"all"}}`, Options{InboxRules: InboxRuleOptions{Action: "delete", Scope: "all"}}, false},
		{"unknown action", `{"inboxRules":{"action":"burn"}}`, Options{}, true},
		{"unknown scope", `{"inboxRules":{"scope":"some"}}`, Options{}, true},
		{"unknown field", `{"inboxrule":{}}`, Options{}, true},
		{"not an object", `[1]`, Options{}, true},
		{"investigate 30 days", `{"investigate":{"days":30}}`, Options{Investigate: InvestigateOptions{Days: 30}}, false},
		{"investigate 31 days", `{"investigate":{"days":31}}`, Options{}, true},
		{"investigate negative days", `{"investigate":{"days":-1}}`, Options{}, true},
		{"investigate fractional days", `{"investigate":{"days":1.5}}`, Options{}, true},
		{"investigate unknown field", `{"investigate":{"hours":3}}`, Options{}, true},
		{"watch", `{"watch":{"duration":"24h","ips":["203.0.113.7"," 2001:db8::1 "]}}`, Options{Watch: WatchOptions{Duration: "24h", IPs: []string{"203.0.113.7", "2001:db8::1"}}}, false},
		{"watch too short", `{"watch":{"duration":"5s"}}`, Options{}, true},
		{"watch too long", `{"watch":{"duration":"73h"}}`, Options{}, true},
		{"watch not a duration", `{"watch":{"duration":"a day"}}`, Options{}, true},
		{"watch ip not an address", `{"watch":{"duration":"1h","ips":["203.0.113.7'--"]}}`, Options{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOptions(json.RawMessage(tt.raw))
			if (err != nil) != tt.wantErr || (!tt.wantErr && !reflect.DeepEqual(got, tt.want)) {
				t.Fatalf("got %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// blockedList answers only the restricted-user calls; any other call panics on the nil
// embedded interface, which fails the test.
type blockedList struct {
	Mailboxes
	blocked []exchange.BlockedSender
	removed []string
}

func (f *blockedList) BlockedSenders(ctx context.Context, address string) ([]exchange.BlockedSender, error) {
	var out []exchange.BlockedSender
	for _, b := range f.blocked {
		if strings.EqualFold(b.SenderAddress, address) {
			out = append(out, b)
		}
	}
	return out, nil
}

func (f *blockedList) RemoveBlockedSender(ctx context.Context, address string) error {
	f.removed = append(f.removed, address)
	return nil
}

// noDirectory fails the test (nil interface) if a step calls the directory at all.
type noDirectory struct{ Directory }

func TestUnblockSenderOnlyOnceTheAccountIsSecured(t *testing.T) {
	target := Target{ID: "11111111-1111-4111-8111-111111111111", UPN: "adele@contoso.example"}
	tests := []struct {
		name        string
		dryRun      bool
		others      map[Name]runs.StepStatus
		want        runs.StepStatus
		wantRemoved int
	}{
		{"all secured", false, map[Name]runs.StepStatus{ResetPassword: runs.StepSucceeded, RemoveForwarding: runs.StepNoChange}, runs.StepSucceeded, 1},
		{"a step needs a person", false, map[Name]runs.StepStatus{ResetPassword: runs.StepActionRequired}, runs.StepSkipped, 0},
		{"a step failed", false, map[Name]runs.StepStatus{RemoveAdminRoles: runs.StepFailed}, runs.StepSkipped, 0},
		{"dry run: planned counts as secured", true, map[Name]runs.StepStatus{ResetPassword: runs.StepPlanned}, runs.StepPlanned, 0},
		{"on its own", false, nil, runs.StepSucceeded, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb := &blockedList{blocked: []exchange.BlockedSender{{SenderAddress: target.UPN}}}
			r := &Runner{Directory: noDirectory{}, Mailboxes: mb}
			out := r.Run(context.Background(), UnblockSender, Input{Target: target, DryRun: tt.dryRun, Others: tt.others})
			if out.Status != tt.want || len(mb.removed) != tt.wantRemoved {
				t.Fatalf("status %s removed %v; want %s and %d removals (%s)", out.Status, mb.removed, tt.want, tt.wantRemoved, out.Message)
			}
			if out.Status == runs.StepSkipped && !strings.Contains(out.Message, "not secured") {
				t.Errorf("skip reason %q", out.Message)
			}
		})
	}
}

func TestResetPasswordOfASyncedUserCallsNothing(t *testing.T) {
	r := &Runner{Directory: noDirectory{}, Mailboxes: &blockedList{}}
	out := r.Run(context.Background(), ResetPassword, Input{Target: Target{ID: "x", UPN: "hybrid@contoso.example", Synced: true}})
	if out.Status != runs.StepActionRequired || !strings.Contains(out.Message, "on-premises") {
		t.Fatalf("%+v", out)
	}
}

func TestExplainNamesTheServiceAndWhatToDo(t *testing.T) {
	e := explain("remove-forwarding: clear forwarding", &exchange.Error{Cmdlet: "Set-Mailbox", Status: 403, Code: "AccessDenied", Message: "denied"})
	if e.Code != "AccessDenied" || !strings.Contains(e.Message, "Exchange Online answered 403") || !strings.Contains(e.Message, "permission") {
		t.Fatalf("%+v", e)
	}
	nf := explain("remove-inbox-rules: disable rule", &exchange.Error{Cmdlet: "Disable-InboxRule", Status: 400, Code: "BadRequest",
		Type: "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException", ErrorID: "Ex6F9304", Message: "The operation couldn't be performed."})
	if nf.Code != "BadRequest" || !strings.Contains(nf.Message, "answered 400 BadRequest (ManagementObjectNotFoundException): The operation couldn't") || strings.Contains(nf.Message, "|") {
		t.Fatalf("%+v", nf)
	}
	g := explain("revoke-sessions", &graph.Error{Op: "RevokeSessions", Status: 429, Code: "TooManyRequests", Message: "slow down"})
	if !strings.Contains(g.Message, "Microsoft Graph answered 429") || !strings.Contains(g.Message, "retried") {
		t.Fatalf("%+v", g)
	}
}

// refusingCount holds one Global Administrator assignment and refuses to count the others.
type refusingCount struct {
	Directory
	deleted []string
}

func (d *refusingCount) RoleAssignments(context.Context, string) ([]graph.RoleAssignment, error) {
	return []graph.RoleAssignment{{ID: "ga-1", RoleDefinitionID: GlobalAdministratorTemplateID, RoleName: "Global Administrator", DirectoryScopeID: "/"},
		{ID: "ex-1", RoleDefinitionID: "29232cdf-9323-42fd-ade2-1d097af3e4de", RoleName: "Exchange Administrator", DirectoryScopeID: "/"}}, nil
}
func (d *refusingCount) EligibleSchedules(context.Context, string) ([]graph.RoleSchedule, error) {
	return nil, nil
}
func (d *refusingCount) ActiveSchedules(context.Context, string) ([]graph.RoleSchedule, error) {
	return nil, nil
}
func (d *refusingCount) RoleAssignableGroups(context.Context, string) ([]graph.Group, error) {
	return nil, nil
}
func (d *refusingCount) GroupEligibilities(context.Context, string) ([]graph.GroupEligibility, error) {
	return nil, nil
}
func (d *refusingCount) RoleAssignmentsForRole(context.Context, string) ([]graph.RoleAssignment, error) {
	return nil, &graph.Error{Op: "RoleAssignmentsForRole", Status: 400, Code: "BadRequest", Message: "Invalid filter clause"}
}
func (d *refusingCount) DeleteRoleAssignment(_ context.Context, id string) error {
	d.deleted = append(d.deleted, id)
	return nil
}

func TestGlobalAdministratorIsKeptWhenTheCountIsRefused(t *testing.T) {
	dir := &refusingCount{}
	r := &Runner{Directory: dir, Mailboxes: &blockedList{}}
	out := r.Run(context.Background(), RemoveAdminRoles, Input{Target: Target{ID: "11111111-1111-4111-8111-111111111111", UPN: "megan@contoso.example"}})
	if out.Status != runs.StepActionRequired || !strings.Contains(out.Message, "could not verify") {
		t.Fatalf("%+v", out)
	}
	if len(dir.deleted) != 1 || dir.deleted[0] != "ex-1" {
		t.Fatalf("deleted %v; want only the Exchange Administrator assignment", dir.deleted)
	}
}

type revokingDirectory struct {
	Directory
	revoked []string
}

func (d *revokingDirectory) RevokeSessions(_ context.Context, id string) error {
	d.revoked = append(d.revoked, id)
	return nil
}

// revoke-sessions says what revocation does and does not do, never "the attacker is out";
// for a guest, that its home organisation's sessions are not ended.
func TestRevokeSessionsSaysWhatItDoesNotDo(t *testing.T) {
	for name, tt := range map[string]struct {
		upn   string
		guest bool
	}{
		"member": {upn: "adele@contoso.example"},
		"guest":  {upn: "megan.b_fabrikam.example#EXT#@contoso.onmicrosoft.example", guest: true},
	} {
		t.Run(name, func(t *testing.T) {
			d := &revokingDirectory{}
			out := (&Runner{Directory: d}).Run(context.Background(), RevokeSessions, Input{Target: Target{ID: "11111111-1111-4111-8111-111111111111", UPN: tt.upn}})
			if out.Status != runs.StepSucceeded || len(d.revoked) != 1 {
				t.Fatalf("%s %+v", out.Status, out.Error)
			}
			for _, want := range []string{"15 minutes", "up to an hour"} {
				if !strings.Contains(out.Message, want) {
					t.Errorf("the message does not say %q: %s", want, out.Message)
				}
			}
			if got := strings.Contains(out.Message, "fabrikam.example"); got != tt.guest {
				t.Errorf("guest home organisation named: %v, want %v: %s", got, tt.guest, out.Message)
			}
		})
	}
}

// GetUser of noDirectory knows nobody: steps that resolve a name through the directory
// (remove-mailbox-delegates' trustees) go on without it.
func (noDirectory) GetUser(context.Context, string) (graph.User, error) {
	return graph.User{}, &graph.Error{Op: "GetUser", Status: 404, Code: "Request_ResourceNotFound", Message: "not found"}
}
