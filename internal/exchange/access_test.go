package exchange

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestGetCASMailboxReadsEveryProtocolShape(t *testing.T) {
	tests := []struct {
		name     string
		answer   answer
		want     map[string]ProtocolState
		wantCode string
		notFound bool
	}{
		{name: "booleans, strings, numbers, null and absent",
			answer: ok(`{"Identity":"jdoe","PrimarySmtpAddress":"jdoe@contoso.com","ExternalDirectoryObjectId":"11111111-1111-4111-8111-111111111111",
				"OWAEnabled":true,"MAPIEnabled":"False","EwsEnabled":null,"ActiveSyncEnabled":1,"ImapEnabled":false}`),
			want: map[string]ProtocolState{"OWAEnabled": {Set: true, Enabled: true}, "MAPIEnabled": {Set: true}, "EwsEnabled": {},
				"ActiveSyncEnabled": {Set: true, Enabled: true}, "PopEnabled": {}, "ImapEnabled": {Set: true},
				"OutlookMobileEnabled": {}, "MacOutlookEnabled": {}, "SmtpClientAuthenticationDisabled": {Inverted: true}}},
		{name: "SMTP AUTH is inverted", answer: ok(`{"OWAEnabled":true,"OutlookMobileEnabled":true,"MacOutlookEnabled":false,"SmtpClientAuthenticationDisabled":false}`),
			want: map[string]ProtocolState{"OWAEnabled": {Set: true, Enabled: true}, "MAPIEnabled": {}, "EwsEnabled": {}, "ActiveSyncEnabled": {}, "PopEnabled": {}, "ImapEnabled": {},
				"OutlookMobileEnabled": {Set: true, Enabled: true}, "MacOutlookEnabled": {Set: true}, "SmtpClientAuthenticationDisabled": {Set: true, Enabled: true, Inverted: true}}},
		{name: "names in another case", answer: ok(`{"owaenabled":false,"mapienabled":false,"ewsenabled":false,"activesyncenabled":false,"popenabled":false,"imapenabled":false}`),
			want: map[string]ProtocolState{"OWAEnabled": {Set: true}, "MAPIEnabled": {Set: true}, "EwsEnabled": {Set: true},
				"ActiveSyncEnabled": {Set: true}, "PopEnabled": {Set: true}, "ImapEnabled": {Set: true},
				"OutlookMobileEnabled": {}, "MacOutlookEnabled": {}, "SmtpClientAuthenticationDisabled": {Inverted: true}}},
		{name: "an unreadable protocol value fails the read", answer: ok(`{"OWAEnabled":"sometimes"}`), wantCode: "InvalidResponse"},
		{name: "no mailbox", answer: fail(404, "NotFound", "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be performed because object 'jdoe@contoso.com' couldn't be found on 'X'."), wantCode: "NotFound", notFound: true},
		{name: "empty answer", answer: ok(), wantCode: "NotFound", notFound: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestClient(t, func(int, call) answer { return tt.answer })
			got, err := s.client.GetCASMailbox(context.Background(), upn)
			c := s.fake.onlyCall()
			if c.Cmdlet != "Get-CASMailbox" || c.Anchor != "UPN:"+upn || !reflect.DeepEqual(c.Params, map[string]any{"Identity": upn}) {
				t.Errorf("call = %+v", c)
			}
			if tt.wantCode != "" {
				if e := asError(t, err); e.Code != tt.wantCode || IsNotFound(err) != tt.notFound {
					t.Errorf("error %v, IsNotFound %v", err, IsNotFound(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Protocols, tt.want) {
				t.Errorf("protocols = %+v\nwant        %+v", got.Protocols, tt.want)
			}
		})
	}
}

func TestProtocolStateCountsNullAsOn(t *testing.T) {
	if !(ProtocolState{}).On() || (ProtocolState{Set: true}).On() || !(ProtocolState{Set: true, Enabled: true}).On() {
		t.Error("On is wrong")
	}
	if (ProtocolState{}).Value() != nil || (ProtocolState{Set: true}).Value() != false {
		t.Error("Value is wrong")
	}
	// SMTP AUTH is inverted: the property's true is off.
	smtp := ProtocolState{Set: true, Inverted: true}
	if smtp.On() || smtp.Value() != true || ProtocolRestoreValue("SmtpClientAuthenticationDisabled", nil) != nil ||
		ProtocolRestoreValue("EwsEnabled", nil) != true || ProtocolOffValue("SmtpClientAuthenticationDisabled") != true || ProtocolOffValue("MacOutlookEnabled") != false {
		t.Error("SMTP AUTH inversion or restore values are wrong")
	}
}

func TestSetMailProtocolsSendsBooleansAndNull(t *testing.T) {
	s := newTestClient(t, func(int, call) answer { return ok() })
	err := s.client.SetMailProtocols(context.Background(), upn, map[string]any{"OWAEnabled": false, "SmtpClientAuthenticationDisabled": nil})
	if err != nil {
		t.Fatal(err)
	}
	c := s.fake.onlyCall()
	if c.Cmdlet != "Set-CASMailbox" || !reflect.DeepEqual(c.Params, map[string]any{"Identity": upn, "OWAEnabled": false, "SmtpClientAuthenticationDisabled": nil}) {
		t.Errorf("call = %+v", c)
	}
	for _, bad := range []map[string]any{{}, {"ECPEnabled": false}, {"OWAEnabled": "false"}, {"EwsEnabled": nil}, {"OWAEnabled": nil}} {
		if err := s.client.SetMailProtocols(context.Background(), upn, bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("SetMailProtocols(%v) = %v, want ErrInvalidArgument", bad, err)
		}
	}
}

func TestRoleGroupsListsEveryGroupWithItsMembersProperty(t *testing.T) {
	s := newTestClient(t, func(int, call) answer {
		return ok(
			`{"Identity":"Organization Management","Name":"Organization Management","Guid":"aaaaaaaa-0000-4000-8000-000000000001","Members":["adele","megan"]}`,
			`{"Name":"Help Desk","ExchangeObjectId":"aaaaaaaa-0000-4000-8000-000000000002","Members":[]}`,
			`{"Name":"Compliance Management","Guid":null}`,
		)
	})
	groups, err := s.client.RoleGroups(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := s.fake.onlyCall()
	if c.Cmdlet != "Get-RoleGroup" || !strings.HasPrefix(c.Anchor, "APP:") || !reflect.DeepEqual(c.Params, map[string]any{"ResultSize": "Unlimited"}) {
		t.Errorf("call = %+v", c)
	}
	if len(groups) != 3 {
		t.Fatalf("groups = %+v", groups)
	}
	if g := groups[0]; g.ID() != "aaaaaaaa-0000-4000-8000-000000000001" || !reflect.DeepEqual(g.Members, []string{"adele", "megan"}) {
		t.Errorf("group 0 = %+v", g)
	}
	if g := groups[1]; g.ID() != "aaaaaaaa-0000-4000-8000-000000000002" || g.Members == nil || len(g.Members) != 0 {
		t.Errorf("group 1 (empty Members, GUID only as ExchangeObjectId) = %+v", g)
	}
	if g := groups[2]; g.ID() != "Compliance Management" || g.Members != nil {
		t.Errorf("group 2 (no GUID, no Members) = %+v", g)
	}
}

func TestRoleGroupMemberCalls(t *testing.T) {
	s := newTestClient(t, func(_ int, c call) answer {
		if c.Cmdlet == "Get-RoleGroupMember" {
			return ok(`{"Identity":"adele","Name":"adele","Guid":"bbbbbbbb-0000-4000-8000-000000000001","ExternalDirectoryObjectId":"11111111-1111-4111-8111-111111111111","WindowsLiveID":"adele@contoso.com","RecipientType":"User","PrimarySmtpAddress":""}`)
		}
		return ok()
	})
	ctx := context.Background()
	members, err := s.client.RoleGroupMembers(ctx, "aaaaaaaa-0000-4000-8000-000000000001")
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || members[0].Guid != "bbbbbbbb-0000-4000-8000-000000000001" || members[0].ExternalDirectoryObjectID != "11111111-1111-4111-8111-111111111111" || members[0].WindowsLiveID != "adele@contoso.com" {
		t.Errorf("members = %+v", members)
	}
	if err := s.client.RemoveRoleGroupMember(ctx, "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000001"); err != nil {
		t.Fatal(err)
	}
	if err := s.client.AddRoleGroupMember(ctx, "Organization Management", "adele@contoso.com"); err != nil {
		t.Fatal(err)
	}
	calls := s.fake.recorded()
	want := []map[string]any{
		{"Identity": "aaaaaaaa-0000-4000-8000-000000000001", "ResultSize": "Unlimited"},
		{"Identity": "aaaaaaaa-0000-4000-8000-000000000001", "Member": "bbbbbbbb-0000-4000-8000-000000000001", "BypassSecurityGroupManagerCheck": true, "Confirm": false},
		{"Identity": "Organization Management", "Member": "adele@contoso.com", "BypassSecurityGroupManagerCheck": true, "Confirm": false},
	}
	for i, c := range calls {
		if !reflect.DeepEqual(c.Params, want[i]) {
			t.Errorf("call %d %s params %v, want %v", i, c.Cmdlet, c.Params, want[i])
		}
	}
	for _, bad := range [][2]string{{"", "adele@contoso.com"}, {"Org\nManagement", "adele@contoso.com"}, {"Organization Management", "adele"}, {"Organization Management", "a;b@c"}} {
		if err := s.client.RemoveRoleGroupMember(ctx, bad[0], bad[1]); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("RemoveRoleGroupMember(%q, %q) = %v", bad[0], bad[1], err)
		}
	}
	// Get-RoleGroupMember by name is refused: an Identity that does not resolve may make a
	// Get- cmdlet answer every object.
	if _, err := s.client.RoleGroupMembers(ctx, "Organization Management"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("RoleGroupMembers by name = %v", err)
	}
	if len(s.fake.recorded()) != 3 {
		t.Error("a refused call reached Exchange")
	}
}

func TestMailboxPermissionsDecodeRightsInEitherForm(t *testing.T) {
	s := newTestClient(t, func(_ int, c call) answer {
		if c.Cmdlet == "Get-RecipientPermission" {
			return ok(`{"Identity":"jdoe","Trustee":"NT AUTHORITY\\SELF","AccessControlType":"Allow","AccessRights":["SendAs"],"IsInherited":false}`,
				`{"Identity":"jdoe","Trustee":"mallory@contoso.com","AccessControlType":"Allow","AccessRights":"SendAs","IsInherited":"False"}`)
		}
		return ok(`{"Identity":"jdoe","User":"NT AUTHORITY\\SELF","AccessRights":["FullAccess","ReadPermission"],"IsInherited":false,"Deny":false,"InheritanceType":"All"}`,
			`{"Identity":"jdoe","User":"mallory@contoso.com","AccessRights":"FullAccess, ReadPermission","IsInherited":"False","Deny":"False","InheritanceType":"All"}`,
			`{"Identity":"jdoe","User":"NAMPR01A001\\Domain Admins","AccessRights":["FullAccess"],"IsInherited":true,"Deny":true}`)
	})
	ctx := context.Background()
	full, err := s.client.MailboxPermissions(ctx, upn)
	if err != nil {
		t.Fatal(err)
	}
	if len(full) != 3 || !full[1].Has("FullAccess") || !full[1].Has("readpermission") || full[1].Has("SendAs") || full[1].IsInherited ||
		!full[2].IsInherited || !full[2].Deny || full[0].User != SelfPrincipal || !IsSystemPrincipal(full[0].User) || IsSystemPrincipal(full[2].User) {
		t.Errorf("permissions = %+v", full)
	}
	sendAs, err := s.client.RecipientPermissions(ctx, upn)
	if err != nil {
		t.Fatal(err)
	}
	if len(sendAs) != 2 || !sendAs[1].Has("SendAs") || sendAs[1].Trustee != "mallory@contoso.com" || sendAs[1].AccessControlType != "Allow" {
		t.Errorf("SendAs = %+v", sendAs)
	}
	for _, c := range s.fake.recorded() {
		if !reflect.DeepEqual(c.Params, map[string]any{"Identity": upn, "ResultSize": "Unlimited"}) {
			t.Errorf("%s params %v", c.Cmdlet, c.Params)
		}
	}
}

func TestMailboxPermissionsRefuseAnUnreadableInheritedFlag(t *testing.T) {
	// Whether an entry is inherited decides whether it is removed: no guessing.
	s := newTestClient(t, func(int, call) answer {
		return ok(`{"User":"mallory@contoso.com","AccessRights":["FullAccess"],"IsInherited":"perhaps"}`)
	})
	if _, err := s.client.MailboxPermissions(context.Background(), upn); asError(t, err).Code != "InvalidResponse" {
		t.Errorf("error = %v", err)
	}
}

func TestDelegateChangesSendTheDocumentedParameters(t *testing.T) {
	s := newTestClient(t, func(int, call) answer { return ok() })
	ctx := context.Background()
	for _, err := range []error{
		s.client.RemoveFullAccess(ctx, upn, "mallory@contoso.com", ""),
		s.client.AddFullAccess(ctx, upn, "mallory@contoso.com", "SelfAndChildren"),
		s.client.RemoveSendAs(ctx, upn, "mallory@contoso.com"),
		s.client.AddSendAs(ctx, upn, "mallory@contoso.com"),
		s.client.RemoveSendOnBehalf(ctx, upn, "Mallory Jones"),
		s.client.AddSendOnBehalf(ctx, upn, "mallory"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []struct {
		cmdlet string
		params map[string]any
	}{
		{"Remove-MailboxPermission", map[string]any{"Identity": upn, "User": "mallory@contoso.com", "AccessRights": []any{"FullAccess"}, "InheritanceType": "All", "Confirm": false}},
		{"Add-MailboxPermission", map[string]any{"Identity": upn, "User": "mallory@contoso.com", "AccessRights": []any{"FullAccess"}, "InheritanceType": "SelfAndChildren"}},
		{"Remove-RecipientPermission", map[string]any{"Identity": upn, "Trustee": "mallory@contoso.com", "AccessRights": []any{"SendAs"}, "Confirm": false}},
		{"Add-RecipientPermission", map[string]any{"Identity": upn, "Trustee": "mallory@contoso.com", "AccessRights": []any{"SendAs"}, "Confirm": false}},
		{"Set-Mailbox", map[string]any{"Identity": upn, "Confirm": false, "GrantSendOnBehalfTo": map[string]any{"@odata.type": "#Exchange.GenericHashTable", "remove": []any{"Mallory Jones"}}}},
		{"Set-Mailbox", map[string]any{"Identity": upn, "Confirm": false, "GrantSendOnBehalfTo": map[string]any{"@odata.type": "#Exchange.GenericHashTable", "add": []any{"mallory"}}}},
	}
	calls := s.fake.recorded()
	if len(calls) != len(want) {
		t.Fatalf("%d calls", len(calls))
	}
	for i, c := range calls {
		if c.Cmdlet != want[i].cmdlet || !reflect.DeepEqual(c.Params, want[i].params) || c.Anchor != "UPN:"+upn {
			t.Errorf("call %d = %s %v (anchor %s)\nwant %s %v", i, c.Cmdlet, c.Params, c.Anchor, want[i].cmdlet, want[i].params)
		}
	}
	for _, err := range []error{
		s.client.RemoveFullAccess(ctx, upn, "mallory@contoso.com", "Everything"),
		s.client.RemoveSendAs(ctx, upn, "mall\x00ory"),
		s.client.RemoveSendOnBehalf(ctx, "not an address", "mallory"),
		s.client.AddSendOnBehalf(ctx, upn, strings.Repeat("m", 300)),
	} {
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("error = %v, want ErrInvalidArgument", err)
		}
	}
}

// Get-Recipient is sent only a GUID or an SMTP address, and an answer of more than one
// recipient (what a non-existent Identity can give) or of another recipient is refused.
func TestRecipientTakesOnlyAValidatedIdentityAndOneAnswer(t *testing.T) {
	const id = "77777777-7777-4777-8777-777777777777"
	answers := []answer{
		ok(`{"Identity":"alex","Name":"` + id + `","PrimarySmtpAddress":"alex@contoso.com","ExternalDirectoryObjectId":"` + id + `","Guid":"cccccccc-0000-4000-8000-000000000001"}`),
		ok(`{"Identity":"a","Name":"a","Guid":"cccccccc-0000-4000-8000-000000000002"}`, `{"Identity":"b","Name":"b","Guid":"cccccccc-0000-4000-8000-000000000003"}`),
		ok(`{"Identity":"other","Name":"other","PrimarySmtpAddress":"other@contoso.com","ExternalDirectoryObjectId":"99999999-9999-4999-8999-999999999999","Guid":"cccccccc-0000-4000-8000-000000000004"}`),
	}
	served := 0
	s := newTestClient(t, func(int, call) answer {
		served++
		return answers[min(served-1, len(answers)-1)]
	})
	ctx := context.Background()
	for _, bad := range []string{"", "alex", "Alex Wilber", "a\nb@contoso.com"} {
		if _, err := s.client.Recipient(ctx, bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Recipient(%q) = %v, want ErrInvalidArgument", bad, err)
		}
	}
	if len(s.fake.recorded()) != 0 {
		t.Fatal("a refused identity reached Exchange")
	}
	r, err := s.client.Recipient(ctx, id)
	if err != nil || r.PrimarySmtpAddress != "alex@contoso.com" {
		t.Fatalf("Recipient = %+v, %v", r, err)
	}
	if c := s.fake.recorded()[0]; c.Cmdlet != "Get-Recipient" || !reflect.DeepEqual(c.Params, map[string]any{"Identity": id}) {
		t.Errorf("call = %+v", c)
	}
	if _, err := s.client.Recipient(ctx, id); err == nil {
		t.Error("two recipients answered: taken for one")
	}
	if _, err := s.client.Recipient(ctx, id); err == nil {
		t.Error("another recipient answered: taken for the one asked")
	}
}
