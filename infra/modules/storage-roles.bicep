// Azure RBAC roles of the function app's managed identity, scoped to the one storage account
// and the one Application Insights component, nothing wider.
param storageAccountName string
param appInsightsName string
param principalId string

// Built-in role definition ids (the same in every tenant).
var storageRoles = [
  {
    name: 'Storage Queue Data Contributor' // queue triggers, and the handler enqueues step messages
    id: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  }
  {
    name: 'Storage Table Data Contributor' // run records (internal/runs)
    id: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  }
  {
    name: 'Storage Blob Data Owner' // host leases and keys, and the Flex Consumption package
    id: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  }
]
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // telemetry with Entra auth

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource storageAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in storageRoles: {
  name: guid(account.id, principalId, role.id)
  scope: account
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.id)
    description: 'Tourniquet function app: ${role.name}'
  }
}]

resource telemetryAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    description: 'Tourniquet function app: Monitoring Metrics Publisher'
  }
}
