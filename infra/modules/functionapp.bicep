// The function app: Linux, custom handler (the Go `handler` executable), system-assigned
// managed identity, HTTPS only, TLS 1.2, no basic-auth publishing. Flex Consumption by
// default; a Linux App Service plan where Flex Consumption is not offered.
param location string
param tags object
param name string

@allowed(['flex', 'dedicated'])
param hostingPlan string
param dedicatedSku string
param flexMaximumInstanceCount int

param storageAccountName string
param deploymentContainerUrl string
@description('Subnet the app integrates with for its outbound traffic (network.bicep); empty: none.')
param virtualNetworkSubnetId string = ''
param appInsightsName string
param tenantId string

param protectedAccounts string
param maxRemediationsPerHour string
param sweepSchedule string
param sweepMode string
param sweepMaxUsers string
param stepDeadline string
param watchDefault string
param watchInterval string
param investigationReasonRequired string
param triageTrustedAlerts string
param authMode string
param approvalMode string
param approvalTimeout string
@secure()
param recordKey string
param tablePrefix string
param graphBaseUrl string
param exchangeBaseUrl string

var isFlex = hostingPlan == 'flex'
var vnetIntegrated = !empty(virtualNetworkSubnetId)

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: isFlex ? 'functionapp' : 'linux'
  sku: isFlex ? { name: 'FC1', tier: 'FlexConsumption' } : { name: dedicatedSku }
  properties: {
    reserved: true // Linux
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd finds the deployment target of service "api" (azure.yaml) by this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientAffinityEnabled: false
    // Outbound traffic through the virtual network, where the storage account's private
    // endpoints and their DNS zones are (storageNetworkIsolation in main.bicep).
    virtualNetworkSubnetId: vnetIntegrated ? virtualNetworkSubnetId : null
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      alwaysOn: isFlex ? null : true
      // A dedicated plan sends only private (RFC 1918) traffic into the network unless told
      // to route all of it; Flex Consumption needs no such setting.
      vnetRouteAllEnabled: (vnetIntegrated && !isFlex) ? true : null
    }
    // Flex Consumption only: the custom runtime, the package container (read with the
    // identity), and the scale limit.
    functionAppConfig: isFlex ? {
      runtime: { name: 'custom', version: '1.0' }
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: flexMaximumInstanceCount
        instanceMemoryMB: 2048
      }
    } : null
  }
}

// Deployments authenticate with Entra ID (azd, az CLI); no publishing passwords.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: { allow: false }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: { allow: false }
}

// Every setting the handler reads (internal/config Settings), with safe defaults. Two are
// deliberately absent: FUNCTIONS_CUSTOMHANDLER_PORT (the host sets it) and the
// AzureWebJobsStorage connection string (shared keys are disabled; the identity-based
// AzureWebJobsStorage__* settings below replace it). infra/consistency_test.go checks this.
var tourniquetSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__queueServiceUri: 'https://${storageAccountName}.queue.${environment().suffixes.storage}'
  AzureWebJobsStorage__tableServiceUri: 'https://${storageAccountName}.table.${environment().suffixes.storage}'
  TOURNIQUET_TABLE_PREFIX: tablePrefix
  AZURE_TENANT_ID: tenantId
  AZURE_CLIENT_ID: '' // empty: the system-assigned identity
  GRAPH_BASE_URL: graphBaseUrl
  EXCHANGE_BASE_URL: exchangeBaseUrl
  PROTECTED_ACCOUNTS: protectedAccounts
  MAX_REMEDIATIONS_PER_HOUR: maxRemediationsPerHour
  SWEEP_SCHEDULE: sweepSchedule
  SWEEP_MODE: sweepMode
  SWEEP_MAX_USERS: sweepMaxUsers
  STEP_DEADLINE: stepDeadline
  WATCH_DEFAULT: watchDefault
  WATCH_INTERVAL: watchInterval
  INVESTIGATION_REASON_REQUIRED: investigationReasonRequired
  TRIAGE_TRUSTED_ALERTS: triageTrustedAlerts
  AUTH_MODE: authMode
  APPROVAL_MODE: approvalMode
  APPROVAL_TIMEOUT: approvalTimeout
  TOURNIQUET_RECORD_KEY: recordKey
}

// Settings of the Functions host itself.
var hostSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
}

// Flex Consumption rejects these two (functionAppConfig.runtime replaces them); a dedicated
// plan needs them.
var dedicatedSettings = isFlex ? {} : {
  FUNCTIONS_EXTENSION_VERSION: '~4'
  FUNCTIONS_WORKER_RUNTIME: 'custom'
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(tourniquetSettings, hostSettings, dedicatedSettings)
}

output name string = site.name
output url string = 'https://${site.properties.defaultHostName}'
output principalId string = site.identity.principalId
