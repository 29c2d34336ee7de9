package exchange

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The types below decode Exchange's loosely typed JSON without failing a whole listing
// on a harmless variation (null for an empty list, a number where a string was expected).

// text is a string that may arrive as null, a number or a bool.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*t = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
	case len(b) > 0 && (b[0] == '[' || b[0] == '{'):
		return fmt.Errorf("expected a string, got %.40s", b)
	default:
		*t = text(b) // number or bool literal, kept exactly as written
	}
	return nil
}

// textList is a list of strings that may arrive as null, one string or an array.
type textList []string

func (l *textList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var items []text
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
		out := make([]string, 0, len(items))
		for _, item := range items {
			if item != "" {
				out = append(out, string(item))
			}
		}
		if len(out) == 0 {
			out = nil
		}
		*l = out
		return nil
	}
	var single text
	if err := json.Unmarshal(b, &single); err != nil {
		return err
	}
	*l = nil
	if single != "" {
		*l = textList{string(single)}
	}
	return nil
}

// flag is a bool that may arrive as null or as "True"/"False".
type flag bool

func (f *flag) UnmarshalJSON(b []byte) error {
	var t text
	if err := t.UnmarshalJSON(b); err != nil {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(string(t))) {
	case "", "false":
		*f = false
	case "true":
		*f = true
	default:
		return fmt.Errorf("expected a boolean, got %.40s", b)
	}
	return nil
}

// integer is an int that may arrive as a number, a numeric string or null.
type integer int

func (n *integer) UnmarshalJSON(b []byte) error {
	var t text
	if err := t.UnmarshalJSON(b); err != nil {
		return err
	}
	if t == "" {
		*n = 0
		return nil
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(t)))
	if err != nil {
		return fmt.Errorf("expected an integer, got %.40s", b)
	}
	*n = integer(v)
	return nil
}

// ruleID is an inbox rule's RuleIdentity: a 64-bit unsigned number that arrives as a
// JSON number or string. It is taken from the literal text and never goes through
// float64, which would corrupt ids above 2^53.
type ruleID string

func (r *ruleID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var t text
	if err := t.UnmarshalJSON(b); err != nil {
		return err
	}
	s := strings.TrimSpace(string(t))
	if len(b) > 0 && b[0] != '"' && s != "" {
		// A bare number must be a plain unsigned integer; "1.8e19" has already lost digits.
		if _, err := strconv.ParseUint(s, 10, 64); err != nil {
			return fmt.Errorf("RuleIdentity %s is not a 64-bit unsigned integer", s)
		}
	}
	*r = ruleID(s)
	return nil
}

// rawObject decodes an item into a map for evidence, keeping numbers exact.
func rawObject(item json.RawMessage) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(item))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("result item is not an object: %.40s", item)
	}
	return m, nil
}

// decodeItem fills both the typed wire struct and the raw evidence map.
func decodeItem(item json.RawMessage, into any) (map[string]any, error) {
	raw, err := rawObject(item)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(item, into); err != nil {
		return nil, err
	}
	return raw, nil
}

// invalidAnswer reports a 2xx answer whose content we cannot use.
func invalidAnswer(cmdlet string, err error) *Error {
	return &Error{Cmdlet: cmdlet, Status: 200, Code: "InvalidResponse", Message: tidy("unexpected result item: " + err.Error())}
}
