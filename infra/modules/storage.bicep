// Storage for the Functions host and Tourniquet: the trigger queues (and their poison twins),
// the run-record tables, and the blob container Flex Consumption deploys from. Shared-key
// access is disabled: everything goes through the app's managed identity (RBAC).
param location string
param tags object
param name string

@description('TOURNIQUET_TABLE_PREFIX: the tables are <prefix>Runs, <prefix>RunIndex, ...')
param tablePrefix string

@description('true: no public network access; the app reaches the account through private endpoints only (network.bicep).')
param networkIsolated bool

// Every queue a function.json binding names (functions.Queues()), and its -poison twin where
// the host moves a message whose retries are exhausted. queues.json is written from the
// function registry by `go generate ./internal/functions` (a test checks it is in sync);
// loadJsonContent reads it when the Bicep file is compiled.
var queueNames = loadJsonContent('queues.json')

// Run-record tables (internal/runs/store.go); the handler also creates them when missing.
var tableSuffixes = [
  'Runs'
  'RunIndex'
  'Keys'
  'Limits'
  'Sweeps'
]

var deploymentContainerName = 'app-package'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // Isolated: every request from outside the private endpoints is refused, trusted Azure
    // services included (bypass None); the queues, tables and container below are created
    // through Azure Resource Manager (control plane), which the firewall rules do not govern
    // (https://learn.microsoft.com/azure/storage/common/storage-network-security-limitations).
    publicNetworkAccess: networkIsolated ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: networkIsolated ? 'Deny' : 'Allow'
      bypass: networkIsolated ? 'None' : 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for suffix in tableSuffixes: {
  parent: tableService
  name: '${tablePrefix}${suffix}'
}]

output name string = account.name
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainerName}'
