package graph

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// maxPages stops a listing whose nextLinks never end (a misbehaving server or proxy).
const maxPages = 1000

// page is what every Graph collection response offers.
type page[T any] interface {
	GetValue() []T
	GetOdataNextLink() *string
}

// listAll fetches the first page with first, then follows each absolute @odata.nextLink
// with next (the request builder's WithUrl), until a page has none. Each page is its own
// call: its own deadline, retries and error mapping.
//
// The core library's PageIterator is not used: it maps errors on later pages only
// through a process-wide registry, so a failed second page would lose Graph's status,
// code and message.
func listAll[T any, P page[T]](ctx context.Context, c *Client, op string,
	first func(ctx context.Context) (P, error), next func(ctx context.Context, link string) (P, error),
) ([]T, error) {
	return listAllUnder(ctx, c, op, c.baseURL, first, next)
}

// listAllUnder is listAll for a listing whose nextLinks stay under root (the beta
// endpoint's listings page under /beta, not under the configured v1.0 root).
func listAllUnder[T any, P page[T]](ctx context.Context, c *Client, op, root string,
	first func(ctx context.Context) (P, error), next func(ctx context.Context, link string) (P, error),
) ([]T, error) {
	var items []T
	link := ""
	for pageNumber := 0; ; pageNumber++ {
		if pageNumber == maxPages {
			return nil, &Error{Op: op, Message: fmt.Sprintf("more than %d pages; giving up", maxPages)}
		}
		var current P
		err := c.call(ctx, op, func(ctx context.Context) error {
			var err error
			if link == "" {
				current, err = first(ctx)
			} else {
				current, err = next(ctx, link)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if isNil(current) {
			return items, nil
		}
		items = append(items, current.GetValue()...)
		nextLink := deref(current.GetOdataNextLink())
		if nextLink == "" {
			return items, nil
		}
		if err := checkNextLinkUnder(nextLink, root); err != nil {
			return nil, &Error{Op: op, Message: err.Error()}
		}
		link = nextLink
	}
}

// checkNextLinkUnder accepts only absolute links under the listing's Graph root, so a
// listing never wanders to another host (where the token would not be sent anyway).
func checkNextLinkUnder(link, root string) error {
	u, err := url.Parse(link)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("@odata.nextLink is not an absolute URL")
	}
	base, err := url.Parse(root) // the configured root was checked in New
	if err != nil {
		return fmt.Errorf("root %q: %w", root, err)
	}
	if !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) ||
		!strings.HasPrefix(u.Path, base.Path+"/") {
		return fmt.Errorf("@odata.nextLink %s://%s%s is outside %s", u.Scheme, u.Host, u.Path, root)
	}
	return nil
}

// isNil reports whether a collection response interface holds nothing (the SDK returns
// a nil response for an empty 2xx body).
func isNil[P any](p P) bool {
	var v any = p
	return v == nil
}
