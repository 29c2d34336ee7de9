package tenantsim

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// AuthMethod is an authentication method registered to a user (not the password, which
// every user has and the simulator lists on its own).
type AuthMethod struct {
	ID string // assigned by AddAuthMethod: fixed per phone type and for email, like Graph
	// Type is the short @odata.type: "phone", "microsoftAuthenticator", "fido2",
	// "softwareOath", "email", "temporaryAccessPass", "windowsHelloForBusiness",
	// "platformCredential".
	Type    string
	Created time.Time // shown as createdDateTime for the types that have one in v1.0
	// PhoneSignIn: a Microsoft Authenticator registered for passwordless phone sign-in, the
	// only kind whose createdDateTime v1.0 shows; one registered for push or codes shows
	// null (the microsoftAuthenticatorAuthenticationMethod page).
	PhoneSignIn bool
	// RegisteredFrom is the IP address the directory audit log's registration event shows
	// (initiatedBy.user.ipAddress); "" for none.
	RegisteredFrom string
	// Props are the type's own properties as Graph shows them (phoneNumber, phoneType,
	// displayName, deviceTag...).
	Props map[string]any
}

// Fixed ids Graph gives the phone methods (one per phoneType), the email method and the
// password method (the phoneAuthenticationMethod, emailAuthenticationMethod and
// passwordAuthenticationMethod resource pages).
const (
	PhoneMobileID          = "3179e48a-750b-4051-897c-87b9720928f7"
	PhoneAlternateMobileID = "b6332ec1-7057-4abe-9331-3d72feddfe41"
	PhoneOfficeID          = "e37fc753-ff3b-4958-9484-eaa9425c82bc"
	EmailMethodID          = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f"
	PasswordMethodID       = "28c10230-6103-485e-b985-444c60001490"
)

// methodRoutes maps the segment of each type's collection to its type.
var methodRoutes = map[string]string{
	"phoneMethods": "phone", "microsoftAuthenticatorMethods": "microsoftAuthenticator", "fido2Methods": "fido2",
	"softwareOathMethods": "softwareOath", "emailMethods": "email", "temporaryAccessPassMethods": "temporaryAccessPass",
	"windowsHelloForBusinessMethods": "windowsHelloForBusiness", "platformCredentialMethods": "platformCredential",
}

// datedMethods are the types whose v1.0 resource has createdDateTime (the Authenticator's
// is null unless registered for phone sign-in).
var datedMethods = map[string]bool{
	"microsoftAuthenticator": true, "fido2": true, "temporaryAccessPass": true, "windowsHelloForBusiness": true, "platformCredential": true,
}

// registrationReason is the resultReason of the "User registered security info" event the
// directory audit log writes for a method's registration, by type (and phone type). The
// wordings are those public detection rules and log samples quote ("User registered
// Authenticator App with Notification and Code", "User registered Mobile Phone SMS", "User
// registered Fido"); the others follow the pattern and are guesses.
func registrationReason(m *AuthMethod) string {
	switch m.Type {
	case "phone":
		switch m.Props["phoneType"] {
		case "alternateMobile":
			return "User registered Alternate Mobile Phone"
		case "office":
			return "User registered Office Phone"
		}
		return "User registered Mobile Phone SMS"
	case "microsoftAuthenticator":
		return "User registered Authenticator App with Notification and Code"
	case "softwareOath":
		return "User registered Software OATH token"
	case "email":
		return "User registered Email"
	case "fido2":
		return "User registered Fido"
	case "temporaryAccessPass":
		return "Admin registered temporary access pass method for user"
	case "windowsHelloForBusiness":
		return "User registered Windows Hello for Business"
	}
	return "User registered " + m.Type
}

// AddAuthMethod registers a method to a user and returns its id. Phone methods get the
// fixed id of their phoneType (Props["phoneType"], default "mobile"), email the email id.
func (s *Sim) AddAuthMethod(userID string, m AuthMethod) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant
	u := t.user(userID)
	if u == nil {
		return ""
	}
	if m.Props == nil {
		m.Props = map[string]any{}
	}
	switch m.Type {
	case "phone":
		if m.Props["phoneType"] == nil {
			m.Props["phoneType"] = "mobile"
		}
		m.ID = map[any]string{"mobile": PhoneMobileID, "alternateMobile": PhoneAlternateMobileID, "office": PhoneOfficeID}[m.Props["phoneType"]]
		if m.Props["smsSignInState"] == nil {
			m.Props["smsSignInState"] = "notAllowedByPolicy"
		}
	case "email":
		m.ID = EmailMethodID
	}
	if m.ID == "" {
		m.ID = newGUID()
	}
	if m.Created.IsZero() {
		m.Created = time.Now().UTC().Truncate(time.Second)
	}
	list := t.authMethods[u.ID]
	if i := slices.IndexFunc(list, func(x *AuthMethod) bool { return x.ID == m.ID }); i >= 0 {
		list[i] = &m
	} else {
		t.authMethods[u.ID] = append(list, &m)
	}
	// The registration is in the directory audit log, as the service writes it: "User
	// registered security info", service Authentication Methods, the user initiator and
	// target (docs/simulator-fidelity.md, "Authentication methods").
	t.audit.dirAudit = append(t.audit.dirAudit, &DirectoryAudit{ID: "AuthMethods_" + newGUID(), Time: m.Created,
		Activity: "User registered security info", Category: "UserManagement", Service: "Authentication Methods", ResultReason: registrationReason(&m),
		InitiatorID: u.ID, InitiatorUPN: u.UserPrincipalName, IP: m.RegisteredFrom, TargetID: u.ID, TargetName: u.UserPrincipalName, TargetType: "User"})
	return m.ID
}

// SetDefaultMethod makes a method the user's default MFA method, which Graph refuses to
// delete while other methods remain.
func (s *Sim) SetDefaultMethod(userID, methodID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.tenant.user(userID); u != nil {
		s.tenant.defaultMethod[u.ID] = methodID
	}
}

// AuthMethods returns the methods registered to a user (id or UPN), password excluded.
func (s *Sim) AuthMethods(userID string) []AuthMethod {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.tenant.user(userID)
	if u == nil {
		return nil
	}
	var out []AuthMethod
	for _, m := range s.tenant.authMethods[u.ID] {
		out = append(out, *m)
	}
	return out
}

func methodEntity(m *AuthMethod) map[string]any {
	e := map[string]any{"@odata.type": "#microsoft.graph." + m.Type + "AuthenticationMethod", "id": m.ID}
	for k, v := range m.Props {
		e[k] = v
	}
	if datedMethods[m.Type] {
		e["createdDateTime"] = m.Created.UTC().Format(time.RFC3339)
		if m.Type == "microsoftAuthenticator" && !m.PhoneSignIn {
			e["createdDateTime"] = nil
		}
	}
	if m.Type == "temporaryAccessPass" {
		e["temporaryAccessPass"] = nil // the pass is shown only in the answer that creates it
	}
	if m.Type == "softwareOath" {
		e["secretKey"] = nil // never returned
	}
	return e
}

// listAuthMethods is GET /users/{id}/authentication/methods: the password method first,
// then every registered method. Graph's page does not say it pages this list; it is
// answered whole.
func (s *Sim) listAuthMethods(c *graphCall, p []string) graphResult {
	if _, bad := parseQuery(c.query, querySpec{entity: "microsoft.graph.authenticationMethod"}); bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.tenant.user(p[0])
	if u == nil {
		return graphNotFound(p[0])
	}
	items := []map[string]any{{
		"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": PasswordMethodID,
		"password": nil, "createdDateTime": nil,
	}}
	for _, m := range s.tenant.authMethods[u.ID] {
		items = append(items, methodEntity(m))
	}
	return graphOK(map[string]any{"@odata.context": c.metadataURL("users('" + u.ID + "')/authentication/methods"), "value": items})
}

// deleteAuthMethod is DELETE /users/{id}/authentication/<type>Methods/{methodId}.
func (s *Sim) deleteAuthMethod(segment string) graphHandler {
	kind := methodRoutes[segment]
	return func(c *graphCall, p []string) graphResult {
		s.mu.Lock()
		defer s.mu.Unlock()
		t := s.tenant
		u := t.user(p[0])
		if u == nil {
			return graphNotFound(p[0])
		}
		list := t.authMethods[u.ID]
		i := slices.IndexFunc(list, func(m *AuthMethod) bool { return m.Type == kind && strings.EqualFold(m.ID, p[1]) })
		if i < 0 {
			// The code is a guess: the pages do not show a not-found answer of these routes.
			return graphErr(http.StatusNotFound, "itemNotFound", "The requested authentication method '"+p[1]+"' was not found for the user.")
		}
		m := list[i]
		if strings.EqualFold(t.defaultMethod[u.ID], m.ID) && len(list) > 1 {
			if m.Type == "phone" {
				// The wording public offboarding scripts match for a default phone ("[badRequest]
				// : The requested authentication method id of [...] matches the user's current
				// default authentication method, ...").
				return graphErr(http.StatusBadRequest, "badRequest", "The requested authentication method id of ["+m.ID+
					"] matches the user's current default authentication method, and cannot be deleted until the default authentication method is changed")
			}
			// The message is the one reported on Microsoft Q&A (question 1337439); the code
			// is not shown there and is a guess.
			return graphErr(http.StatusBadRequest, "badRequest", "Cannot delete default method with other methods configured. Please change default method before deletion.")
		}
		if m.ID == PhoneMobileID && slices.ContainsFunc(list, func(x *AuthMethod) bool { return x.ID == PhoneAlternateMobileID }) {
			// "A user can't have an alternateMobile number without a mobile number" (the
			// phoneAuthenticationMethod delete page); the answer's wording is a guess.
			return graphErr(http.StatusBadRequest, "badRequest", "The mobile phone cannot be deleted while an alternate mobile phone is registered.")
		}
		t.authMethods[u.ID] = slices.Delete(list, i, i+1)
		if strings.EqualFold(t.defaultMethod[u.ID], m.ID) {
			delete(t.defaultMethod, u.ID)
		}
		return graphNoContent()
	}
}
