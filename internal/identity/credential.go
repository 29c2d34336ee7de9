// Package identity builds the Azure credential Tourniquet uses for Graph and Exchange:
// the Functions app's managed identity, with the Azure CLI login as the fallback for a
// developer running the handler locally.
package identity

import (
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// NewCredential returns the managed identity credential chained with the Azure CLI
// credential.
//
// On App Service / Functions (IDENTITY_ENDPOINT and IDENTITY_HEADER set) or another host
// that announces a managed identity endpoint, the managed identity comes first and the
// CLI is only a fallback. Elsewhere the managed identity could only be reached through
// IMDS, which on a developer machine fails after long timeouts, so the CLI comes first
// there. AZURE_CLIENT_ID selects a user-assigned identity (system-assigned otherwise);
// AZURE_TENANT_ID pins the CLI credential to the tenant.
//
// getenv (os.Getenv when nil) decides these choices; azidentity itself reads the
// endpoint variables from the process environment.
func NewCredential(getenv func(string) string) (azcore.TokenCredential, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	miOptions := &azidentity.ManagedIdentityCredentialOptions{}
	if clientID := getenv("AZURE_CLIENT_ID"); clientID != "" {
		miOptions.ID = azidentity.ClientID(clientID)
	}
	managed, err := azidentity.NewManagedIdentityCredential(miOptions)
	if err != nil {
		return nil, fmt.Errorf("identity.NewCredential: managed identity: %w", err)
	}
	cli, err := azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: getenv("AZURE_TENANT_ID")})
	if err != nil {
		return nil, fmt.Errorf("identity.NewCredential: Azure CLI: %w", err)
	}
	chain, err := azidentity.NewChainedTokenCredential(orderSources(getenv, managed, cli), nil)
	if err != nil {
		return nil, fmt.Errorf("identity.NewCredential: chain: %w", err)
	}
	return chain, nil
}

// orderSources puts the managed identity first where the host announces its endpoint,
// else the developer's CLI login first. The chain moves on only when a source is
// unavailable; a managed identity that answers with an error stops it.
func orderSources(getenv func(string) string, managed, cli azcore.TokenCredential) []azcore.TokenCredential {
	if hasManagedIdentityEndpoint(getenv) {
		return []azcore.TokenCredential{managed, cli}
	}
	return []azcore.TokenCredential{cli, managed}
}

// hasManagedIdentityEndpoint reports whether the host announces a managed identity
// endpoint: App Service / Functions, Cloud Shell, Azure Arc or Service Fabric.
func hasManagedIdentityEndpoint(getenv func(string) string) bool {
	if getenv("IDENTITY_ENDPOINT") != "" && getenv("IDENTITY_HEADER") != "" {
		return true
	}
	return getenv("MSI_ENDPOINT") != "" || getenv("IMDS_ENDPOINT") != ""
}
