package investigation

import (
	"strings"

	"github.com/tourniquet/tourniquet/internal/exchange"
	"github.com/tourniquet/tourniquet/internal/graph"
)

// persistenceActivities are directory audit activities (Microsoft Entra audit log activity
// names, lower case, dashes folded) by which an attacker who holds an account with admin
// rights keeps a way in that no containment step takes away: the steps act on the
// compromised account, these leave something behind elsewhere in the tenant. Made by the
// investigated account in the window, each is a signal for a person to review and undo by
// hand. Each value says why.
var persistenceActivities = map[string]string{
	"add service principal credentials":                        "a secret or certificate added to an application's service principal keeps app-only access to the tenant after the account is contained",
	"update application - certificates and secrets management": "an application's secrets or certificates changed: a secret the attacker added keeps app-only access",
	"add owner to application":                                 "an owner of an application can add credentials to it",
	"add owner to service principal":                           "an owner of a service principal can add credentials to it",
	"add application":                                          "an application registered: one the attacker controls keeps access through its own credentials and consents",
	"add app role assignment to service principal":             "an application permission granted to an application (app-only access to the tenant's data)",
	"add member to role":                                       "a directory role granted to an account: the attacker's second way in",
	"add eligible member to role":                              "a directory role made eligible for an account: the attacker's second way in",
	"add scoped member to role":                                "a directory role granted over an administrative unit",
	"add user":                                                 "an account created: the attacker's own account in the tenant",
	"update conditional access policy":                         "a Conditional Access policy changed: the attacker may have weakened sign-in controls",
	"delete conditional access policy":                         "a Conditional Access policy deleted: the attacker may have removed sign-in controls",
	"set domain authentication":                                "a domain's authentication changed (federation): whoever holds the federation's signing key can sign in as any user of the domain",
	"set federation settings on domain":                        "a domain's federation settings changed: whoever holds the signing key can sign in as any user of the domain",
}

// persistence says why a directory audit event is a way in the attacker may have left, or
// "" when it is not one: a successful persistence activity the investigated user made
// themselves (initiator), since the same activity by someone else on the user is an
// administrator's work.
func persistence(a graph.DirectoryAudit, userID string) string {
	if a.Result != "" && !strings.EqualFold(a.Result, "success") {
		return ""
	}
	if userID == "" || !strings.EqualFold(a.InitiatorID, userID) {
		return ""
	}
	act := strings.ToLower(strings.TrimSpace(a.Activity))
	act = strings.NewReplacer("\u2013", "-", "\u2014", "-").Replace(act) // Entra writes an en dash
	act = strings.TrimSuffix(act, ".")
	for name, why := range persistenceActivities {
		if act == name || strings.HasPrefix(act, name+" ") {
			return why
		}
	}
	return ""
}

// transportRuleCopies are the New-/Set-TransportRule parameters by which a rule sends mail
// somewhere else (the cmdlet's actions).
var transportRuleCopies = []string{"RedirectMessageTo", "BlindCopyTo", "CopyTo", "AddToRecipients", "AddManagerAsRecipientType", "RouteMessageOutboundConnector"}

// transportRulePersistence says why a mail flow rule the account made is a way in: every
// one is (the searched records are the account's own, UserIds), and one that copies or
// redirects mail says where.
func transportRulePersistence(r exchange.AuditRecord) string {
	var to []string
	for _, p := range transportRuleCopies {
		if v := strings.TrimSpace(r.Parameters[p]); v != "" {
			to = append(to, p+" "+v)
		}
	}
	if len(to) > 0 {
		return "a mail flow rule that sends the organisation's mail elsewhere (" + strings.Join(to, "; ") + ")"
	}
	return "a mail flow rule applies to the whole organisation's mail; one made by the attacker can copy, redirect or hide it"
}
