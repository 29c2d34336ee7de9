package triage

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The Sentinel incident as the playbook's trigger delivers it (triggerBody()?['object']):
// {"id", "name", "properties": {"labels": [{"labelName", "labelType"}], "Alerts": [{"properties":
// {"productName", "alertDisplayName", "alertType", "compromisedEntity", "entities"?}}],
// "relatedEntities": [{"kind": "Account"|"MailMessage"|"Mailbox"|..., "properties": {...}}]}}.
// Names are matched as encoding/json does (case-insensitively: the trigger says "Alerts" in
// some payloads and "alerts" in others); the route refuses a body that holds both. Values of
// an unexpected JSON type are ignored rather than refused, so a schema change on Microsoft's
// side degrades to a dry run, never to a failed playbook or a wider remediation.

// Limits of what one incident may carry. Sentinel groups at most 150 alerts in an incident;
// the 1 MiB body limit of the API bounds the rest.
const (
	maxAlerts        = 500
	maxEntities      = 2000
	maxAlertEntities = 500
	maxLabels        = 200
)

type incident struct {
	Name       text `json:"name"`
	Properties struct {
		Labels          list[label]  `json:"labels"`
		Alerts          list[alert]  `json:"alerts"`
		RelatedEntities list[entity] `json:"relatedEntities"`
	} `json:"properties"`
}

type label struct {
	LabelName text `json:"labelName"`
}

type alert struct {
	Properties struct {
		ProductName       text         `json:"productName"`
		AlertDisplayName  text         `json:"alertDisplayName"`
		AlertType         text         `json:"alertType"`
		CompromisedEntity text         `json:"compromisedEntity"`
		Entities          list[entity] `json:"entities"`
	} `json:"properties"`
	// broken is set when the element was not an alert object: it counts as an unknown alert,
	// so a malformed alert can only make the answer more careful.
	broken bool
}

// entity reads both shapes: the Sentinel API's {"kind", "properties": {...camelCase}}
// (relatedEntities) and SecurityAlert's flat {"Type", "Name", "UPNSuffix", ...} (an alert's
// Entities column).
type entity struct {
	entityFields
	Kind       text          `json:"kind"`
	Type       text          `json:"type"`
	Properties *entityFields `json:"properties"`
}

type entityFields struct {
	Name                      text `json:"name"` // flat shape: the account name; API shape: the entity id
	AccountName               text `json:"accountName"`
	UPNSuffix                 text `json:"upnSuffix"`
	AadUserID                 text `json:"aadUserId"`
	UserPrincipalName         text `json:"userPrincipalName"`
	Recipient                 text `json:"recipient"`
	MailboxPrimaryAddress     text `json:"mailboxPrimaryAddress"`
	Upn                       text `json:"upn"`
	AadID                     text `json:"aadId"`
	ExternalDirectoryObjectID text `json:"externalDirectoryObjectId"`
}

// kind is the entity type, lowercase without dashes: "account", "mailmessage", "mailbox".
func (e entity) kind() string {
	k := string(e.Kind)
	if k == "" {
		k = string(e.Type)
	}
	return string(bytes.ReplaceAll(bytes.ToLower([]byte(k)), []byte("-"), nil))
}

// fields are the entity's properties, whichever shape it came in.
func (e entity) fields() entityFields {
	if e.Properties != nil {
		return *e.Properties
	}
	f := e.entityFields
	f.AccountName = or(f.AccountName, f.Name)
	return f
}

func or(a, b text) text {
	if a != "" {
		return a
	}
	return b
}

// text is a JSON string; any other JSON value reads as "".
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*t = text(s)
	}
	return nil
}

// list is a JSON array of T, or a string holding one (SecurityAlert's Entities column is a
// JSON string); anything else reads as empty. An element that is not a T is left out,
// except for alerts, which are kept as broken.
type list[T any] []T

func (l *list[T]) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		b = []byte(s)
	}
	var raw []json.RawMessage
	if json.Unmarshal(b, &raw) != nil {
		return nil
	}
	out := make([]T, 0, len(raw))
	for _, r := range raw {
		var v T
		if err := json.Unmarshal(r, &v); err != nil || !isObject(r) {
			if a, ok := any(&v).(*alert); ok {
				a.broken = true
				out = append(out, v)
			}
			continue
		}
		out = append(out, v)
	}
	*l = out
	return nil
}

func isObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

// parseSentinel reads an incident and checks its sizes.
func parseSentinel(body []byte) (incident, error) {
	var inc incident
	if !isObject(body) {
		return inc, fmt.Errorf("the body must be the incident object of the Sentinel trigger (triggerBody()?['object'])")
	}
	if err := json.Unmarshal(body, &inc); err != nil {
		return inc, fmt.Errorf("the body is not the incident object of the Sentinel trigger: %v", err)
	}
	p := inc.Properties
	switch {
	case len(p.Alerts) > maxAlerts:
		return inc, fmt.Errorf("the incident carries %d alerts, more than %d", len(p.Alerts), maxAlerts)
	case len(p.RelatedEntities) > maxEntities:
		return inc, fmt.Errorf("the incident carries %d entities, more than %d", len(p.RelatedEntities), maxEntities)
	case len(p.Labels) > maxLabels:
		return inc, fmt.Errorf("the incident carries %d labels, more than %d", len(p.Labels), maxLabels)
	}
	for i, a := range p.Alerts {
		if n := len(a.Properties.Entities); n > maxAlertEntities {
			return inc, fmt.Errorf("alert %d carries %d entities, more than %d", i, n, maxAlertEntities)
		}
	}
	return inc, nil
}
