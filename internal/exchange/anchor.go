package exchange

import (
	"fmt"
	"strings"
)

// Anchor is the X-AnchorMailbox value that routes a request to the right mailbox server.
type Anchor string

const (
	userAnchorPrefix = "UPN:"
	appAnchorPrefix  = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@"
)

// AnchorUser anchors a request on a user's mailbox: "UPN:<upn>".
func AnchorUser(upn string) Anchor { return Anchor(userAnchorPrefix + upn) }

// AnchorApp anchors a tenant-wide request on the organisation's system mailbox.
func AnchorApp(tenantID string) Anchor { return Anchor(appAnchorPrefix + tenantID) }

// validate refuses anchors that would put unchecked text into a header.
func (a Anchor) validate() error {
	s := string(a)
	switch {
	case strings.HasPrefix(s, userAnchorPrefix):
		return validateAddress(strings.TrimPrefix(s, userAnchorPrefix))
	case strings.HasPrefix(s, appAnchorPrefix):
		return validateTenant(strings.TrimPrefix(s, appAnchorPrefix))
	default:
		return fmt.Errorf("%w: anchor %q is neither UPN:<user> nor the tenant system mailbox", ErrInvalidArgument, s)
	}
}
