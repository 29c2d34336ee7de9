package tenantsim

// SeedEntraFree is the demo tenant on Entra ID Free (Microsoft 365 Business Standard and
// the like): the attack story is there, but the sign-in logs need Entra ID P1 or P2, so
// auditLogs/signIns answers 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant
// (public reports: microsoftgraph/microsoft-graph-docs-contrib#7276), and PIM is not
// licensed either. Directory audit logs, the unified audit log and message trace answer.
func SeedEntraFree(s *Sim) Demo {
	d := SeedDemo(s)
	s.SetSignInLogsLicensed(false)
	s.SetPIMLicensed(false)
	return d
}
