// Microsoft Graph and Office 365 Exchange Online app roles of the function app's managed
// identity, through the Microsoft Graph Bicep extension (bicepconfig.json). Each role is the
// least one that covers the calls in internal/graph and internal/exchange; docs/permissions.md
// justifies each. The deployer needs AppRoleAssignment.ReadWrite.All and Application.Read.All
// (e.g. the Privileged Role Administrator role).
extension microsoftGraphV1

param principalId string

@description('Grant the roles only remove-admin-roles and restore-admin-roles need.')
param enableAdminRoleRemoval bool

var graphAppId = '00000003-0000-0000-c000-000000000000'
var exchangeAppId = '00000002-0000-0ff1-ce00-000000000000'

// Every step but remove-admin-roles needs these.
var coreGraphRoles = [
  'User.Read.All' // GET /users/{id}: resolve the user, onPremisesSyncEnabled
  'User-PasswordProfile.ReadWrite.All' // PATCH /users/{id} passwordProfile (reset-password)
  'User.RevokeSessions.All' // POST /users/{id}/revokeSignInSessions (revoke-sessions)
  'AuditLog.Read.All' // GET /auditLogs/signIns, /auditLogs/directoryAudits (investigate; read-only)
]
// remove-admin-roles and restore-admin-roles.
var adminRoleGraphRoles = [
  'RoleManagement.ReadWrite.Directory' // roleAssignments, PIM schedules and schedule requests
  'GroupMember.ReadWrite.All' // memberOf/graph.group, groups/{id}/members/$ref
  'PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup' // PIM for Groups: eligible memberships of role-assignable groups
]
var graphRoles = enableAdminRoleRemoval ? concat(coreGraphRoles, adminRoleGraphRoles) : coreGraphRoles

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

resource exchange 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: exchangeAppId
}

resource graphAssignments 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [for role in graphRoles: {
  principalId: principalId
  resourceId: graph.id
  appRoleId: filter(graph.appRoles, r => r.value == role)[0].id
}]

// InvokeCommand (Get-Mailbox, Set-Mailbox, Get-InboxRule, ...). The cmdlets run only with an
// Exchange role as well: assign-directory-roles.sh assigns it.
resource exchangeManageAsApp 'Microsoft.Graph/appRoleAssignedTo@v1.0' = {
  principalId: principalId
  resourceId: exchange.id
  appRoleId: filter(exchange.appRoles, r => r.value == 'Exchange.ManageAsApp')[0].id
}
