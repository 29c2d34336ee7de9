// Microsoft Sentinel playbook: on an incident, remediate the accounts an alert marks as
// compromised, with Tourniquet. It first sends the incident to POST /api/triage/sentinel,
// which answers per account remediate, dry_run or skip (recipients of a phishing mail and
// targets of a password spray are never remediated); for each account it then calls
// POST /api/remediations (a dry run for dry_run) with the incident as idempotency key and
// reason, polls GET /api/remediations/{runId} until the run is no longer queued or running,
// and writes the run summary, the dry run's plan or why it skipped as an incident comment.
// The function key comes from Key Vault at run time (the Logic App's managed identity reads
// it); it is never a parameter of this template and never shows in the run history. The
// same key must open http-triage, http-start-remediation and http-remediation (README.md).
// The workflow itself is workflow.json, next to this file. See README.md.

@description('Name of the Logic App (the playbook name shown in Sentinel).')
param playbookName string = 'Tourniquet-Remediate-Accounts'

param location string = resourceGroup().location

@description('Base URL of the Tourniquet function app, e.g. https://func-tourniquet-abc.azurewebsites.net (the AZURE_FUNCTION_APP_URL output).')
param functionBaseUrl string

@description('Key Vault that holds the function key. Created (RBAC mode) unless createKeyVault is false.')
param keyVaultName string

@description('Create the Key Vault; false to use an existing one in this resource group.')
param createKeyVault bool = true

@description('Name of the secret holding the playbook\'s function key (one value set on http-triage, http-start-remediation and http-remediation; never a host key).')
param functionKeySecretName string = 'tourniquet-function-key'

@description('Grant the playbook Microsoft Sentinel Responder on this resource group (the Sentinel workspace is here). False when the workspace lives elsewhere: assign it there (README.md).')
param grantSentinelResponder bool = true

@description('The steps of each run: default (the six of a full remediation) or containment (every step of the catalog: also block sign-in, mail protocols, Exchange role groups, attacker MFA methods, mailbox delegates, app consents, and the investigation of what the attacker did).')
@allowed([
  'default'
  'containment'
])
param stepSet string = 'default'

// Every step of the catalog (GET /api/steps, internal/catalog), for stepSet 'containment';
// infra/consistency_test.go holds this list against the catalog. An empty list asks for the
// default six.
var containmentSteps = [
  'reset-password'
  'block-sign-in'
  'revoke-sessions'
  'remove-forwarding'
  'remove-inbox-rules'
  'remove-admin-roles'
  'remove-exchange-role-groups'
  'disable-mail-protocols'
  'remove-mailbox-delegates'
  'remove-mfa-methods'
  'revoke-app-consents'
  'investigate'
  'unblock-sender'
]

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var sentinelResponder = '3e150937-b8fe-4cfb-8069-0eaf05ecd056'

resource newVault 'Microsoft.KeyVault/vaults@2023-07-01' = if (createKeyVault) {
  name: keyVaultName
  location: location
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// Computed rather than read from the vault, so it does not depend on the vault existing yet.
var functionKeySecretUri = 'https://${keyVaultName}${environment().suffixes.keyvaultDns}/secrets/${functionKeySecretName}'

// The Sentinel connector, authenticated with the Logic App's managed identity.
resource sentinelConnection 'Microsoft.Web/connections@2016-06-01' = {
  name: 'azuresentinel-${playbookName}'
  location: location
  kind: 'V1'
  properties: {
    displayName: playbookName
    parameterValueType: 'Alternative'
    api: {
      id: subscriptionResourceId('Microsoft.Web/locations/managedApis', location, 'azuresentinel')
    }
  }
}

resource playbook 'Microsoft.Logic/workflows@2019-05-01' = {
  name: playbookName
  location: location
  tags: { 'hidden-SentinelTemplateName': 'Tourniquet-Remediate-Accounts' }
  identity: { type: 'SystemAssigned' }
  properties: {
    state: 'Enabled'
    definition: loadJsonContent('workflow.json')
    parameters: {
      '$connections': {
        value: {
          azuresentinel: {
            connectionId: sentinelConnection.id
            connectionName: sentinelConnection.name
            id: subscriptionResourceId('Microsoft.Web/locations/managedApis', location, 'azuresentinel')
            connectionProperties: {
              authentication: { type: 'ManagedServiceIdentity' }
            }
          }
        }
      }
      functionBaseUrl: { value: functionBaseUrl }
      functionKeySecretUri: { value: functionKeySecretUri }
      steps: { value: stepSet == 'containment' ? containmentSteps : [] }
    }
  }
}

// Read the function key, and nothing else in the vault.
resource secretReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, playbook.id, keyVaultSecretsUser)
  scope: vault
  dependsOn: [newVault]
  properties: {
    principalId: playbook.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
  }
}

// Read incidents and entities, write comments.
resource responder 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantSentinelResponder) {
  name: guid(resourceGroup().id, playbook.id, sentinelResponder)
  properties: {
    principalId: playbook.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sentinelResponder)
  }
}

output playbookId string = playbook.id
output playbookPrincipalId string = playbook.identity.principalId
output functionKeySecretUri string = functionKeySecretUri
