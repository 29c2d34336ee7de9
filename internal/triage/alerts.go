package triage

import (
	"strings"
	"unicode"
)

// Class says what an alert tells about the accounts it carries.
type Class int

const (
	// Unknown: an alert this table does not know. Its accounts get a dry run.
	Unknown Class = iota
	// Compromise: the alert marks its account as in an attacker's hands, and the attacker
	// cannot choose which account it names (it needs the account's own sign-in, token or
	// mailbox, or a person said so). Its account is remediated.
	Compromise
	// Unconfirmed: a known alert that is a reason to look, not proof (a click, an unusual
	// sign-in). Its accounts get a dry run.
	Unconfirmed
	// Mail: an alert about a message; its accounts are recipients or reporters of that
	// message, i.e. the attacker's targets, never proof that they are compromised. Its
	// accounts are skipped.
	Mail
	// Spray: a password spray, brute force or failed sign-in alert: the attacker chose the
	// accounts it names by trying them. Its accounts are skipped.
	Spray
)

func (c Class) String() string {
	switch c {
	case Compromise:
		return "compromise"
	case Unconfirmed:
		return "unconfirmed"
	case Mail:
		return "mail"
	case Spray:
		return "spray"
	}
	return "unknown"
}

// Product families, from the productName of a Sentinel alert (old and new names alike).
const (
	entraIDProtection = "Microsoft Entra ID Protection"
	cloudApps         = "Microsoft Defender for Cloud Apps"
	office365         = "Microsoft Defender for Office 365"
	defenderXDR       = "Microsoft Defender XDR"
	identity          = "Microsoft Defender for Identity"
	sentinel          = "Microsoft Sentinel"
)

// products maps a normalized productName to its family. The old names are the values
// Sentinel's Microsoft security analytics rules filter on (productFilter); the new ones are
// those the products carry since their renaming.
var products = map[string]string{
	"azure active directory identity protection": entraIDProtection,
	"microsoft entra id protection":              entraIDProtection,
	"microsoft cloud app security":               cloudApps,
	"microsoft defender for cloud apps":          cloudApps,
	"office 365 advanced threat protection":      office365,
	"microsoft defender for office 365":          office365,
	"microsoft 365 defender":                     defenderXDR,
	"microsoft defender xdr":                     defenderXDR,
	"azure advanced threat protection":           identity,
	"microsoft defender for identity":            identity,
	"azure sentinel":                             sentinel,
	"microsoft sentinel":                         sentinel,
}

// known is the one list of alerts whose meaning the triage relies on, by product family and
// display name (alertDisplayName, as the product names it; Microsoft's pages name them so).
// Every entry says why it is in its class. An alert absent from here is Unknown (dry run),
// unless its name says spray, brute force or failed sign-in (sprayWords). Extend the
// Compromise class for your own analytics rules with TRIAGE_TRUSTED_ALERTS, or act on one
// account with the incident tag tourniquet:remediate:<UPN or object id>.
var known = []struct {
	product, name string
	class         Class
	why           string
}{
	// Microsoft Entra ID Protection risk detections (learn.microsoft.com/entra/id-protection/
	// concept-identity-protection-risks). Each is raised on one user's own sign-in, token or
	// mailbox, so the user it names is the one at risk.
	{entraIDProtection, "Admin confirmed user compromised", Compromise, "an administrator marked the user compromised in Entra ID Protection"},
	{entraIDProtection, "Anomalous Token", Compromise, "a token of this user with abnormal characteristics (lifetime, replay from an unfamiliar place): a stolen token in use"},
	{entraIDProtection, "Attacker in the Middle", Compromise, "the user's sign-in went through an adversary-in-the-middle proxy: the attacker holds the session"},
	{entraIDProtection, "Leaked credentials", Compromise, "the user's valid user name and password were found leaked: Microsoft's remedy is a password reset"},
	{entraIDProtection, "Atypical travel", Compromise, "two of the user's own sign-ins from places too far apart; can be a VPN: use APPROVAL_MODE=admins"},
	{entraIDProtection, "Impossible travel", Compromise, "the user's own activity from places too far apart (from Defender for Cloud Apps); can be a VPN"},
	{entraIDProtection, "Suspicious inbox forwarding", Compromise, "forwarding rules set on the user's own mailbox, a step attackers take after a compromise"},
	{entraIDProtection, "Suspicious inbox manipulation rules", Compromise, "rules that delete or move mail set on the user's own mailbox, a step attackers take after a compromise"},
	// Entra raises it when a sprayed password worked for this user; the names of a spray
	// are still the attacker's choice, so a person looks first.
	{entraIDProtection, "Password spray", Unconfirmed, "a password spray that Entra ID Protection says succeeded; the attacker chose the accounts it tried"},
	{entraIDProtection, "Unfamiliar sign-in properties", Unconfirmed, "an unusual sign-in, not proof of a compromise"},
	{entraIDProtection, "Anonymous IP address", Unconfirmed, "a sign-in from an anonymizer, not proof of a compromise"},
	{entraIDProtection, "Malicious IP address", Unconfirmed, "a sign-in from an address known for attacks; may have failed"},
	{entraIDProtection, "Token issuer anomaly", Unconfirmed, "about the tenant's federation (the token issuer), not about this user"},

	// Defender for Cloud Apps anomaly detections (learn.microsoft.com/defender-cloud-apps/
	// anomaly-detection-policy): activity of the user's own session.
	{cloudApps, "Impossible travel", Compromise, "the user's own activity from places too far apart; can be a VPN"},
	{cloudApps, "Suspicious inbox forwarding", Compromise, "a forwarding rule on the user's own mailbox to an outside address"},
	{cloudApps, "Suspicious inbox manipulation rule", Compromise, "a rule that deletes or moves mail on the user's own mailbox"},

	// Defender XDR detections of a stolen session or BEC, as named in Microsoft's AiTM/BEC
	// write-ups (a guess at the exact display names: check SecurityAlert | distinct AlertName).
	{defenderXDR, "Stolen session cookie was used", Compromise, "the user's session cookie was replayed by someone else"},
	{defenderXDR, "User compromised via a known AiTM phishing kit", Compromise, "Defender XDR says the user's session was stolen through an AiTM phishing kit"},
	{defenderXDR, "User compromised in AiTM phishing attack", Compromise, "Defender XDR says the user's session was stolen in an AiTM phishing attack"},
	{defenderXDR, "Suspicious inbox manipulation rule", Compromise, "a rule that deletes or moves mail on the user's own mailbox"},
	{defenderXDR, "Possible AiTM phishing attempt", Unconfirmed, "an attempt: the user may not have signed in through it"},

	// Defender for Office 365 alert policies (learn.microsoft.com/defender-xdr/alert-policies,
	// "Threat management alert policies"). The account entities of a message alert are its
	// recipients (Azure-Sentinel issue #12496) or the user who reported it.
	{office365, "Email messages containing malicious URL removed after delivery", Mail, "a recipient of a malicious message; receiving mail is not a compromise"},
	{office365, "Email messages containing malicious file removed after delivery", Mail, "a recipient of a malicious message; receiving mail is not a compromise"},
	{office365, "Email messages containing malware removed after delivery", Mail, "a recipient of a malicious message; receiving mail is not a compromise"},
	{office365, "Email messages containing phish URLs removed after delivery", Mail, "a recipient of a malicious message; receiving mail is not a compromise"},
	{office365, "Email messages from a campaign removed after delivery", Mail, "a recipient of a malicious message; receiving mail is not a compromise"},
	{office365, "Email messages removed after delivery", Mail, "a recipient of a malicious message; receiving mail is not a compromise"},
	{office365, "Messages containing malicious entity not removed after delivery", Mail, "a recipient of a malicious message; receiving mail is not a compromise"},
	{office365, "Malware not zapped because ZAP is disabled", Mail, "a recipient of a malicious message; receiving mail is not a compromise"},
	{office365, "Phish not zapped because ZAP is disabled", Mail, "a recipient of a malicious message; receiving mail is not a compromise"},
	{office365, "Phish delivered due to an ETR override", Mail, "a recipient of a malicious message; receiving mail is not a compromise"},
	{office365, "Phish delivered due to an IP allow policy", Mail, "a recipient of a malicious message; receiving mail is not a compromise"},
	{office365, "Email reported by user as malware or phish", Mail, "the user who reported a message, or its recipient"},
	{office365, "Email reported by user as junk", Mail, "the user who reported a message, or its recipient"},
	{office365, "Email reported by user as not junk", Mail, "the user who reported a message, or its recipient"},
	{office365, "Teams message reported by user as security risk", Mail, "the user who reported a message, or its recipient"},
	{office365, "User requested to release a quarantined message", Mail, "a recipient asking for a quarantined message"},
	{office365, "A potentially malicious URL click was detected", Unconfirmed, "the user clicked a malicious link; whether they typed their password there is not known"},
	{office365, "A user clicked through to a potentially malicious URL", Unconfirmed, "the user clicked past the Safe Links warning; whether they typed their password there is not known"},
	// Outbound: sending needs the account's own sign-in, so the attacker cannot make these
	// name another account. Microsoft: restriction "typically indicates a compromised account".
	{office365, "User restricted from sending email", Compromise, "Exchange Online blocked the account after it sent outbound spam, which needs its own sign-in"},
	{office365, "Suspicious email sending patterns detected", Unconfirmed, "an early warning on the user's outbound mail, \"not severe enough to restrict the user\""},
	{office365, "Email sending limit exceeded", Unconfirmed, "the user sent more mail than the outbound policy allows; often legitimate"},
	{office365, "Suspicious email forwarding activity", Unconfirmed, "an early warning on forwarding, \"not severe enough to restrict the user\""},
	{office365, "Creation of forwarding/redirect rule", Unconfirmed, "users create forwarding rules legitimately too"},
}

// sprayWords mark, in any product's alert name or type, an alert whose accounts are the
// ones an attacker tried: Sentinel's "Password spray attack against Microsoft Entra ID
// application", "Brute force attack against Azure Portal", "Distributed Password cracking
// attempts in Microsoft Entra ID", Defender for Identity's "Suspected Brute Force attack
// (Kerberos, NTLM)", Defender for Cloud Apps' "Multiple failed login attempts".
var sprayWords = []string{"spray", "brute force", "brute-force", "bruteforce", "password cracking",
	"password guessing", "credential stuffing", "failed sign-in", "failed sign in", "failed signin",
	"failed login", "failed logon", "disabled accounts", "failed authentication"}

type alertKey struct{ product, name string }

// Table classifies alerts: the built-in list plus the operator's trusted additions.
type Table struct {
	classes map[alertKey]Class
	whys    map[alertKey]string
}

// NewTable returns the built-in table with extra alerts trusted as Compromise. Each extra
// entry is "<productName>|<alert display name>" (for a Sentinel analytics rule, the
// product is "Microsoft Sentinel" and the name is the rule's name), or "*|<name>" for any
// product. An entry of another shape is returned as invalid.
func NewTable(trusted []string) (*Table, []string) {
	t := &Table{classes: map[alertKey]Class{}, whys: map[alertKey]string{}}
	for _, k := range known {
		key := alertKey{family(k.product), normalize(k.name)}
		t.classes[key] = k.class
		t.whys[key] = k.why
	}
	var invalid []string
	for _, entry := range trusted {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		product, name, ok := strings.Cut(entry, "|")
		product, name = strings.TrimSpace(product), strings.TrimSpace(name)
		if !ok || product == "" || normalize(name) == "" || len(entry) > 300 {
			invalid = append(invalid, entry)
			continue
		}
		if product != "*" {
			product = family(product)
		}
		key := alertKey{product, normalize(name)}
		t.classes[key] = Compromise
		t.whys[key] = "trusted by TRIAGE_TRUSTED_ALERTS"
	}
	return t, invalid
}

// Classify says what an alert of this product, display name and type tells.
func (t *Table) Classify(product, name, alertType string) (Class, string) {
	fam, n := family(product), normalize(name)
	for _, key := range []alertKey{{fam, n}, {"*", n}} {
		if c, ok := t.classes[key]; ok {
			return c, t.whys[key]
		}
	}
	text := n + " " + normalize(alertType)
	for _, w := range sprayWords {
		if strings.Contains(text, w) {
			if strings.Contains(text, "success") {
				// "Successful sign-in after password spray": the attacker chose whom to try,
				// but this one may have worked. A person looks first.
				return Unconfirmed, "a spray or brute force that may have succeeded for this account; the attacker chose the accounts it tried"
			}
			return Spray, "the attacker chose the accounts of a spray, brute force or failed sign-in alert by trying them"
		}
	}
	return Unknown, "an alert the triage does not know"
}

func family(product string) string {
	p := normalize(product)
	if f, ok := products[p]; ok {
		return normalize(f)
	}
	return p
}

// normalize lowercases, drops invisible format characters (Microsoft's own alert policy
// page carries a zero-width space after "removed after delivery") and folds white space.
func normalize(s string) string {
	if len(s) > 512 {
		s = s[:512]
	}
	s = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
