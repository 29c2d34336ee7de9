package hostemu

import (
	"fmt"
	"regexp"
	"strings"
)

// Segment kinds of a route template, most specific first; a request path that matches
// several templates goes to the one whose segments rank first (ASP.NET routing does
// the same: literals beat parameters beat catch-alls).
const (
	literalSegment = iota
	mixedSegment   // literal text around parameters, e.g. "file.{ext}"
	paramSegment
	optionalSegment
	catchAllSegment
)

// routeTemplate is a compiled ASP.NET-style route ("remediations/{runId}") under the
// host's route prefix. Parameter constraints ("{id:int}") are accepted but not checked.
type routeTemplate struct {
	template string
	pattern  *regexp.Regexp
	ranks    []int
}

var routeParam = regexp.MustCompile(`\{[^{}]*\}`)

func compileRoute(prefix, template string) (routeTemplate, error) {
	var b strings.Builder
	b.WriteString("(?i)^")
	for _, seg := range strings.Split(prefix, "/") {
		if seg != "" {
			b.WriteString("/" + regexp.QuoteMeta(seg))
		}
	}
	var ranks []int
	for _, seg := range strings.Split(strings.Trim(template, "/"), "/") {
		if seg == "" {
			continue
		}
		rank, expr := compileSegment(seg)
		ranks = append(ranks, rank)
		b.WriteString(expr)
	}
	b.WriteString("/?$")
	pattern, err := regexp.Compile(b.String())
	if err != nil {
		return routeTemplate{}, fmt.Errorf("route %q: %w", template, err)
	}
	return routeTemplate{template: template, pattern: pattern, ranks: ranks}, nil
}

// compileSegment returns the segment's rank and its regular expression, which includes
// the leading slash (optional segments may be absent together with their slash).
func compileSegment(seg string) (int, string) {
	whole := routeParam.FindString(seg) == seg
	if whole {
		name := strings.Trim(seg, "{}")
		switch {
		case strings.HasPrefix(name, "*"):
			return catchAllSegment, `(?:/.*)?`
		case strings.HasSuffix(name, "?") || strings.Contains(name, "="):
			return optionalSegment, `(?:/[^/]+)?`
		default:
			return paramSegment, `/[^/]+`
		}
	}
	if !strings.Contains(seg, "{") {
		return literalSegment, "/" + regexp.QuoteMeta(seg)
	}
	var b strings.Builder
	b.WriteString("/")
	last := 0
	for _, loc := range routeParam.FindAllStringIndex(seg, -1) {
		b.WriteString(regexp.QuoteMeta(seg[last:loc[0]]))
		b.WriteString(`[^/]+?`)
		last = loc[1]
	}
	b.WriteString(regexp.QuoteMeta(seg[last:]))
	return mixedSegment, b.String()
}

func (r routeTemplate) matches(path string) bool {
	return r.pattern != nil && r.pattern.MatchString(path)
}

// moreSpecificThan compares segment ranks left to right; on a tie the longer template
// is the more specific one.
func (r routeTemplate) moreSpecificThan(other routeTemplate) bool {
	for i := 0; i < len(r.ranks) && i < len(other.ranks); i++ {
		if r.ranks[i] != other.ranks[i] {
			return r.ranks[i] < other.ranks[i]
		}
	}
	return len(r.ranks) > len(other.ranks)
}

// matchHTTPFunction picks the HTTP function for a request: its route must match the path
// and its methods (if any are listed) the method, case-insensitively. A path that
// matches only with another method is not found, as on the real host.
func matchHTTPFunction(functions []*function, method, path string) *function {
	var best *function
	for _, fn := range functions {
		if fn.kind != httpTrigger || !fn.route.matches(path) || !fn.allowsMethod(method) {
			continue
		}
		if best == nil || fn.route.moreSpecificThan(best.route) {
			best = fn
		}
	}
	return best
}

func (fn *function) allowsMethod(method string) bool {
	if len(fn.methods) == 0 {
		return true
	}
	for _, m := range fn.methods {
		if strings.EqualFold(m, method) {
			return true
		}
	}
	return false
}
