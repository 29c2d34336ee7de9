package tenantsim

import (
	"cmp"
	"encoding/base64"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// querySpec says which OData query options a Graph route accepts. Anything else answers
// 400, so a client relying on an option the simulator does not implement notices.
type querySpec struct {
	entity       string   // OData type for messages, e.g. "microsoft.graph.user"
	filterFields []string // properties accepted in "$filter=<field> eq '<value>'"
	selectable   []string // canonical property names; nil: $select accepted and ignored
	expandable   []string // navigation properties accepted in $expand
	paged        bool     // $top and $skiptoken accepted
	maxTop       int      // the largest $top; 0: Graph's usual 999
}

// queryOptions is a parsed query.
type queryOptions struct {
	filterField, filterValue string
	selectFields             []string // canonical names, nil when $select is absent
	expand                   map[string]bool
	top                      int // 0: the simulator's page size
	skip                     int
}

// Graph v1.0 accepts system query options with or without the "$" prefix.
var systemQueryOptions = map[string]bool{
	"filter": true, "select": true, "expand": true, "top": true, "skiptoken": true,
	"orderby": true, "search": true, "count": true, "skip": true, "format": true,
	"apply": true, "compute": true, "deltatoken": true,
}

var filterEqPattern = regexp.MustCompile(`^\s*([A-Za-z]+)\s+eq\s+'((?:[^']|'')*)'\s*$`)

const maxTop = 999

func parseQuery(q url.Values, spec querySpec) (queryOptions, *graphResult) {
	var opts queryOptions
	fail := func(msg string) (queryOptions, *graphResult) {
		r := graphBadRequest(msg)
		return queryOptions{}, &r
	}
	for key, values := range q {
		name := strings.ToLower(strings.TrimPrefix(key, "$"))
		if !systemQueryOptions[name] {
			continue // not an OData option (e.g. "@id" on members/$ref)
		}
		value := values[0]
		switch name {
		case "filter":
			m := filterEqPattern.FindStringSubmatch(value)
			if m == nil {
				return fail("Invalid filter clause: the tenant simulator supports only \"<property> eq '<value>'\".")
			}
			field, ok := canonicalName(m[1], spec.filterFields)
			if !ok {
				return fail("Invalid filter clause: filtering on '" + m[1] + "' is not supported for " + spec.entity + ".")
			}
			opts.filterField, opts.filterValue = field, strings.ReplaceAll(m[2], "''", "'")
		case "select":
			fields, err := parseSelect(value, spec)
			if err != nil {
				return queryOptions{}, err
			}
			opts.selectFields = fields
		case "expand":
			opts.expand = map[string]bool{}
			for _, part := range strings.Split(value, ",") {
				nav, ok := canonicalName(strings.TrimSpace(part), spec.expandable)
				if !ok {
					return fail("Parsing OData Select and Expand failed: Could not find a property named '" + strings.TrimSpace(part) + "' on type '" + spec.entity + "'.")
				}
				opts.expand[nav] = true
			}
		case "top":
			n, err := strconv.Atoi(value)
			limit := cmp.Or(spec.maxTop, maxTop)
			if !spec.paged || err != nil || n < 1 || n > limit {
				return fail("Invalid page size specified: '" + value + "'. Must be between 1 and " + strconv.Itoa(limit) + " inclusive.")
			}
			opts.top = n
		case "skiptoken":
			n, ok := decodeSkipToken(value)
			if !spec.paged || !ok {
				return fail("The skip token '" + value + "' is not valid.")
			}
			opts.skip = n
		default:
			return fail("Query option '$" + name + "' is not supported by the tenant simulator.")
		}
	}
	return opts, nil
}

func parseSelect(value string, spec querySpec) ([]string, *graphResult) {
	var fields []string
	for _, part := range strings.Split(value, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if spec.selectable == nil {
			fields = append(fields, part)
			continue
		}
		name, ok := canonicalName(part, spec.selectable)
		if !ok {
			r := graphErr(400, "Request_BadRequest", "Could not find a property named '"+part+"' on type '"+spec.entity+"'.")
			return nil, &r
		}
		fields = append(fields, name)
	}
	return fields, nil
}

// canonicalName finds name among allowed, ignoring case as Graph does.
func canonicalName(name string, allowed []string) (string, bool) {
	for _, a := range allowed {
		if strings.EqualFold(a, name) {
			return a, true
		}
	}
	return "", false
}

func encodeSkipToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("tenantsim:" + strconv.Itoa(offset)))
}

func decodeSkipToken(tok string) (int, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(raw), "tenantsim:"))
	if err != nil || n < 0 || !strings.HasPrefix(string(raw), "tenantsim:") {
		return 0, false
	}
	return n, true
}

// encodeQuery writes a query the way Graph writes links: "$" kept, spaces as %20, keys
// sorted, $skiptoken last.
func encodeQuery(q url.Values, skipToken string) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if strings.EqualFold(strings.TrimPrefix(k, "$"), "skiptoken") {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range q[k] {
			parts = append(parts, escapeQueryPart(k)+"="+escapeQueryPart(v))
		}
	}
	if skipToken != "" {
		parts = append(parts, "$skiptoken="+escapeQueryPart(skipToken))
	}
	return strings.Join(parts, "&")
}

func escapeQueryPart(s string) string {
	e := strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
	// Keep the characters Graph leaves readable in its links.
	return strings.NewReplacer("%24", "$", "%27", "'", "%2C", ",", "%28", "(", "%29", ")").Replace(e)
}

// pageItems answers one page of a collection with an absolute @odata.nextLink when more
// items follow.
func (s *Sim) pageItems(c *graphCall, opts queryOptions, context string, items []map[string]any) graphResult {
	size := s.opts.PageSize
	if opts.top > 0 {
		size = opts.top
	}
	start := min(opts.skip, len(items))
	end := min(start+size, len(items))
	value := items[start:end]
	if value == nil {
		value = []map[string]any{}
	}
	body := map[string]any{"@odata.context": c.metadataURL(context), "value": value}
	if end < len(items) {
		body["@odata.nextLink"] = c.root() + c.path + "?" + encodeQuery(c.query, encodeSkipToken(end))
	}
	return graphOK(body)
}

// project keeps only the selected properties of an entity (all when selectFields is nil).
// "@odata.type" stays, as Graph keeps it on derived types.
func project(entity map[string]any, selectFields []string, defaults []string) map[string]any {
	keep := selectFields
	if keep == nil {
		keep = defaults
	}
	out := make(map[string]any, len(keep)+1)
	if t, ok := entity["@odata.type"]; ok {
		out["@odata.type"] = t
	}
	for _, k := range keep {
		out[k] = entity[k]
	}
	return out
}

// selectSuffix renders "(a,b)" for an @odata.context when $select is present.
func selectSuffix(fields []string) string {
	if fields == nil {
		return ""
	}
	return "(" + strings.Join(fields, ",") + ")"
}
