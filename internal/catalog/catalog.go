// Package catalog names the remediation steps and the order they run in. It is a leaf package,
// so the function registry and the run records can use the names without the SDKs.
package catalog

// Name names a step; the names are part of the external contract (routes, queues).
type Name string

const (
	ResetPassword    Name = "reset-password"
	RevokeSessions   Name = "revoke-sessions"
	RemoveForwarding Name = "remove-forwarding"
	RemoveInboxRules Name = "remove-inbox-rules"
	RemoveAdminRoles Name = "remove-admin-roles"
	UnblockSender    Name = "unblock-sender"
)

// All lists every step in the order a run document shows them.
var All = []Name{ResetPassword, RevokeSessions, RemoveForwarding, RemoveInboxRules, RemoveAdminRoles, UnblockSender}

// Parse returns the step named s.
func Parse(s string) (Name, bool) {
	for _, n := range All {
		if string(n) == s {
			return n, true
		}
	}
	return "", false
}

// DependsOn returns the steps of set that must have finished before step starts:
// revoke-sessions waits for reset-password (so sessions die after the old password does);
// unblock-sender waits for every other step (the account must be secured first).
func DependsOn(step Name, set []Name) []Name {
	var deps []Name
	for _, other := range set {
		if other == step {
			continue
		}
		if (step == RevokeSessions && other == ResetPassword) || step == UnblockSender {
			deps = append(deps, other)
		}
	}
	return deps
}

// Acts reports whether the step changes the tenant every time it is asked to, even on an
// account that is already clean (contract section 1).
func (n Name) Acts() bool { return n == ResetPassword || n == RevokeSessions }
