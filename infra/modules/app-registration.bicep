// The app registration that App Service authentication (AUTH_MODE=easyauth) validates tokens
// for, with Tourniquet's four app roles. The handler reads the roles from the role claims of
// X-MS-CLIENT-PRINCIPAL (internal/server/middleware.go); docs/security.md says what each
// allows. Assign them to people (User) and to playbooks' managed identities (Application)
// with az rest / Entra admin center (docs/security.md has the commands). The deployer needs
// Application.ReadWrite.OwnedBy (or Application.ReadWrite.All).
extension microsoftGraphV1

@description('Display name of the app registration.')
param displayName string

@description('Unique name (client-provided key) of the app registration in the tenant.')
param uniqueName string

// Role ids are derived from the unique name, so a redeployment keeps the same ids and every
// assignment made to them.
var roles = [
  {
    value: 'Tourniquet.Read'
    displayName: 'Read remediations'
    description: 'Read run documents, a user\'s runs and sweep records.'
  }
  {
    value: 'Tourniquet.Remediate'
    displayName: 'Start remediations'
    description: 'Start remediation runs and single steps (changes the tenant).'
  }
  {
    value: 'Tourniquet.Restore'
    displayName: 'Restore removed privileges'
    description: 'Restore what a run removed, e.g. admin roles: grants privilege back.'
  }
  {
    value: 'Tourniquet.Approve'
    displayName: 'Approve or reject remediations'
    description: 'Approve or reject a run that waits for a second person.'
  }
]

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMyOrg'
  appRoles: [for r in roles: {
    id: guid(uniqueName, r.value)
    value: r.value
    displayName: r.displayName
    description: r.description
    allowedMemberTypes: ['User', 'Application']
    isEnabled: true
  }]
}

// App Service authentication needs the service principal to issue tokens for the app, and
// app role assignments are made to it.
resource sp 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
  // Entra ID issues a token for this app only to users, groups' members and service
  // principals that hold an app role assignment to it (any of the four roles); without it,
  // anyone in the tenant could get one. It does not say which route a role opens: the
  // handler checks the role each route needs (Tourniquet.Read, .Remediate, .Restore,
  // .Approve) from the token's claims, so a holder of Tourniquet.Read alone is still refused
  // 403 on the others.
  appRoleAssignmentRequired: true
}

output appId string = app.appId
output servicePrincipalId string = sp.id
