package graph

import (
	"context"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// SetAccountEnabled blocks (false) or allows (true) the user's sign-in: PATCH /users/{id}
// with accountEnabled. A user synced from on-premises AD answers 400 Request_BadRequest
// ("...on-premises mastered Directory Sync objects..."), as for a password reset.
func (c *Client) SetAccountEnabled(ctx context.Context, userID string, enabled bool) error {
	const op = "SetAccountEnabled"
	if err := checkUser(op, userID); err != nil {
		return err
	}
	body := models.NewUser()
	body.SetAccountEnabled(&enabled)
	return c.call(ctx, op, func(ctx context.Context) error {
		_, err := c.sdk.Users().ByUserId(userID).Patch(ctx, body, nil)
		return err
	})
}
