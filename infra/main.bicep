// Tourniquet: the whole deployment. `azd up` (or `az deployment sub create`) provisions a
// resource group with a Linux function app (custom handler), its storage (queues, run-record
// tables, deployment container; shared keys disabled), Application Insights, the Storage
// roles of the app's managed identity, and the Microsoft Graph / Exchange Online app roles of
// that identity; with storageNetworkIsolation 'privateEndpoints', a virtual network that puts
// the storage account behind private endpoints (modules/network.bicep). Directory roles
// (Exchange Administrator, ...) are assigned afterwards by infra/assign-directory-roles.sh:
// Bicep cannot assign them.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name; names the resource group and seeds the resource names.')
param environmentName string

@minLength(1)
@description('Azure region. Flex Consumption is not in every region: see docs/deploy.md.')
param location string

@description('Resource group to create (default rg-<environmentName>).')
param resourceGroupName string = ''

@allowed(['flex', 'dedicated'])
@description('flex: Flex Consumption (FC1). dedicated: a Linux App Service plan, for regions without Flex Consumption.')
param hostingPlan string = 'flex'

@description('App Service plan SKU when hostingPlan is dedicated.')
param dedicatedSku string = 'B1'

@minValue(40)
@maxValue(1000)
@description('Flex Consumption scale-out limit.')
param flexMaximumInstanceCount int = 40

// Settings of the contract (section 8). Strings, because app settings are strings.
@description('PROTECTED_ACCOUNTS: comma-separated UPNs or object ids never changed (break-glass accounts).')
param protectedAccounts string = ''

@description('MAX_REMEDIATIONS_PER_HOUR: tenant-wide limit on new runs that may change the tenant.')
param maxRemediationsPerHour string = '20'

@description('SWEEP_SCHEDULE: six-field NCRONTAB schedule of the restricted-users sweep.')
param sweepSchedule string = '0 */15 * * * *'

@allowed(['report', 'remediate'])
@description('SWEEP_MODE: report records a dry run; remediate starts a full run.')
param sweepMode string = 'report'

@description('SWEEP_MAX_USERS: more newly restricted users than this at once: remediate none.')
param sweepMaxUsers string = '10'

@description('STEP_DEADLINE: Go duration; a throttled step is deferred until this long after its run started, then fails.')
param stepDeadline string = '1h'

@description('WATCH_DEFAULT: Go duration (10s to 72h) of the eviction watch every run that changes the tenant gets, or off.')
param watchDefault string = 'off'

@description('WATCH_INTERVAL: Go duration; how often an eviction watch checks the account.')
param watchInterval string = '15m'

// The handler's own default is false (the contract leaves reason optional); a deployment
// turns it on: an investigate-only run reads a person's sign-ins and mail trace.
@allowed(['true', 'false'])
@description('INVESTIGATION_REASON_REQUIRED: true refuses (400 invalid_request) a run of the investigate step alone that gives no reason; docs/security.md.')
param investigationReasonRequired string = 'true'

// Storage write is a way in (docs/security.md, "Sealed records"): the seals mitigate it, they
// do not prevent it. 'privateEndpoints' takes the storage account off the public network: a
// virtual network (modules/network.bicep) with the function app's VNet integration and
// private endpoints for blob, queue and table; the account refuses every public request.
// Recommended; it costs the private endpoints and changes who can reach the queues and
// tables (docs/deploy.md, "Storage behind private endpoints").
@allowed(['none', 'privateEndpoints'])
@description('none: storage reachable from the public network (Entra ID auth only). privateEndpoints (recommended): storage reachable only through private endpoints in a virtual network the function app integrates with.')
param storageNetworkIsolation string = 'none'

@description('Address space of the virtual network created when storageNetworkIsolation is privateEndpoints.')
param vnetAddressPrefix string = '10.90.0.0/16'

@description('Subnet the function app integrates with (Flex Consumption: delegated to Microsoft.App/environments, up to 40 addresses per app; /26 or larger).')
param appSubnetPrefix string = '10.90.0.0/24'

@description('Subnet of the storage account\'s three private endpoints (blob, queue, table).')
param privateEndpointSubnetPrefix string = '10.90.1.0/24'
@description('TRIAGE_TRUSTED_ALERTS: more alerts the Sentinel triage trusts to name a compromised account, ;-separated <productName>|<alert name> (see infra/playbooks/sentinel-remediate/README.md); empty: the built-in list only.')
param triageTrustedAlerts string = ''

@description('Resource id of an action group the log alerts notify (the attacker returned, a run failed, a record tampered with, the lockout guard); empty: the alerts fire in the portal only.')
param alertActionGroupId string = ''

@allowed(['functionkey', 'easyauth'])
@description('AUTH_MODE: easyauth only together with App Service authentication.')
param authMode string = 'functionkey'

@allowed(['none', 'admins', 'all'])
@description('APPROVAL_MODE: none; admins (a run for a user holding an Entra directory role or Exchange role group waits for a second person); all (every run that may change the tenant waits).')
param approvalMode string = 'none'

@description('APPROVAL_TIMEOUT: Go duration an undecided run waits before it ends expired.')
param approvalTimeout string = '1h'

@secure()
@description('TOURNIQUET_RECORD_KEY: a Key Vault reference (@Microsoft.KeyVault(SecretUri=...)) to base64 of 32 random bytes; empty: each process seals with a key of its own (docs/security.md).')
param recordKey string = ''

@description('TOURNIQUET_TABLE_PREFIX: prefix of the run-record table names.')
param tablePrefix string = 'Tourniquet'

@description('GRAPH_BASE_URL: Microsoft Graph root.')
param graphBaseUrl string = 'https://graph.microsoft.com/v1.0'

@description('EXCHANGE_BASE_URL: Exchange Online admin REST root.')
param exchangeBaseUrl string = 'https://outlook.office365.com/adminapi/beta'

@description('Grant RoleManagement.ReadWrite.Directory and GroupMember.ReadWrite.All (needed only by the remove-admin-roles step and restore).')
param enableAdminRoleRemoval bool = true

@description('Grant the Graph app roles of block-sign-in, remove-mfa-methods and revoke-app-consents (User.EnableDisableAccount.All, UserAuthenticationMethod.ReadWrite.All, DelegatedPermissionGrant.ReadWrite.All; Device.ReadWrite.All for options.blockSignIn.disableDevices).')
param enableGraphContainment bool = true

@description('Assign the Graph and Exchange app roles to the managed identity (needs a deployer allowed to grant app roles, e.g. Privileged Role Administrator).')
param grantApiPermissions bool = true

var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName, application: 'tourniquet' }
var groupName = empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
var storageIsolated = storageNetworkIsolation == 'privateEndpoints'

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: groupName
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: group
  params: {
    location: location
    tags: tags
    name: 'tourniquet-${token}'
  }
}

// Log alerts on the handler's own log lines: the eviction watch saw the attacker return, a
// run failed, a record was changed outside the handler, the lockout guard held a run.
module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: group
  params: {
    location: location
    tags: tags
    appInsightsName: monitoring.outputs.appInsightsName
    actionGroupId: alertActionGroupId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: group
  params: {
    location: location
    tags: tags
    name: 'sttq${token}'
    tablePrefix: tablePrefix
    networkIsolated: storageIsolated
  }
}

// The storage account's private endpoints, and the subnet the function app integrates with.
module network 'modules/network.bicep' = if (storageIsolated) {
  name: 'network'
  scope: group
  params: {
    location: location
    tags: tags
    name: 'vnet-tourniquet-${token}'
    hostingPlan: hostingPlan
    addressPrefix: vnetAddressPrefix
    appSubnetPrefix: appSubnetPrefix
    privateEndpointSubnetPrefix: privateEndpointSubnetPrefix
    storageAccountName: storage.outputs.name
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: group
  params: {
    location: location
    tags: tags
    name: 'func-tourniquet-${token}'
    hostingPlan: hostingPlan
    dedicatedSku: dedicatedSku
    flexMaximumInstanceCount: flexMaximumInstanceCount
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    virtualNetworkSubnetId: storageIsolated ? network!.outputs.appSubnetId : ''
    appInsightsName: monitoring.outputs.appInsightsName
    tenantId: tenant().tenantId
    protectedAccounts: protectedAccounts
    maxRemediationsPerHour: maxRemediationsPerHour
    sweepSchedule: sweepSchedule
    sweepMode: sweepMode
    sweepMaxUsers: sweepMaxUsers
    stepDeadline: stepDeadline
    watchDefault: watchDefault
    watchInterval: watchInterval
    investigationReasonRequired: investigationReasonRequired
    triageTrustedAlerts: triageTrustedAlerts
    authMode: authMode
    approvalMode: approvalMode
    approvalTimeout: approvalTimeout
    recordKey: recordKey
    tablePrefix: tablePrefix
    graphBaseUrl: graphBaseUrl
    exchangeBaseUrl: exchangeBaseUrl
  }
}

module storageRoles 'modules/storage-roles.bicep' = {
  name: 'storage-roles'
  scope: group
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    principalId: functionApp.outputs.principalId
  }
}

module apiPermissions 'modules/graph-permissions.bicep' = if (grantApiPermissions) {
  name: 'graph-permissions'
  scope: group
  params: {
    principalId: functionApp.outputs.principalId
    enableAdminRoleRemoval: enableAdminRoleRemoval
    enableGraphContainment: enableGraphContainment
  }
}

// Under easyauth: the app registration App Service authentication validates tokens for, with
// the four app roles the handler checks. Turning on App Service authentication itself
// (authsettingsV2 with this client id) is a step of docs/security.md.
module appRegistration 'modules/app-registration.bicep' = if (authMode == 'easyauth') {
  name: 'app-registration'
  scope: group
  params: {
    displayName: 'Tourniquet (${environmentName})'
    uniqueName: 'tourniquet-${token}'
  }
}

// azd reads these into the environment (.azure/<env>/.env).
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = group.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = functionApp.outputs.url
output AZURE_FUNCTION_PRINCIPAL_ID string = functionApp.outputs.principalId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
