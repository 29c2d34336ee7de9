package graph

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/tourniquet/tourniquet/internal/ident"
)

// ErrInvalidID is returned, wrapped with the operation and the offending value, when an
// identifier fails validation. No request is sent in that case: identifiers reach URL
// paths and $filter expressions, so anything that is not the expected shape is refused
// before it can change the meaning of a request.
var ErrInvalidID = errors.New("invalid identifier")

var (
	// Role assignment and schedule ids are opaque base64url-like keys, not GUIDs
	// (e.g. "lAPpYvVpN0KRkAEhdxReEJC2sEqbR_9Hr48lds9SGHI-1").
	entityKeyPattern = regexp.MustCompile(`^[A-Za-z0-9._=-]{1,256}$`)

	// Directory scopes are "/" or "/segment[/segment...]", e.g. "/administrativeUnits/<id>".
	scopeSegmentPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// ValidID reports whether s is a GUID, the shape of every Entra object id (package ident).
func ValidID(s string) bool { return ident.ValidID(s) }

// ValidUPN reports whether s is a well-formed user principal name (package ident).
func ValidUPN(s string) bool { return ident.ValidUPN(s) }

// validEntityKey accepts the opaque ids Graph gives role assignments and schedules.
func validEntityKey(s string) bool {
	return entityKeyPattern.MatchString(s) && s != "." && s != ".."
}

// validScope accepts a directory scope id such as "/" or "/administrativeUnits/<id>".
func validScope(s string) bool {
	if s == "/" {
		return true
	}
	if !strings.HasPrefix(s, "/") {
		return false
	}
	for _, segment := range strings.Split(s[1:], "/") {
		if !scopeSegmentPattern.MatchString(segment) || segment == "." || segment == ".." {
			return false
		}
	}
	return true
}

// invalid builds the error for an identifier that failed validation. The value is
// quoted and cut short so that garbage input cannot flood logs.
func invalid(op, what, value string) error {
	const maxShown = 80
	if len(value) > maxShown {
		value = value[:maxShown] + "..."
	}
	return fmt.Errorf("graph %s: %w: %s %q", op, ErrInvalidID, what, value)
}

// checkUser validates a user key that may be an object id or a UPN.
func checkUser(op, idOrUPN string) error {
	if ValidID(idOrUPN) || ValidUPN(idOrUPN) {
		return nil
	}
	return invalid(op, "user id or UPN", idOrUPN)
}

// checkGUIDs validates named object ids, in order, and reports the first bad one.
func checkGUIDs(op string, named ...string) error {
	for i := 0; i+1 < len(named); i += 2 {
		if !ValidID(named[i+1]) {
			return invalid(op, named[i], named[i+1])
		}
	}
	return nil
}
