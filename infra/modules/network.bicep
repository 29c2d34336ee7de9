// Network isolation of the storage account (main.bicep storageNetworkIsolation =
// 'privateEndpoints'): a virtual network with two subnets, one the function app integrates
// with for its outbound traffic and one for the storage account's private endpoints; one
// private endpoint per storage service the app uses, each with its private DNS zone linked to
// the network, so the account's usual host names resolve to the private addresses inside it.
// storage.bicep then refuses every public request (publicNetworkAccess 'Disabled').
//
// Written without a Bicep compiler (docs/deploy.md): checked against these pages; run
// `az bicep build` (CI does) before use.
// - Flex Consumption virtual network integration: the subnet is delegated to
//   Microsoft.App/environments, serves no private endpoint, and one app may take up to 40
//   addresses: https://learn.microsoft.com/azure/azure-functions/flex-consumption-how-to#enable-virtual-network-integration
//   and https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#considerations
//   (the Microsoft.App resource provider must be registered in the subscription).
// - App Service (dedicated plan) regional virtual network integration: delegation
//   Microsoft.Web/serverFarms: https://learn.microsoft.com/azure/app-service/configure-vnet-integration-enable
// - A function app with a secured storage account (blob, queue and table endpoints):
//   https://learn.microsoft.com/azure/azure-functions/configure-networking-how-to; the same
//   topology in Microsoft's azd template for Flex Consumption (VNET_ENABLED):
//   https://github.com/Azure-Samples/functions-quickstart-dotnet-azd (infra/)
// - Private DNS zone names of the storage services (privatelink.blob.core.windows.net, ...):
//   https://learn.microsoft.com/azure/private-link/private-endpoint-dns#storage
// - Resource schemas: Microsoft.Network/virtualNetworks, privateEndpoints,
//   privateEndpoints/privateDnsZoneGroups (2023-11-01), privateDnsZones and
//   privateDnsZones/virtualNetworkLinks (2020-06-01):
//   https://learn.microsoft.com/azure/templates/microsoft.network/privateendpoints
param location string
param tags object
param name string

@allowed(['flex', 'dedicated'])
param hostingPlan string

@description('Address space of the virtual network.')
param addressPrefix string
@description('Subnet the function app integrates with (outbound).')
param appSubnetPrefix string
@description('Subnet of the storage account\'s private endpoints.')
param privateEndpointSubnetPrefix string

param storageAccountName string

// Every storage service the app uses: blob (the Functions host's leases and keys, the timer's
// schedule, and the Flex Consumption deployment package), queue (the trigger queues, and the
// handler's step messages), table (the run records). infra/consistency_test.go holds this
// list against the app settings.
var storageServices = [
  'blob'
  'queue'
  'table'
]

var appSubnetName = 'snet-app'
var privateEndpointSubnetName = 'snet-private-endpoints'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: appSubnetName
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: [
            {
              name: 'functionapp'
              properties: {
                serviceName: hostingPlan == 'flex' ? 'Microsoft.App/environments' : 'Microsoft.Web/serverFarms'
              }
            }
          ]
        }
      }
      {
        name: privateEndpointSubnetName
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource dnsZones 'Microsoft.Network/privateDnsZones@2020-06-01' = [for service in storageServices: {
  name: 'privatelink.${service}.${environment().suffixes.storage}'
  location: 'global'
  tags: tags
}]

resource dnsLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [for (service, i) in storageServices: {
  parent: dnsZones[i]
  name: '${name}-${service}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}]

resource endpoints 'Microsoft.Network/privateEndpoints@2023-11-01' = [for service in storageServices: {
  name: 'pe-${storageAccountName}-${service}'
  location: location
  tags: tags
  properties: {
    subnet: {
      id: '${vnet.id}/subnets/${privateEndpointSubnetName}'
    }
    privateLinkServiceConnections: [
      {
        name: '${storageAccountName}-${service}'
        properties: {
          privateLinkServiceId: account.id
          groupIds: [
            service
          ]
        }
      }
    ]
  }
}]

// The endpoint's address is written into its service's zone (an A record under the account's
// name), which the account's privatelink CNAME leads to.
resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = [for (service, i) in storageServices: {
  parent: endpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: service
        properties: {
          privateDnsZoneId: dnsZones[i].id
        }
      }
    ]
  }
}]

output appSubnetId string = '${vnet.id}/subnets/${appSubnetName}'
