package exchange

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
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

// textList is a list of strings that may arrive as null, one string, an array, or an
// object (a recipient serialised with its properties): every string or number inside is
// kept, so an address in an unexpected shape still reaches the classifier.
type textList []string

func (l *textList) UnmarshalJSON(b []byte) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return err
	}
	var out []string
	collectLeaves(v, &out)
	*l = out
	return nil
}

// collectLeaves appends the non-empty scalar values of v in document order (object keys
// sorted, so the result does not depend on map order).
func collectLeaves(v any, out *[]string) {
	switch x := v.(type) {
	case string:
		if x != "" {
			*out = append(*out, x)
		}
	case json.Number:
		*out = append(*out, x.String())
	case bool:
		*out = append(*out, strconv.FormatBool(x))
	case []any:
		for _, item := range x {
			collectLeaves(item, out)
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			collectLeaves(x[k], out)
		}
	}
}

// flag is a bool that may arrive as null, "True"/"False" or 1/0.
type flag bool

func (f *flag) UnmarshalJSON(b []byte) error {
	var t text
	if err := t.UnmarshalJSON(b); err != nil {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(string(t))) {
	case "", "false", "0":
		*f = false
	case "true", "1":
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

// decodeItem fills both the typed wire struct and the raw evidence map. It fails only when
// the item is not a JSON object. A property whose value has an unexpected type leaves its
// field at the zero value and is named in unreadable, so one odd property never costs a
// whole listing; the raw map still holds the value exactly as sent.
func decodeItem(item json.RawMessage, into any) (raw map[string]any, unreadable []string, err error) {
	raw, err = rawObject(item)
	if err != nil {
		return nil, nil, err
	}
	var props map[string]json.RawMessage
	if err := json.Unmarshal(item, &props); err != nil {
		return nil, nil, err
	}
	// encoding/json matches names case-insensitively; so does this, after an exact match.
	folded := make(map[string]json.RawMessage, len(props))
	for k, v := range props {
		folded[strings.ToLower(k)] = v
	}
	st := reflect.ValueOf(into).Elem()
	for i := 0; i < st.NumField(); i++ {
		field := st.Type().Field(i)
		name := field.Name
		if tag, _, _ := strings.Cut(field.Tag.Get("json"), ","); tag != "" {
			name = tag
		}
		value, ok := props[name]
		if !ok {
			value, ok = folded[strings.ToLower(name)]
		}
		if !ok {
			continue
		}
		if err := json.Unmarshal(value, st.Field(i).Addr().Interface()); err != nil {
			st.Field(i).SetZero()
			unreadable = append(unreadable, name)
		}
	}
	return raw, unreadable, nil
}

// invalidAnswer reports a 2xx answer whose content we cannot use.
func invalidAnswer(cmdlet string, err error) *Error {
	return &Error{Cmdlet: cmdlet, Status: 200, Code: "InvalidResponse", Message: tidy("unexpected result item: " + err.Error())}
}
