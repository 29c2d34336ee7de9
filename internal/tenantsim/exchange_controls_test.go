package tenantsim

import (
	"net/http"
	"strings"
	"testing"
)

func TestNoMailboxProfileAnswersTheRealNotFound(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusNotFound, http.StatusBadRequest} {
		sim := startSim(t, Options{})
		demo, err := SeedProfile(sim, "no-mailbox")
		if err != nil {
			t.Fatal(err)
		}
		sim.SetNotFoundStatus(status)
		e := newExo(t, sim)
		if _, ok := sim.User(demo.UPN); !ok {
			t.Fatal("the directory user is gone too")
		}
		if len(sim.BlockedSenders()) != 1 {
			t.Errorf("the restriction is gone: %+v", sim.BlockedSenders())
		}
		for _, call := range []struct {
			cmdlet string
			params map[string]any
		}{
			{"Get-Mailbox", map[string]any{"Identity": demo.UPN}},
			{"Get-InboxRule", map[string]any{"Mailbox": demo.UPN, "IncludeHidden": true}},
			{"Set-Mailbox", map[string]any{"Identity": demo.UPN, "ForwardingSmtpAddress": nil}},
		} {
			got, body := e.call(call.cmdlet, call.params)
			code, detail, internal := exoErrorParts(t, body)
			wantCode := map[int]string{404: "NotFound", 400: "BadRequest"}[status]
			env := body["error"].(map[string]any)
			inner := env["innererror"].(map[string]any)
			if got != status || code != wantCode || env["message"] != "Error executing cmdlet" ||
				!strings.HasPrefix(detail, "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|The operation couldn't be performed because object '"+demo.UPN+"' couldn't be found on '") ||
				inner["type"] != "Microsoft.Exchange.Admin.OData.Core.ODataServiceException" ||
				internal != "Exception of type 'Microsoft.Exchange.Management.PSDirectInvoke.DirectInvokeCmdletExecutionException' was thrown." {
				t.Errorf("%s with not-found status %d: %d %v", call.cmdlet, status, got, body)
			}
		}
	}
}

func TestOnNextCmdletChangesTheTenantBeforeTheRequest(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	e := newExo(t, sim)
	target := demo.SuspiciousRules[0]
	ran := 0
	sim.OnNextCmdlet("disable-inboxrule", func() { ran++; sim.DeleteInboxRule(demo.UPN, target) })
	if status, body := e.call("Disable-InboxRule", map[string]any{"Identity": target}); status != 404 {
		t.Fatalf("Disable-InboxRule of a rule deleted just before: %d %v", status, body)
	}
	if status, _ := e.call("Disable-InboxRule", map[string]any{"Identity": demo.SuspiciousRules[1]}); status != 200 || ran != 1 {
		t.Errorf("the hook ran %d times; second disable %d", ran, status)
	}
}

func TestAddInboxRulesKeepsPriorityAndIdentities(t *testing.T) {
	t.Parallel()
	sim, demo := startDemo(t)
	before := len(sim.InboxRules(demo.UPN))
	ids := sim.AddInboxRules(demo.UPN, []InboxRule{{Name: "a", Enabled: true}, {Name: "b", Enabled: true}})
	rules := sim.InboxRules(demo.UPN)
	if len(ids) != 2 || len(rules) != before+2 || rules[before].Identity != ids[0] || rules[before+1].Priority <= rules[before].Priority {
		t.Errorf("ids %v rules %+v", ids, rules[before:])
	}
	if sim.AddInboxRules("nobody@contoso.example", []InboxRule{{Name: "x"}}) != nil {
		t.Error("rules added for a user without a mailbox")
	}
}
