// Package ident validates the identifiers of Entra ID users (object ids and user principal
// names) before they reach a URL path, an OData $filter or a cmdlet parameter. It is a leaf
// package, so it can be fuzzed without building the Graph SDK.
package ident

import (
	"regexp"
	"strings"
)

var (
	guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

	// Entra ID accepts letters, digits and ' . - _ ! # ^ ~ before the "@".
	upnLocalPattern = regexp.MustCompile(`^[A-Za-z0-9'._!#^~-]+$`)
	dnsLabelPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$`)
)

// Limits Entra ID documents for userPrincipalName.
const (
	maxUPNLength      = 113
	maxUPNLocalLength = 64
)

// ValidID reports whether s is a GUID, the shape of every Entra object id.
func ValidID(s string) bool {
	return guidPattern.MatchString(s)
}

// ValidUPN reports whether s is a well-formed user principal name: a local part of the
// characters Entra ID allows (no leading, trailing or doubled dot), "@", and a DNS
// domain of at least two labels.
func ValidUPN(s string) bool {
	if len(s) > maxUPNLength {
		return false
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") {
		return false
	}
	if local == "" || len(local) > maxUPNLocalLength || !upnLocalPattern.MatchString(local) {
		return false
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return false
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, label := range labels {
		if len(label) > 63 || !dnsLabelPattern.MatchString(label) {
			return false
		}
	}
	return true
}
