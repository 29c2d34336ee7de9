package graph

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// Authentication method types, as the short form of their @odata.type
// ("#microsoft.graph.phoneAuthenticationMethod" is "phone").
const (
	MethodPassword               = "password"
	MethodPhone                  = "phone"
	MethodMicrosoftAuthenticator = "microsoftAuthenticator"
	MethodFido2                  = "fido2"
	MethodSoftwareOath           = "softwareOath"
	MethodEmail                  = "email"
	MethodTemporaryAccessPass    = "temporaryAccessPass"
	MethodWindowsHello           = "windowsHelloForBusiness"
	MethodPlatformCredential     = "platformCredential"
)

// AuthMethod is one authentication method registered to a user, with the details that
// identify it and nothing secret: a software OATH token's secretKey and a Temporary Access
// Pass's code are never read into it.
type AuthMethod struct {
	ID   string
	Type string // the short type, e.g. MethodPhone; the @odata.type's name for unknown types
	// Created is when the method was registered; nil for the types Graph v1.0 gives no
	// createdDateTime (phone, email, software OATH).
	Created *time.Time
	// Details are the method's non-secret properties (display name, device, phone type,
	// masked number...), for the record.
	Details map[string]any
}

// Deletable reports whether Graph has a DELETE route for the method's type. The password
// method has none (it is never deleted).
func (m AuthMethod) Deletable() bool {
	_, ok := methodDeleters[m.Type]
	return ok
}

// methodDeleters deletes one method by id, one entry per type with a DELETE route
// (/users/{id}/authentication/<type>Methods/{id}).
var methodDeleters = map[string]func(ctx context.Context, c *Client, userID, id string) error{
	MethodPhone: func(ctx context.Context, c *Client, u, id string) error {
		return c.sdk.Users().ByUserId(u).Authentication().PhoneMethods().ByPhoneAuthenticationMethodId(id).Delete(ctx, nil)
	},
	MethodMicrosoftAuthenticator: func(ctx context.Context, c *Client, u, id string) error {
		return c.sdk.Users().ByUserId(u).Authentication().MicrosoftAuthenticatorMethods().ByMicrosoftAuthenticatorAuthenticationMethodId(id).Delete(ctx, nil)
	},
	MethodFido2: func(ctx context.Context, c *Client, u, id string) error {
		return c.sdk.Users().ByUserId(u).Authentication().Fido2Methods().ByFido2AuthenticationMethodId(id).Delete(ctx, nil)
	},
	MethodSoftwareOath: func(ctx context.Context, c *Client, u, id string) error {
		return c.sdk.Users().ByUserId(u).Authentication().SoftwareOathMethods().BySoftwareOathAuthenticationMethodId(id).Delete(ctx, nil)
	},
	MethodEmail: func(ctx context.Context, c *Client, u, id string) error {
		return c.sdk.Users().ByUserId(u).Authentication().EmailMethods().ByEmailAuthenticationMethodId(id).Delete(ctx, nil)
	},
	MethodTemporaryAccessPass: func(ctx context.Context, c *Client, u, id string) error {
		return c.sdk.Users().ByUserId(u).Authentication().TemporaryAccessPassMethods().ByTemporaryAccessPassAuthenticationMethodId(id).Delete(ctx, nil)
	},
	MethodWindowsHello: func(ctx context.Context, c *Client, u, id string) error {
		return c.sdk.Users().ByUserId(u).Authentication().WindowsHelloForBusinessMethods().ByWindowsHelloForBusinessAuthenticationMethodId(id).Delete(ctx, nil)
	},
	MethodPlatformCredential: func(ctx context.Context, c *Client, u, id string) error {
		return c.sdk.Users().ByUserId(u).Authentication().PlatformCredentialMethods().ByPlatformCredentialAuthenticationMethodId(id).Delete(ctx, nil)
	},
}

// AuthenticationMethods lists every authentication method registered to the user
// (GET /users/{id}/authentication/methods), the password method included; nextLinks are
// followed should Graph ever page the list.
func (c *Client) AuthenticationMethods(ctx context.Context, userID string) ([]AuthMethod, error) {
	const op = "AuthenticationMethods"
	if err := checkUser(op, userID); err != nil {
		return nil, err
	}
	builder := c.sdk.Users().ByUserId(userID).Authentication().Methods()
	found, err := listAll[models.AuthenticationMethodable](ctx, c, op,
		func(ctx context.Context) (models.AuthenticationMethodCollectionResponseable, error) {
			return builder.Get(ctx, nil)
		},
		func(ctx context.Context, link string) (models.AuthenticationMethodCollectionResponseable, error) {
			return builder.WithUrl(link).Get(ctx, nil)
		})
	if err != nil {
		return nil, err
	}
	methods := make([]AuthMethod, 0, len(found))
	for _, m := range found {
		if m == nil {
			continue
		}
		methods = append(methods, describeMethod(m))
	}
	return methods, nil
}

// describeMethod keeps a method's identifying, non-secret properties.
func describeMethod(m models.AuthenticationMethodable) AuthMethod {
	out := AuthMethod{ID: deref(m.GetId()), Details: map[string]any{}}
	set := func(key string, v *string) {
		if s := deref(v); s != "" {
			out.Details[key] = s
		}
	}
	// Concrete types: Windows Hello's interface is also satisfied by a platform credential.
	switch v := m.(type) {
	case *models.PhoneAuthenticationMethod:
		out.Type = MethodPhone
		out.Details["phoneNumber"] = MaskPhone(deref(v.GetPhoneNumber()))
		if t := v.GetPhoneType(); t != nil {
			out.Details["phoneType"] = t.String()
		}
		if s := v.GetSmsSignInState(); s != nil {
			out.Details["smsSignInState"] = s.String()
		}
	case *models.MicrosoftAuthenticatorAuthenticationMethod:
		out.Type, out.Created = MethodMicrosoftAuthenticator, v.GetCreatedDateTime()
		set("displayName", v.GetDisplayName())
		set("deviceTag", v.GetDeviceTag())
		set("phoneAppVersion", v.GetPhoneAppVersion())
	case *models.Fido2AuthenticationMethod:
		out.Type, out.Created = MethodFido2, v.GetCreatedDateTime()
		set("displayName", v.GetDisplayName())
		set("model", v.GetModel())
		set("aaGuid", v.GetAaGuid())
		if l := v.GetAttestationLevel(); l != nil {
			out.Details["attestationLevel"] = l.String()
		}
	case *models.SoftwareOathAuthenticationMethod:
		out.Type = MethodSoftwareOath // its secretKey is never read
	case *models.EmailAuthenticationMethod:
		out.Type = MethodEmail
		out.Details["emailAddress"] = MaskEmail(deref(v.GetEmailAddress()))
	case *models.TemporaryAccessPassAuthenticationMethod:
		// The pass itself is shown only when it is created; it is never read into the record.
		out.Type, out.Created = MethodTemporaryAccessPass, v.GetCreatedDateTime()
		if s := v.GetStartDateTime(); s != nil {
			out.Details["startDateTime"] = s.UTC().Format(time.RFC3339)
		}
		if l := v.GetLifetimeInMinutes(); l != nil {
			out.Details["lifetimeInMinutes"] = *l
		}
		if b := v.GetIsUsableOnce(); b != nil {
			out.Details["isUsableOnce"] = *b
		}
		if b := v.GetIsUsable(); b != nil {
			out.Details["isUsable"] = *b
		}
		set("methodUsabilityReason", v.GetMethodUsabilityReason())
	case *models.WindowsHelloForBusinessAuthenticationMethod:
		out.Type, out.Created = MethodWindowsHello, v.GetCreatedDateTime()
		set("displayName", v.GetDisplayName())
		if k := v.GetKeyStrength(); k != nil {
			out.Details["keyStrength"] = k.String()
		}
	case *models.PlatformCredentialAuthenticationMethod:
		out.Type, out.Created = MethodPlatformCredential, v.GetCreatedDateTime()
		set("displayName", v.GetDisplayName())
		if p := v.GetPlatform(); p != nil {
			out.Details["platform"] = p.String()
		}
	case *models.PasswordAuthenticationMethod:
		out.Type = MethodPassword
	default:
		// A type this client does not know (a newer one): named after its @odata.type and
		// never deleted, since there is no route known for it.
		t := strings.TrimPrefix(deref(m.GetOdataType()), "#microsoft.graph.")
		out.Type = strings.TrimSuffix(t, "AuthenticationMethod")
	}
	if out.Created != nil {
		t := out.Created.UTC()
		out.Created = &t
	}
	return out
}

// DeleteAuthenticationMethod deletes one method through its type's route. Graph refuses
// (400) to delete the user's default MFA method while other methods remain: see
// IsDefaultMethodRefusal.
func (c *Client) DeleteAuthenticationMethod(ctx context.Context, userID string, m AuthMethod) error {
	const op = "DeleteAuthenticationMethod"
	if err := checkUser(op, userID); err != nil {
		return err
	}
	if !validEntityKey(m.ID) {
		return invalid(op, "authentication method id", m.ID)
	}
	del, ok := methodDeleters[m.Type]
	if !ok {
		return &Error{Op: op, Message: "authentication methods of type " + m.Type + " cannot be deleted through Graph"}
	}
	return c.call(ctx, op, func(ctx context.Context) error { return del(ctx, c, userID, m.ID) })
}

// IsDefaultMethodRefusal reports Graph's refusal to delete the user's default MFA method
// while other methods remain. It comes in two wordings: 400 "Cannot delete default method
// with other methods configured. Please change default method before deletion." and 400
// "The requested authentication method id of [...] matches the user's current default
// authentication method, and cannot be deleted until the default authentication method is
// changed".
func IsDefaultMethodRefusal(err error) bool {
	var ge *Error
	if !errors.As(err, &ge) || ge.Status != http.StatusBadRequest {
		return false
	}
	msg := strings.ToLower(ge.Message)
	return strings.Contains(msg, "default method") || strings.Contains(msg, "default authentication method")
}

// UnlistedMethods names the kinds of authentication method GET /users/{id}/authentication/methods
// in v1.0 does not list, so a step that reads it cannot see or delete them.
const UnlistedMethods = "hardware OATH tokens and external authentication methods"

// MaskPhone keeps a phone number's country code and last four digits
// ("+1 4255550123x12" -> "+1 ******0123"): enough to recognise it, not to dial it.
func MaskPhone(number string) string {
	number = strings.TrimSpace(number)
	number, _, _ = strings.Cut(number, "x") // an office extension adds nothing to recognise it
	if number == "" {
		return ""
	}
	prefix, rest, ok := strings.Cut(number, " ")
	if !ok || !strings.HasPrefix(prefix, "+") {
		prefix, rest = "", number
	}
	digits := 0
	for _, r := range rest {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	var b strings.Builder
	seen := 0
	for _, r := range rest {
		if r >= '0' && r <= '9' {
			seen++
			if seen <= digits-4 {
				r = '*'
			}
		}
		b.WriteRune(r)
	}
	if prefix == "" {
		return b.String()
	}
	return prefix + " " + b.String()
}

// MaskEmail keeps an address's first character and its domain ("adele@fabrikam.example"
// -> "a****@fabrikam.example").
func MaskEmail(address string) string {
	local, domain, ok := strings.Cut(strings.TrimSpace(address), "@")
	if !ok || local == "" {
		return strings.Repeat("*", len(address))
	}
	return local[:1] + strings.Repeat("*", max(len(local)-1, 3)) + "@" + domain
}
