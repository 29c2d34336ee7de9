// Package steps carries out the remediation steps of a compromised account against the
// directory (Microsoft Graph) and the mailbox service (Exchange Online). Each step reads the
// current state, records it as evidence, then acts (or, in a dry run, plans).
package steps

import "github.com/tourniquet/tourniquet/internal/catalog"

// Name names a step (see package catalog).
type Name = catalog.Name

// The steps, re-exported so callers of this package need not import catalog.
const (
	ResetPassword    = catalog.ResetPassword
	RevokeSessions   = catalog.RevokeSessions
	RemoveForwarding = catalog.RemoveForwarding
	RemoveInboxRules = catalog.RemoveInboxRules
	RemoveAdminRoles = catalog.RemoveAdminRoles
	UnblockSender    = catalog.UnblockSender
)

// All lists every step in run-document order.
var All = catalog.All
