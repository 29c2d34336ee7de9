package steps

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
	"github.com/tourniquet/tourniquet/internal/runs"
)

const (
	accessUserID = "11111111-1111-4111-8111-111111111111"
	accessUPN    = "adele@contoso.example"
)

// fakeAccess answers the Exchange containment calls from fixed state and records every
// call that would change something; any other call panics on the nil embedded interface.
type fakeAccess struct {
	Mailboxes
	mu        sync.Mutex
	mb        exchange.Mailbox
	mbErr     error
	cas       exchange.CASMailbox
	casErr    error
	org       exchange.OrganizationConfig
	orgErr    error
	groups    []exchange.RoleGroup
	members   map[string][]exchange.RoleGroupMember
	full      []exchange.MailboxPermission
	sendAs    []exchange.RecipientPermission
	changeErr error
	// sticky removals answer success and change nothing, as Exchange does for an entry it
	// does not match (it only warns).
	sticky  bool
	reads   []string
	changes []string
}

func (f *fakeAccess) read(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, s)
}

func (f *fakeAccess) change(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes = append(f.changes, s)
	return f.changeErr
}

func (f *fakeAccess) GetMailbox(context.Context, string) (exchange.Mailbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mb, f.mbErr
}
func (f *fakeAccess) GetCASMailbox(context.Context, string) (exchange.CASMailbox, error) {
	return f.cas, f.casErr
}
func (f *fakeAccess) OrganizationConfig(context.Context) (exchange.OrganizationConfig, error) {
	f.read("Get-OrganizationConfig")
	return f.org, f.orgErr
}
func (f *fakeAccess) SetMailProtocols(_ context.Context, _ string, v map[string]any) error {
	return f.change(fmt.Sprintf("Set-CASMailbox %v", v))
}
func (f *fakeAccess) RoleGroups(context.Context) ([]exchange.RoleGroup, error) { return f.groups, nil }
func (f *fakeAccess) RoleGroupMembers(_ context.Context, g string) ([]exchange.RoleGroupMember, error) {
	f.read("Get-RoleGroupMember " + g)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.members[g], nil
}
func (f *fakeAccess) RemoveRoleGroupMember(_ context.Context, g, m string) error {
	err := f.change("Remove-RoleGroupMember " + g + " " + m)
	if err == nil && !f.sticky {
		f.mu.Lock()
		f.members[g] = slices.DeleteFunc(slices.Clone(f.members[g]), func(x exchange.RoleGroupMember) bool { return x.Guid == m || strings.EqualFold(x.WindowsLiveID, m) })
		f.mu.Unlock()
	}
	return err
}
func (f *fakeAccess) AddRoleGroupMember(_ context.Context, g, m string) error {
	return f.change("Add-RoleGroupMember " + g + " " + m)
}
func (f *fakeAccess) MailboxPermissions(context.Context, string) ([]exchange.MailboxPermission, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.full, nil
}
func (f *fakeAccess) RecipientPermissions(context.Context, string) ([]exchange.RecipientPermission, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sendAs, nil
}
func (f *fakeAccess) RemoveFullAccess(_ context.Context, _, u, inh string) error {
	err := f.change("Remove-MailboxPermission " + u + " " + inh)
	if err == nil && !f.sticky {
		f.mu.Lock()
		f.full = slices.DeleteFunc(slices.Clone(f.full), func(p exchange.MailboxPermission) bool { return !p.IsInherited && !p.Deny && p.User == u })
		f.mu.Unlock()
	}
	return err
}
func (f *fakeAccess) AddFullAccess(_ context.Context, _, u, inh string) error {
	return f.change("Add-MailboxPermission " + u + " " + inh)
}
func (f *fakeAccess) RemoveSendAs(_ context.Context, _, u string) error {
	err := f.change("Remove-RecipientPermission " + u)
	if err == nil && !f.sticky {
		f.mu.Lock()
		f.sendAs = slices.DeleteFunc(slices.Clone(f.sendAs), func(p exchange.RecipientPermission) bool { return !p.IsInherited && p.Trustee == u })
		f.mu.Unlock()
	}
	return err
}
func (f *fakeAccess) AddSendAs(_ context.Context, _, u string) error {
	return f.change("Add-RecipientPermission " + u)
}
func (f *fakeAccess) RemoveSendOnBehalf(_ context.Context, _, d string) error {
	err := f.change("Set-Mailbox remove " + d)
	if err == nil && !f.sticky {
		f.mu.Lock()
		f.mb.GrantSendOnBehalfTo = slices.DeleteFunc(slices.Clone(f.mb.GrantSendOnBehalfTo), func(x string) bool { return x == d })
		f.mu.Unlock()
	}
	return err
}
func (f *fakeAccess) AddSendOnBehalf(_ context.Context, _, d string) error {
	return f.change("Set-Mailbox add " + d)
}

var ownMailboxOfUser = exchange.Mailbox{Identity: "adele", UserPrincipalName: accessUPN, ExternalDirectoryObjectID: accessUserID}

// protocols gives the settings in the order of exchange.MailProtocols; those not given are
// off.
func protocols(states ...exchange.ProtocolState) map[string]exchange.ProtocolState {
	out := map[string]exchange.ProtocolState{}
	for i, name := range exchange.MailProtocols {
		st := off
		if i < len(states) {
			st = states[i]
		}
		st.Inverted = exchange.ProtocolInverted(name)
		out[name] = st
	}
	return out
}

func recordedValue(v *bool) any {
	if v == nil {
		return nil
	}
	return *v
}

var (
	on    = exchange.ProtocolState{Set: true, Enabled: true}
	off   = exchange.ProtocolState{Set: true}
	unset = exchange.ProtocolState{}
)

func runAccess(f Mailboxes, step Name, dryRun bool, record func(context.Context, []runs.Change) error) Outcome {
	r := &Runner{Directory: noDirectory{}, Mailboxes: f, DelegateRecheckWait: time.Millisecond}
	return r.Run(context.Background(), step, Input{Target: Target{ID: accessUserID, UPN: accessUPN}, DryRun: dryRun, Record: record})
}

func TestDisableMailProtocols(t *testing.T) {
	all := protocols(on, on, unset, on, on, off)
	tests := []struct {
		name     string
		f        *fakeAccess
		dryRun   bool
		record   error
		want     runs.StepStatus
		wantCode string
		set      []string
		restores map[string]any // protocol -> recorded value
	}{
		{name: "turns off what is on, null counts as on", f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{Protocols: all}}, want: runs.StepSucceeded,
			set:      []string{"Set-CASMailbox map[ActiveSyncEnabled:false EwsEnabled:false MAPIEnabled:false OWAEnabled:false PopEnabled:false]"},
			restores: map[string]any{"OWAEnabled": true, "MAPIEnabled": true, "EwsEnabled": nil, "ActiveSyncEnabled": true, "PopEnabled": true}},
		{name: "dry run plans and sets nothing", dryRun: true, f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{Protocols: all}}, want: runs.StepPlanned,
			restores: map[string]any{"OWAEnabled": true, "MAPIEnabled": true, "EwsEnabled": nil, "ActiveSyncEnabled": true, "PopEnabled": true}},
		{name: "all off", f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{Protocols: protocols(off, off, off, off, off, off)}}, want: runs.StepNoChange},
		{name: "all off in a dry run", dryRun: true, f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{Protocols: protocols(off, off, off, off, off, off)}}, want: runs.StepNoChange},
		{name: "no mailbox", f: &fakeAccess{mbErr: notFound400("Get-Mailbox"), casErr: notFound400("Get-CASMailbox")}, want: runs.StepNoChange},
		{name: "CAS mailbox not found", f: &fakeAccess{mb: ownMailboxOfUser, casErr: notFound400("Get-CASMailbox")}, want: runs.StepNoChange},
		{name: "another owner", f: &fakeAccess{mb: exchange.Mailbox{ExternalDirectoryObjectID: "99999999-9999-4999-8999-999999999999"}, cas: exchange.CASMailbox{Protocols: all}}, want: runs.StepFailed, wantCode: "mailbox_mismatch"},
		{name: "Get-CASMailbox resolved another object", f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{ExternalDirectoryObjectID: "99999999-9999-4999-8999-999999999999", Protocols: all}}, want: runs.StepFailed, wantCode: "mailbox_mismatch"},
		{name: "mailbox gone before Set-CASMailbox", f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{Protocols: all}, changeErr: notFound400("Set-CASMailbox")}, want: runs.StepNoChange,
			set: []string{"Set-CASMailbox map[ActiveSyncEnabled:false EwsEnabled:false MAPIEnabled:false OWAEnabled:false PopEnabled:false]"}},
		{name: "Outlook mobile, Mac and SMTP AUTH (inverted) too", f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{Protocols: map[string]exchange.ProtocolState{
			"OWAEnabled": off, "MAPIEnabled": off, "EwsEnabled": off, "ActiveSyncEnabled": off, "PopEnabled": off, "ImapEnabled": off,
			"OutlookMobileEnabled": on, "MacOutlookEnabled": on, "SmtpClientAuthenticationDisabled": {Inverted: true}}}}, want: runs.StepSucceeded,
			set:      []string{"Set-CASMailbox map[MacOutlookEnabled:false OutlookMobileEnabled:false SmtpClientAuthenticationDisabled:true]"},
			restores: map[string]any{"OutlookMobileEnabled": true, "MacOutlookEnabled": true, "SmtpClientAuthenticationDisabled": nil}},
		{name: "SMTP AUTH explicitly enabled (false) is recorded false", f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{Protocols: protocols(off, off, off, off, off, off, off, off, on)}}, want: runs.StepSucceeded,
			set:      []string{"Set-CASMailbox map[SmtpClientAuthenticationDisabled:true]"},
			restores: map[string]any{"SmtpClientAuthenticationDisabled": false}},
		{name: "EWS blocked for the organisation: the mailbox's null is not on", f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{Protocols: protocols(off, off, unset)}, org: exchange.OrganizationConfig{EwsEnabled: new(bool)}},
			want: runs.StepNoChange},
		{name: "organisation unreadable: EWS judged on the mailbox", f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{Protocols: protocols(off, off, unset)}, orgErr: errors.New("403")},
			want: runs.StepSucceeded, set: []string{"Set-CASMailbox map[EwsEnabled:false]"}, restores: map[string]any{"EwsEnabled": nil}},
		{name: "evidence not recorded: nothing set", record: errors.New("store down"), f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{Protocols: all}}, want: runs.StepFailed, wantCode: "evidence_not_recorded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recorded := 0
			out := runAccess(tt.f, DisableMailProtocols, tt.dryRun, func(_ context.Context, c []runs.Change) error { recorded += len(c); return tt.record })
			if out.Status != tt.want || !reflect.DeepEqual(tt.f.changes, tt.set) {
				t.Fatalf("status %s %+v, calls %v; want %s, %v", out.Status, out.Error, tt.f.changes, tt.want, tt.set)
			}
			if tt.wantCode != "" && (out.Error == nil || out.Error.Code != tt.wantCode) {
				t.Errorf("error %+v, want %s", out.Error, tt.wantCode)
			}
			if tt.restores == nil {
				return
			}
			got := map[string]any{}
			for _, c := range out.Changes {
				g := c.Restore.(ExchangeGrant)
				got[g.Protocol] = recordedValue(g.Value)
			}
			if !reflect.DeepEqual(got, tt.restores) || (!tt.dryRun && recorded != len(tt.restores)) {
				t.Errorf("restore values %v (recorded %d), want %v", got, recorded, tt.restores)
			}
		})
	}
}

func TestRemoveExchangeRoleGroupsMatchesTheUserByObjectID(t *testing.T) {
	const orgMgmt, recipMgmt, helpDesk, compliance = "aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002", "aaaaaaaa-0000-4000-8000-000000000003", "aaaaaaaa-0000-4000-8000-000000000004"
	adele := exchange.RoleGroupMember{Name: "adele", Guid: "bbbbbbbb-0000-4000-8000-000000000001", ExternalDirectoryObjectID: accessUserID, WindowsLiveID: accessUPN}
	f := &fakeAccess{
		groups: []exchange.RoleGroup{
			{Name: "Organization Management", Guid: orgMgmt, Members: []string{"adele", "megan"}},
			{Name: "Recipient Management", Guid: recipMgmt},
			{Name: "Help Desk", Guid: helpDesk, Members: []string{}},
			{Name: "Compliance Management", Guid: compliance},
			// No GUID in the listing: never asked by name, named unreadable instead.
			{Name: "Records Management", Members: []string{"adele"}},
		},
		members: map[string][]exchange.RoleGroupMember{
			orgMgmt: {{Name: "megan", Guid: "bbbbbbbb-0000-4000-8000-000000000002", ExternalDirectoryObjectID: "22222222-2222-4222-8222-222222222222"}, adele},
			// A recycled UPN on another object: not the run's user.
			recipMgmt: {{Name: "adele2", Guid: "bbbbbbbb-0000-4000-8000-000000000003", ExternalDirectoryObjectID: "99999999-9999-4999-8999-999999999999", WindowsLiveID: accessUPN}},
			// A member shown without an object id is matched by UPN, and named by UPN when it has no GUID.
			compliance: {{Name: "adele", WindowsLiveID: strings.ToUpper(accessUPN)}},
		},
	}
	out := runAccess(f, RemoveExchangeRoleGroups, false, nil)
	want := []string{"Remove-RoleGroupMember " + orgMgmt + " " + adele.Guid, "Remove-RoleGroupMember " + compliance + " " + accessUPN}
	if out.Status != runs.StepActionRequired || len(out.Changes) != 3 || !sameSet(f.changes, want) || out.Changes[2].Action != "role_group_unreadable" || !strings.Contains(out.Message, "Records Management") {
		t.Fatalf("status %s, changes %+v, calls %v; want %v and Records Management unreadable", out.Status, out.Changes, f.changes, want)
	}
	for _, r := range f.reads {
		if strings.Contains(r, helpDesk) {
			t.Error("an empty group was asked for its members")
		}
		if strings.Contains(r, "Records Management") {
			t.Error("a group was asked for its members by name")
		}
	}
	f.groups = f.groups[:4]
	g := out.Changes[0].Restore.(ExchangeGrant)
	if g.Kind != GrantRoleGroup || g.Group != orgMgmt || g.Member != adele.Guid || out.Changes[0].Target != "Organization Management" {
		t.Errorf("restore = %+v", g)
	}

	// "Isn't a member" while a fresh listing still shows the user: Exchange did not resolve the
	// member as named, which is a failure, not "already gone".
	f.changes, f.changeErr = nil, &exchange.Error{Cmdlet: "Remove-RoleGroupMember", Status: 400, Code: "BadRequest",
		Type: "Microsoft.Exchange.Management.Tasks.MemberNotFoundException", Message: `The recipient "x" isn't a member of the group "y".`}
	f.members[orgMgmt] = append(f.members[orgMgmt], adele)
	if out := runAccess(f, RemoveExchangeRoleGroups, false, nil); out.Status != runs.StepFailed || out.Error.Code != "not_removed" || len(out.Changes) != 0 {
		t.Errorf("not found but still listed: %+v", out)
	}
	// Removed meanwhile (the listing no longer shows the user afterwards): already gone.
	f.sticky = true
	removeOnce := map[string]bool{}
	f.members = map[string][]exchange.RoleGroupMember{orgMgmt: {adele}}
	out = runAccess(&goneMeanwhile{fakeAccess: f, gone: removeOnce}, RemoveExchangeRoleGroups, false, nil)
	if out.Status != runs.StepNoChange || !strings.Contains(out.Message, "already gone") {
		t.Errorf("removal not found: %+v", out)
	}
	f.members = nil
	if out := runAccess(f, RemoveExchangeRoleGroups, false, nil); out.Status != runs.StepNoChange || !strings.Contains(out.Message, "none of the 4") {
		t.Errorf("not a member: %+v", out)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestRemoveMailboxDelegatesLeavesSelfInheritedAndDenyAlone(t *testing.T) {
	mb := ownMailboxOfUser
	mb.GrantSendOnBehalfTo = []string{"lee", accessUPN}
	seed := func() *fakeAccess {
		return &fakeAccess{
			mb: mb,
			full: []exchange.MailboxPermission{
				{User: exchange.SelfPrincipal, AccessRights: []string{"FullAccess", "ReadPermission"}, InheritanceType: "All"},
				{User: `NT AUTHORITY\SYSTEM`, AccessRights: []string{"FullAccess"}},
				{User: `NAMPR01A001\Domain Admins`, AccessRights: []string{"FullAccess"}, Deny: true, IsInherited: true},
				{User: `NAMPR01A001\Exchange Servers`, AccessRights: []string{"FullAccess"}, IsInherited: true},
				{User: "megan@contoso.example", AccessRights: []string{"FullAccess"}, Deny: true, InheritanceType: "All"},
				{User: "reader@contoso.example", AccessRights: []string{"ReadPermission"}, InheritanceType: "All"},
				{User: accessUPN, AccessRights: []string{"FullAccess"}, InheritanceType: "All"},
				{User: "lee@contoso.example", AccessRights: []string{"FullAccess, ReadPermission"}, InheritanceType: "SelfAndChildren", Raw: map[string]any{"User": "lee@contoso.example"}},
			},
			sendAs: []exchange.RecipientPermission{
				{Trustee: exchange.SelfPrincipal, AccessControlType: "Allow", AccessRights: []string{"SendAs"}},
				{Trustee: "inherited@contoso.example", AccessControlType: "Allow", AccessRights: []string{"SendAs"}, IsInherited: true},
				{Trustee: "denied@contoso.example", AccessControlType: "Deny", AccessRights: []string{"SendAs"}},
				{Trustee: "lee@contoso.example", AccessControlType: "Allow", AccessRights: []string{"SendAs"}},
			},
		}
	}
	f := seed()
	out := runAccess(f, RemoveMailboxDelegates, false, nil)
	want := []string{"Remove-MailboxPermission lee@contoso.example SelfAndChildren", "Remove-RecipientPermission lee@contoso.example", "Set-Mailbox remove lee"}
	if out.Status != runs.StepSucceeded || len(out.Changes) != 3 || !sameSet(f.changes, want) {
		t.Fatalf("status %s %+v, calls %v; want %v", out.Status, out.Error, f.changes, want)
	}
	kinds := map[string]ExchangeGrant{}
	for _, c := range out.Changes {
		g := c.Restore.(ExchangeGrant)
		kinds[g.Kind] = g
		if c.Before == nil {
			t.Errorf("%s has no evidence", c.Target)
		}
	}
	if kinds[GrantFullAccess].InheritanceType != "SelfAndChildren" || kinds[GrantSendAs].Trustee != "lee@contoso.example" || kinds[GrantSendOnBehalf].Trustee != "lee" {
		t.Errorf("restore payloads %+v", kinds)
	}

	// Dry run: planned, nothing removed.
	f = seed()
	if out := runAccess(f, RemoveMailboxDelegates, true, nil); out.Status != runs.StepPlanned || len(out.Changes) != 3 || len(f.changes) != 0 {
		t.Errorf("dry run %s, %d changes, calls %v", out.Status, len(out.Changes), f.changes)
	}
	// Only SELF and inherited entries: nothing to do.
	f.full, f.sendAs, f.mb.GrantSendOnBehalfTo = f.full[:4], f.sendAs[:2], nil
	if out := runAccess(f, RemoveMailboxDelegates, false, nil); out.Status != runs.StepNoChange || len(f.changes) != 0 {
		t.Errorf("clean mailbox: %+v, calls %v", out, f.changes)
	}
	// Another owner: nothing read is acted on.
	f.mb.ExternalDirectoryObjectID = "99999999-9999-4999-8999-999999999999"
	if out := runAccess(f, RemoveMailboxDelegates, false, nil); out.Status != runs.StepFailed || out.Error.Code != "mailbox_mismatch" {
		t.Errorf("another owner: %+v", out)
	}
	f.mbErr = notFound400("Get-Mailbox")
	if out := runAccess(f, RemoveMailboxDelegates, false, nil); out.Status != runs.StepNoChange || !strings.Contains(out.Message, "no Exchange Online mailbox") {
		t.Errorf("no mailbox: %+v", out)
	}
}

func TestRestoreExchangeAccess(t *testing.T) {
	user := runs.UserRef{ID: accessUserID, UserPrincipalName: accessUPN}
	tru := true
	tests := []struct {
		name   string
		step   Name
		grant  ExchangeGrant
		f      *fakeAccess
		result string
		calls  []string
		err    string
	}{
		{name: "protocol back to true", step: DisableMailProtocols, grant: ExchangeGrant{Kind: GrantProtocol, Mailbox: accessUPN, Protocol: "OWAEnabled", Value: &tru},
			f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{Protocols: protocols(off, off, off, off, off, off)}}, result: "restored", calls: []string{"Set-CASMailbox map[OWAEnabled:true]"}},
		// Set-CASMailbox documents only $true/$false for EwsEnabled: a recorded null goes back as
		// true, which has null's effect (the organisation's EwsEnabled still decides).
		{name: "EwsEnabled back from null", step: DisableMailProtocols, grant: ExchangeGrant{Kind: GrantProtocol, Mailbox: accessUPN, Protocol: "EwsEnabled"},
			f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{Protocols: protocols(off, off, off, off, off, off)}}, result: "restored", calls: []string{"Set-CASMailbox map[EwsEnabled:true]"}},
		{name: "EwsEnabled null already back as true", step: DisableMailProtocols, grant: ExchangeGrant{Kind: GrantProtocol, Mailbox: accessUPN, Protocol: "EwsEnabled"},
			f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{Protocols: protocols(off, off, on, off, off, off)}}, result: "already_present"},
		// SMTP AUTH takes $null: back to the organisation's setting, exactly as recorded.
		{name: "SMTP AUTH back to null", step: DisableMailProtocols, grant: ExchangeGrant{Kind: GrantProtocol, Mailbox: accessUPN, Protocol: "SmtpClientAuthenticationDisabled"},
			f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{Protocols: protocols()}}, result: "restored", calls: []string{"Set-CASMailbox map[SmtpClientAuthenticationDisabled:<nil>]"}},
		{name: "SMTP AUTH back to false (enabled)", step: DisableMailProtocols, grant: ExchangeGrant{Kind: GrantProtocol, Mailbox: accessUPN, Protocol: "SmtpClientAuthenticationDisabled", Value: new(bool)},
			f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{Protocols: protocols()}}, result: "restored", calls: []string{"Set-CASMailbox map[SmtpClientAuthenticationDisabled:false]"}},
		{name: "protocol already null", step: DisableMailProtocols, grant: ExchangeGrant{Kind: GrantProtocol, Mailbox: accessUPN, Protocol: "EwsEnabled"},
			f: &fakeAccess{mb: ownMailboxOfUser, cas: exchange.CASMailbox{Protocols: protocols(off, off, unset, off, off, off)}}, result: "already_present"},
		{name: "protocol on a mailbox now someone else's", step: DisableMailProtocols, grant: ExchangeGrant{Kind: GrantProtocol, Mailbox: accessUPN, Protocol: "OWAEnabled", Value: &tru},
			f: &fakeAccess{mb: exchange.Mailbox{ExternalDirectoryObjectID: "99999999-9999-4999-8999-999999999999"}}, err: "not the user"},
		{name: "role group", step: RemoveExchangeRoleGroups, grant: ExchangeGrant{Kind: GrantRoleGroup, Group: "g1", GroupName: "Organization Management", Member: "bbbbbbbb-0000-4000-8000-000000000001"},
			f: &fakeAccess{}, result: "restored", calls: []string{"Add-RoleGroupMember g1 " + accessUPN}},
		// A record whose member was edited (or that named an object since renamed) still puts
		// back only the run's own user, resolved by object id.
		{name: "role group naming another member", step: RemoveExchangeRoleGroups, grant: ExchangeGrant{Kind: GrantRoleGroup, Group: "g1", GroupName: "Organization Management", Member: "attacker@evil.example"},
			f: &fakeAccess{}, result: "restored", calls: []string{"Add-RoleGroupMember g1 " + accessUPN}},
		{name: "role group already", step: RemoveExchangeRoleGroups, grant: ExchangeGrant{Kind: GrantRoleGroup, Group: "g1", Member: "x@contoso.example"},
			f: &fakeAccess{members: map[string][]exchange.RoleGroupMember{"g1": {{ExternalDirectoryObjectID: accessUserID}}}}, result: "already_present"},
		{name: "role group added meanwhile", step: RemoveExchangeRoleGroups, grant: ExchangeGrant{Kind: GrantRoleGroup, Group: "g1", Member: "x@contoso.example"},
			f: &fakeAccess{changeErr: &exchange.Error{Status: 400, Type: "Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException", Message: "is already a member"}}, result: "already_present", calls: []string{"Add-RoleGroupMember g1 " + accessUPN}},
		{name: "full access", step: RemoveMailboxDelegates, grant: ExchangeGrant{Kind: GrantFullAccess, Mailbox: accessUPN, Trustee: "lee@contoso.example", InheritanceType: "All"},
			f: &fakeAccess{mb: ownMailboxOfUser, full: []exchange.MailboxPermission{{User: "lee@contoso.example", AccessRights: []string{"FullAccess"}, IsInherited: true}}}, result: "restored", calls: []string{"Add-MailboxPermission lee@contoso.example All"}},
		{name: "send as already", step: RemoveMailboxDelegates, grant: ExchangeGrant{Kind: GrantSendAs, Mailbox: accessUPN, Trustee: "lee@contoso.example"},
			f: &fakeAccess{mb: ownMailboxOfUser, sendAs: []exchange.RecipientPermission{{Trustee: "LEE@contoso.example", AccessControlType: "Allow", AccessRights: []string{"SendAs"}}}}, result: "already_present"},
		{name: "send on behalf", step: RemoveMailboxDelegates, grant: ExchangeGrant{Kind: GrantSendOnBehalf, Mailbox: accessUPN, Trustee: "lee"},
			f: &fakeAccess{mb: ownMailboxOfUser}, result: "restored", calls: []string{"Set-Mailbox add lee"}},
		{name: "a kind the step never recorded", step: DisableMailProtocols, grant: ExchangeGrant{Kind: GrantSendAs, Mailbox: accessUPN, Trustee: "lee"},
			f: &fakeAccess{mb: ownMailboxOfUser}, err: "not one disable-mail-protocols made"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Runner{Directory: oneUser{u: graph.User{ID: accessUserID, UserPrincipalName: accessUPN, AccountEnabled: true}}, Mailboxes: tt.f}
			got, err := r.Restore(context.Background(), tt.step, user, runs.Change{Action: "x", Target: "t", Restore: tt.grant}, "run r1")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || len(tt.f.changes) != 0 {
					t.Fatalf("error %v, calls %v; want %q and no change", err, tt.f.changes, tt.err)
				}
				return
			}
			if err != nil || len(got) != 1 || got[0].Action != tt.result || !reflect.DeepEqual(tt.f.changes, tt.calls) {
				t.Fatalf("got %+v, %v, calls %v; want %s, %v", got, err, tt.f.changes, tt.result, tt.calls)
			}
		})
	}
}

// goneMeanwhile lists the user until the first removal, which answers not-found: somebody
// else removed the membership between the listing and the removal.
type goneMeanwhile struct {
	*fakeAccess
	gone map[string]bool
}

func (g *goneMeanwhile) RoleGroupMembers(ctx context.Context, group string) ([]exchange.RoleGroupMember, error) {
	if g.gone[group] {
		return nil, nil
	}
	return g.fakeAccess.RoleGroupMembers(ctx, group)
}

func (g *goneMeanwhile) RemoveRoleGroupMember(ctx context.Context, group, m string) error {
	g.gone[group] = true
	return g.fakeAccess.RemoveRoleGroupMember(ctx, group, m)
}

func TestRemoveMailboxDelegatesChecksTheGrantsAreGone(t *testing.T) {
	mb := ownMailboxOfUser
	mb.GrantSendOnBehalfTo = []string{"lee"}
	f := &fakeAccess{mb: mb, sticky: true,
		full:   []exchange.MailboxPermission{{User: "lee@contoso.example", AccessRights: []string{"FullAccess"}, InheritanceType: "All"}},
		sendAs: []exchange.RecipientPermission{{Trustee: "lee@contoso.example", AccessControlType: "Allow", AccessRights: []string{"SendAs"}}},
	}
	out := runAccess(f, RemoveMailboxDelegates, false, nil)
	if out.Status != runs.StepFailed || out.Error == nil || out.Error.Code != "not_removed" || len(out.Changes) != 0 || len(f.changes) != 3 {
		t.Fatalf("removals Exchange accepted but did not make: %+v, calls %v", out, f.changes)
	}
}

// Each Exchange containment step hands its evidence to Record before its first change, and
// changes nothing when the evidence cannot be recorded.
func TestExchangeContainmentRecordsBeforeActing(t *testing.T) {
	seed := func() *fakeAccess {
		mb := ownMailboxOfUser
		mb.GrantSendOnBehalfTo = []string{"lee"}
		return &fakeAccess{
			mb: mb, cas: exchange.CASMailbox{Protocols: protocols(on, on, on, on, on, on)},
			groups:  []exchange.RoleGroup{{Name: "Organization Management", Guid: "aaaaaaaa-0000-4000-8000-000000000001"}},
			members: map[string][]exchange.RoleGroupMember{"aaaaaaaa-0000-4000-8000-000000000001": {{Guid: "bbbbbbbb-0000-4000-8000-000000000001", ExternalDirectoryObjectID: accessUserID}}},
			full:    []exchange.MailboxPermission{{User: "lee@contoso.example", AccessRights: []string{"FullAccess"}, InheritanceType: "All"}},
		}
	}
	for step, n := range map[Name]int{DisableMailProtocols: 6, RemoveExchangeRoleGroups: 1, RemoveMailboxDelegates: 2} {
		t.Run(string(step), func(t *testing.T) {
			f := seed()
			changesAtRecord := -1
			out := runAccess(f, step, false, func(_ context.Context, planned []runs.Change) error {
				changesAtRecord = len(f.changes)
				if len(planned) != n {
					t.Errorf("recorded %d changes, want %d", len(planned), n)
				}
				return nil
			})
			if out.Status != runs.StepSucceeded || changesAtRecord != 0 || len(f.changes) == 0 {
				t.Fatalf("status %s, changes made before the record %d, after %v", out.Status, changesAtRecord, f.changes)
			}
			f = seed()
			out = runAccess(f, step, false, func(context.Context, []runs.Change) error { return errors.New("store down") })
			if out.Status != runs.StepFailed || !out.Transient || out.Error.Code != "evidence_not_recorded" || len(f.changes) != 0 {
				t.Fatalf("unrecorded evidence: %+v, calls %v", out, f.changes)
			}
		})
	}
}

// oneUser is a directory that knows one user, by object id.
type oneUser struct {
	Directory
	u graph.User
}

func (d oneUser) GetUser(_ context.Context, id string) (graph.User, error) {
	if strings.EqualFold(id, d.u.ID) {
		return d.u, nil
	}
	return graph.User{}, &graph.Error{Status: 404, Code: "Request_ResourceNotFound", Message: "not found"}
}
