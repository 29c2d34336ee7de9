// Storage for the Functions host and Tourniquet: the trigger queues (and their poison twins),
// the run-record tables, and the blob container Flex Consumption deploys from. Shared-key
// access is disabled: everything goes through the app's managed identity (RBAC).
param location string
param tags object
param name string

@description('TOURNIQUET_TABLE_PREFIX: the tables are <prefix>Runs, <prefix>RunIndex, ...')
param tablePrefix string

// Every queue a function.json binding names (functions.Queues()), and its -poison twin where
// the host moves a message whose retries are exhausted. infra/consistency_test.go holds this
// list against the code.
var queueNames = [
  'remediations'
  'remediations-poison'
  'step-reset-password'
  'step-reset-password-poison'
  'step-revoke-sessions'
  'step-revoke-sessions-poison'
  'step-remove-forwarding'
  'step-remove-forwarding-poison'
  'step-remove-inbox-rules'
  'step-remove-inbox-rules-poison'
  'step-remove-admin-roles'
  'step-remove-admin-roles-poison'
  'step-unblock-sender'
  'step-unblock-sender-poison'
  'step-block-sign-in'
  'step-block-sign-in-poison'
  'step-remove-exchange-role-groups'
  'step-remove-exchange-role-groups-poison'
  'step-disable-mail-protocols'
  'step-disable-mail-protocols-poison'
  'step-remove-mailbox-delegates'
  'step-remove-mailbox-delegates-poison'
  'step-remove-mfa-methods'
  'step-remove-mfa-methods-poison'
  'step-revoke-app-consents'
  'step-revoke-app-consents-poison'
  'step-investigate'
  'step-investigate-poison'
]

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
    publicNetworkAccess: 'Enabled'
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
