package exchange

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// maxPages stops a server that keeps handing out nextLinks (a bug, or a loop).
const maxPages = 1000

type commandBody struct {
	CmdletInput cmdletInput `json:"CmdletInput"`
}

type cmdletInput struct {
	CmdletName string         `json:"CmdletName"`
	Parameters map[string]any `json:"Parameters"`
}

type resultPage struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

// Invoke runs one cmdlet and returns every result item, following @odata.nextLink by
// POSTing the same body. Service failures come back as *Error; refused arguments wrap
// ErrInvalidArgument.
func (c *Client) Invoke(ctx context.Context, anchor Anchor, cmdlet string, params map[string]any) ([]json.RawMessage, error) {
	items, err := c.invoke(ctx, anchor, cmdlet, params)
	if err != nil {
		return nil, fmt.Errorf("exchange.Invoke: %w", err)
	}
	return items, nil
}

func (c *Client) invoke(ctx context.Context, anchor Anchor, cmdlet string, params map[string]any) ([]json.RawMessage, error) {
	if err := validateCmdlet(cmdlet); err != nil {
		return nil, err
	}
	if err := anchor.validate(); err != nil {
		return nil, err
	}
	_, hasMailbox := params["Mailbox"]
	_, hasIdentity := params["Identity"]
	if hasMailbox && hasIdentity {
		// Exchange resolves the two differently and some cmdlets act on the wrong object.
		return nil, fmt.Errorf("%w: %s: pass Mailbox or Identity, not both", ErrInvalidArgument, cmdlet)
	}
	if params == nil {
		params = map[string]any{}
	}
	body, err := json.Marshal(commandBody{CmdletInput: cmdletInput{CmdletName: cmdlet, Parameters: params}})
	if err != nil {
		return nil, fmt.Errorf("%w: %s parameters cannot be encoded: %v", ErrInvalidArgument, cmdlet, err)
	}

	var items []json.RawMessage
	target := c.endpoint.String()
	visited := map[string]bool{}
	for page := 1; ; page++ {
		status, answer, err := c.send(ctx, cmdlet, anchor, target, body)
		if err != nil {
			return nil, err
		}
		if len(answer) == 0 {
			return items, nil // 204, or a cmdlet that answered with nothing at all
		}
		var p resultPage
		if err := json.Unmarshal(answer, &p); err != nil {
			return nil, &Error{Cmdlet: cmdlet, Status: status, Code: "InvalidResponse", Message: tidy("answer is not a result page: " + err.Error())}
		}
		items = append(items, p.Value...)
		if p.NextLink == "" {
			return items, nil
		}
		visited[target] = true
		next, err := c.checkNextLink(p.NextLink)
		if err != nil || visited[next] || page >= maxPages {
			reason := "it repeats a page or exceeds the page limit"
			if err != nil {
				reason = err.Error()
			}
			return nil, &Error{Cmdlet: cmdlet, Status: status, Code: "InvalidResponse", Message: "refusing to follow @odata.nextLink: " + reason}
		}
		target = next
	}
}

// checkNextLink accepts only absolute links to the same scheme and host as the endpoint:
// the request carries a bearer token, which must not go anywhere else.
func (c *Client) checkNextLink(link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil || !u.IsAbs() {
		return "", fmt.Errorf("%q is not an absolute URL", link)
	}
	if u.Scheme != c.endpoint.Scheme || !strings.EqualFold(u.Host, c.endpoint.Host) {
		return "", fmt.Errorf("%q points outside %s://%s", link, c.endpoint.Scheme, c.endpoint.Host)
	}
	return u.String(), nil
}
