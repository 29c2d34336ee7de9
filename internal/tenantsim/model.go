package tenantsim

import "time"

// User is a directory user as the simulator holds it.
type User struct {
	ID                    string
	UserPrincipalName     string
	DisplayName           string
	Mail                  string
	OnPremisesSyncEnabled bool // true for users synced from on-premises AD
	AccountEnabled        bool
	// HomeDirectoryPassword marks a B2B guest whose password belongs to its home
	// organisation: a password reset here answers 403 "Insufficient privileges to complete
	// the operation." (as public reports of guest resets show; the portal says "This is not
	// the home directory for ..."). A UPN with #EXT# makes userType "Guest".
	HomeDirectoryPassword bool
}

// Mailbox is the forwarding-relevant part of a user's Exchange mailbox.
// Empty strings stand for the JSON null the service answers.
type Mailbox struct {
	Identity                   string
	Name                       string
	Alias                      string
	UserPrincipalName          string
	PrimarySmtpAddress         string
	ExternalDirectoryObjectID  string
	ForwardingAddress          string
	ForwardingSmtpAddress      string // "smtp:<address>" once set
	DeliverToMailboxAndForward bool
}

// InboxRule has every field of the Get-InboxRule shape Tourniquet reads, plus Hidden, which
// the service never shows as a property (a hidden rule is only listed with IncludeHidden).
// Recipients in the *To lists and From look like `"Name" [SMTP:addr@domain]` (see Recipient);
// MoveToFolder looks like `<mailbox alias>:\<folder>`. Identity, RuleIdentity, Priority and
// MailboxOwnerID are assigned by AddInboxRule.
type InboxRule struct {
	Identity                      string
	RuleIdentity                  string
	Name                          string
	Enabled                       bool
	Priority                      int
	Description                   string // generated from the rule when empty
	From                          []string
	ForwardTo                     []string
	RedirectTo                    []string
	ForwardAsAttachmentTo         []string
	DeleteMessage                 bool
	MarkAsRead                    bool
	MarkImportance                string
	FlaggedForAction              string
	MoveToFolder                  string
	SubjectContainsWords          []string
	BodyContainsWords             []string
	SubjectOrBodyContainsWords    []string
	FromAddressContainsWords      []string
	SendTextMessageNotificationTo []string
	StopProcessingRules           bool
	MailboxOwnerID                string
	Hidden                        bool
}

// Recipient formats a recipient the way Exchange shows it in inbox rule lists.
func Recipient(name, address string) string {
	return `"` + name + `" [SMTP:` + address + `]`
}

// RoleDefinition is an Entra directory role (built-in or custom).
type RoleDefinition struct {
	ID          string
	DisplayName string
	Description string
	IsBuiltIn   bool
	TemplateID  string // defaults to ID
}

// RoleAssignment is an active role assignment as listed by roleManagement/directory/roleAssignments.
type RoleAssignment struct {
	ID               string
	PrincipalID      string
	RoleDefinitionID string
	DirectoryScopeID string
	// ScheduleID links an assignment created through PIM to its active schedule; empty
	// for direct assignments.
	ScheduleID string
}

// RoleSchedule is a PIM eligibility schedule or a PIM active assignment schedule.
type RoleSchedule struct {
	ID               string
	PrincipalID      string
	RoleDefinitionID string
	DirectoryScopeID string
	MemberType       string // "Direct"
	Status           string // "Provisioned"
	AssignmentType   string // "Assigned" for active schedules, empty for eligibility ones
	Start            time.Time
	End              time.Time // zero: noExpiration
	// AssignmentID is the roleAssignment that an active schedule produced.
	AssignmentID string
}

// Group is a directory group.
type Group struct {
	ID                 string
	DisplayName        string
	IsAssignableToRole bool
}

// BlockedSender is an entry of the Restricted users list (Get-BlockedSenderAddress).
type BlockedSender struct {
	SenderAddress string
	Reason        string
	Identity      string
	Created       time.Time
	Changed       time.Time
}

// PasswordReset records one accepted passwordProfile change, for tests only.
type PasswordReset struct {
	Password    string
	ForceChange bool
	At          time.Time
}

// Service names used in Request.Service.
const (
	ServiceGraph    = "graph"
	ServiceExchange = "exchange"
	ServiceIdentity = "identity"
)

// Request is one request the simulator served (sub-requests of a Graph $batch included,
// with InBatch set). Status 0 means the connection was dropped on purpose.
type Request struct {
	Method     string
	Path       string
	RawQuery   string
	Service    string
	Cmdlet     string // Exchange only
	Authorized bool
	Status     int
	Body       []byte // decompressed
	// ContentEncoding is the request's Content-Encoding header ("gzip" from the Graph SDK).
	ContentEncoding string
	InBatch         bool
	// Start and End are when the simulator received the request and answered it
	// (benchmarks derive the chain of dependent requests from them).
	Start, End time.Time
}

// Demo names what SeedDemo created.
type Demo struct {
	UserID string // the compromised user
	UPN    string

	ManagerID, ManagerUPN         string
	AssistantID, AssistantUPN     string
	GlobalAdminID, GlobalAdminUPN string
	SyncedUserID, SyncedUPN       string
	BreakGlassID, BreakGlassUPN   string

	HelpdeskGroupID string // role-assignable group holding User Administrator
	AllStaffGroupID string // ordinary group without roles
	CustomRoleID    string // "Contoso Mail Auditor"

	DirectAssignmentIDs []string // Exchange Administrator, Contoso Mail Auditor
	EligibleScheduleID  string   // Security Administrator

	ExchangeRoleGroups []string // Exchange admin role groups the user is a direct member of

	SuspiciousRules []string // rule identities
	BenignRules     []string
	SystemRules     []string

	// Authentication methods and app consents (seedDemoAuth).
	AttackerMethodID string   // Microsoft Authenticator the attacker registered 2 h 45 min ago
	UserMethodIDs    []string // the user's own: mobile phone (the default), Authenticator, FIDO2 key
	AttackerSince    string   // RFC 3339: after the user's own methods, before the attacker's
	IllicitAppID     string   // service principal of the app the user consented to
	GraphResourceID  string   // the tenant's Microsoft Graph service principal
	IllicitGrantID   string   // the user's own (Principal) grant to the illicit app
	AdminGrantID     string   // a tenant-wide (AllPrincipals) grant, never the user's to revoke
	OtherUserGrantID string   // Alex Wilber's own grant, never Adele's

	// Devices (seedDemoDevices).
	AttackerDeviceID string   // the Windows PC the attacker registered 2 h 30 min ago
	UserDeviceIDs    []string // hers, registered months ago: a Windows laptop, an iPhone
}
