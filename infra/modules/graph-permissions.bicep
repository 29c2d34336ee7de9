// Microsoft Graph and Office 365 Exchange Online app roles of the function app's managed
// identity, through the Microsoft Graph Bicep extension (bicepconfig.json). Each role is the
// least one that covers the calls in internal/graph and internal/exchange; docs/permissions.md
// justifies each. The deployer needs AppRoleAssignment.ReadWrite.All and Application.Read.All
// (e.g. the Privileged Role Administrator role).
extension microsoftGraphV1

param principalId string

@description('Grant the roles only remove-admin-roles and restore-admin-roles need.')
param enableAdminRoleRemoval bool

@description('Grant the roles only the Graph containment steps need (block-sign-in, remove-mfa-methods, revoke-app-consents and their restore).')
param enableGraphContainment bool = true

var graphAppId = '00000003-0000-0000-c000-000000000000'
var exchangeAppId = '00000002-0000-0ff1-ce00-000000000000'

// Every step but remove-admin-roles needs these.
var coreGraphRoles = [
  'User.Read.All' // GET /users/{id}: resolve the user, onPremisesSyncEnabled
  'User-PasswordProfile.ReadWrite.All' // PATCH /users/{id} passwordProfile (reset-password)
  'User.RevokeSessions.All' // POST /users/{id}/revokeSignInSessions (revoke-sessions)
  'AuditLog.Read.All' // GET /auditLogs/signIns, /auditLogs/directoryAudits (investigate; read-only)
  // Microsoft's pages of the sign-in and directory-audit listings name it beside
  // AuditLog.Read.All for apps; it also lets the lockout guard of every run that resets a
  // password list the Global Administrators and their groups when the containment and
  // admin-role roles are not granted. Read-only, but it reads the whole directory.
  'Directory.Read.All'
  // GET /admin/exchange/tracing/messageTraces (investigate: mail sent; read-only). It answers
  // only once Microsoft's message trace app (8bd644d1-64a1-4d4b-ae52-2e0cbf64e373) has a
  // service principal in the tenant; until then investigate uses Get-MessageTraceV2.
  'ExchangeMessageTrace.Read.All'
]
// remove-admin-roles and restore-admin-roles.
var adminRoleGraphRoles = [
  'RoleManagement.ReadWrite.Directory' // roleAssignments, PIM schedules and schedule requests
  'GroupMember.ReadWrite.All' // memberOf/graph.group, groups/{id}/members/$ref
  'PrivilegedEligibilitySchedule.ReadWrite.AzureADGroup' // PIM for Groups: eligible memberships of role-assignable groups
]
// block-sign-in, remove-mfa-methods, revoke-app-consents (opt-in steps) and their restore.
var containmentGraphRoles = [
  'User.EnableDisableAccount.All' // PATCH /users/{id} accountEnabled (block-sign-in, restore)
  'UserAuthenticationMethod.ReadWrite.All' // GET /users/{id}/authentication/methods, DELETE .../<type>Methods/{id}
  'DelegatedPermissionGrant.ReadWrite.All' // GET/DELETE/POST/PATCH /oauth2PermissionGrants (revoke-app-consents, restore)
  // block-sign-in counts the enabled Global Administrators before disabling one (read only;
  // the admin-role roles above cover them when they are granted).
  'RoleManagement.Read.Directory' // GET roleAssignments?$filter=roleDefinitionId eq '<Global Administrator>'
  'GroupMember.Read.All' // memberOf/graph.group, groups/{id}/members
  'Application.Read.All' // GET /servicePrincipals/{id}: name the app a revoked consent served (optional)
  // block-sign-in with options.blockSignIn.disableDevices: PATCH /devices/{id} accountEnabled
  // (Windows devices only, for an application), GET /devices/{id} on restore.
  'Device.ReadWrite.All'
]
var graphRoles = concat(coreGraphRoles, enableAdminRoleRemoval ? adminRoleGraphRoles : [], enableGraphContainment ? containmentGraphRoles : [])

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
