// Package steps carries out the remediation steps of a compromised account against the
// directory (Microsoft Graph) and the mailbox service (Exchange Online). Each step reads the
// current state, records it as evidence, then acts (or, in a dry run, plans).
package steps

import "github.com/tourniquet/tourniquet/internal/catalog"

// Name names a step (see package catalog).
type Name = catalog.Name

// The steps, re-exported so callers of this package need not import catalog.
const (
	ResetPassword            = catalog.ResetPassword
	BlockSignIn              = catalog.BlockSignIn
	RevokeSessions           = catalog.RevokeSessions
	RemoveForwarding         = catalog.RemoveForwarding
	RemoveInboxRules         = catalog.RemoveInboxRules
	RemoveAdminRoles         = catalog.RemoveAdminRoles
	RemoveExchangeRoleGroups = catalog.RemoveExchangeRoleGroups
	DisableMailProtocols     = catalog.DisableMailProtocols
	RemoveMailboxDelegates   = catalog.RemoveMailboxDelegates
	RemoveMFAMethods         = catalog.RemoveMFAMethods
	RevokeAppConsents        = catalog.RevokeAppConsents
	Investigate              = catalog.Investigate
	UnblockSender            = catalog.UnblockSender
)

// All lists every step in run-document order; Default the steps of a full remediation.
var (
	All     = catalog.All
	Default = catalog.Default
)
