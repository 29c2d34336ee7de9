package graph

import (
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoft/kiota-abstractions-go/store"
	kform "github.com/microsoft/kiota-serialization-form-go"
	kjson "github.com/microsoft/kiota-serialization-json-go"
	kmultipart "github.com/microsoft/kiota-serialization-multipart-go"
	ktext "github.com/microsoft/kiota-serialization-text-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/auditlogs"
	"github.com/microsoftgraph/msgraph-sdk-go/devices"
	"github.com/microsoftgraph/msgraph-sdk-go/domains"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/identitygovernance"
	"github.com/microsoftgraph/msgraph-sdk-go/oauth2permissiongrants"
	"github.com/microsoftgraph/msgraph-sdk-go/rolemanagement"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// sdkVersion is the version of msgraph-sdk-go in go.mod. Graph's telemetry header (SdkVersion)
// names it as the SDK's own client would (TestSDKVersionIsTheModulesVersion keeps it in step).
const sdkVersion = "1.89.0"

// clientOptions are what msgraph-sdk-go's GetDefaultClientOptions answers for v1.0.
var clientOptions = core.GraphClientOptions{GraphServiceLibraryVersion: sdkVersion}

// RequestBuilders stands in for msgraph-sdk-go's GraphServiceClient, built the same way on
// the same request adapter, with only the request builders this package calls. The root
// package imports every one of Graph's request-builder packages (about 80, most of the
// SDK's compile time and of its link), so it is not imported: a cold build compiles only
// these nine and what they use (issue 25; docs/performance.md has the figures), and a
// repocheck test keeps the root package out.
type RequestBuilders struct {
	adapter abs.RequestAdapter
	path    map[string]string
}

// NewRequestBuilders does what the SDK's NewGraphBaseServiceClient does to the adapter:
// the default serialisers and parsers, the base URL, and the models' backing store.
func NewRequestBuilders(adapter abs.RequestAdapter) *RequestBuilders {
	abs.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory { return kjson.NewJsonSerializationWriterFactory() })
	abs.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory { return ktext.NewTextSerializationWriterFactory() })
	abs.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory { return kform.NewFormSerializationWriterFactory() })
	abs.RegisterDefaultSerializer(func() serialization.SerializationWriterFactory {
		return kmultipart.NewMultipartSerializationWriterFactory()
	})
	abs.RegisterDefaultDeserializer(func() serialization.ParseNodeFactory { return kjson.NewJsonParseNodeFactory() })
	abs.RegisterDefaultDeserializer(func() serialization.ParseNodeFactory { return ktext.NewTextParseNodeFactory() })
	abs.RegisterDefaultDeserializer(func() serialization.ParseNodeFactory { return kform.NewFormParseNodeFactory() })
	if adapter.GetBaseUrl() == "" {
		adapter.SetBaseUrl(DefaultBaseURL)
	}
	adapter.EnableBackingStore(store.BackingStoreFactoryInstance)
	return &RequestBuilders{adapter: adapter, path: map[string]string{"baseurl": adapter.GetBaseUrl()}}
}

// Adapter is the request adapter the builders send through.
func (b *RequestBuilders) Adapter() abs.RequestAdapter { return b.adapter }

func (b *RequestBuilders) Users() *users.UsersRequestBuilder {
	return users.NewUsersRequestBuilderInternal(b.path, b.adapter)
}

func (b *RequestBuilders) Groups() *groups.GroupsRequestBuilder {
	return groups.NewGroupsRequestBuilderInternal(b.path, b.adapter)
}

func (b *RequestBuilders) RoleManagement() *rolemanagement.RoleManagementRequestBuilder {
	return rolemanagement.NewRoleManagementRequestBuilderInternal(b.path, b.adapter)
}

func (b *RequestBuilders) IdentityGovernance() *identitygovernance.IdentityGovernanceRequestBuilder {
	return identitygovernance.NewIdentityGovernanceRequestBuilderInternal(b.path, b.adapter)
}

func (b *RequestBuilders) ServicePrincipals() *serviceprincipals.ServicePrincipalsRequestBuilder {
	return serviceprincipals.NewServicePrincipalsRequestBuilderInternal(b.path, b.adapter)
}

func (b *RequestBuilders) Oauth2PermissionGrants() *oauth2permissiongrants.Oauth2PermissionGrantsRequestBuilder {
	return oauth2permissiongrants.NewOauth2PermissionGrantsRequestBuilderInternal(b.path, b.adapter)
}

func (b *RequestBuilders) AuditLogs() *auditlogs.AuditLogsRequestBuilder {
	return auditlogs.NewAuditLogsRequestBuilderInternal(b.path, b.adapter)
}

func (b *RequestBuilders) Devices() *devices.DevicesRequestBuilder {
	return devices.NewDevicesRequestBuilderInternal(b.path, b.adapter)
}

func (b *RequestBuilders) Domains() *domains.DomainsRequestBuilder {
	return domains.NewDomainsRequestBuilderInternal(b.path, b.adapter)
}
