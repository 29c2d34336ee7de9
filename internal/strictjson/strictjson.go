// Package strictjson decodes JSON the way a security tool must read a request: every name
// spelled exactly as the target type spells it, and no name twice.
//
// encoding/json matches object names case-insensitively (with Unicode folding: "ſteps" is
// "steps") and lets the last of two equal names win, so `{"dryRun":true,"DryRun":false}`
// decodes as a real run. Check scans the tokens first and refuses, at every nesting level,
// a duplicate name, two names that differ only in letter case, and a name that matches a
// field of the target only when case is ignored.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// maxDepth bounds nesting: no request of Tourniquet nests deeper than a few levels, and the
// scan must not recurse a megabyte of "[[[[".
const maxDepth = 32

// Decode checks data against v's type (see Check), then decodes it into v refusing unknown
// fields and anything after the first JSON value.
func Decode(data []byte, v any) error {
	if err := Check(data, reflect.TypeOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// Check scans one JSON value in data and refuses duplicate names, names that differ only in
// letter case, and names that are not spelled exactly as a field of t (a struct type, or a
// pointer to one) at the same place. Where t has no fixed fields (a map, an interface,
// json.RawMessage) names are free but still unique. A nil t checks uniqueness only.
func Check(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := scan(dec, t, "", 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value")
	}
	return nil
}

var rawMessage = reflect.TypeOf(json.RawMessage(nil))

func scan(dec *json.Decoder, t reflect.Type, path string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("JSON nested deeper than %d levels", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	t = deref(t)
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar: its type is encoding/json's to check
	}
	switch delim {
	case '[':
		var elem reflect.Type
		if t != nil && t != rawMessage && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := scan(dec, elem, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
	case '{':
		var fields map[string]reflect.Type
		var free reflect.Type // value type of a map
		if t != nil && t != rawMessage {
			switch t.Kind() {
			case reflect.Struct:
				fields = fieldsOf(t)
			case reflect.Map:
				free = t.Elem()
			}
		}
		seen := map[string]string{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			name, _ := tok.(string)
			where := strings.TrimPrefix(path+"."+name, ".")
			folded := fold(name)
			if prior, dup := seen[folded]; dup {
				if prior == name {
					return fmt.Errorf("duplicate name %q", where)
				}
				return fmt.Errorf("names %q and %q differ only in letter case", prior, name)
			}
			seen[folded] = name
			next := free
			if fields != nil {
				ft, known := fields[name]
				if !known {
					for exact := range fields {
						if fold(exact) == folded {
							return fmt.Errorf("unknown field %q (did you mean %q? names are case-sensitive)", where, exact)
						}
					}
					return fmt.Errorf("unknown field %q", where)
				}
				next = ft
			}
			if err := scan(dec, next, where, depth+1); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// fieldsOf returns the JSON names of a struct's fields as encoding/json sees them (json tag
// name, else the Go name; embedded structs flattened; "-" and unexported fields left out).
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if cached, ok := fieldCache.Load(t); ok {
		return cached.(map[string]reflect.Type)
	}
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && deref(f.Type).Kind() == reflect.Struct {
			for n, ft := range fieldsOf(deref(f.Type)) {
				if _, own := out[n]; !own {
					out[n] = ft
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	fieldCache.Store(t, out)
	return out
}

// fold maps a name to a key that two names share exactly when bytes.EqualFold holds for
// them (the comparison encoding/json matches names with): each rune becomes the smallest
// rune of its Unicode simple-folding orbit, so "K" (Kelvin sign) and "k" agree.
func fold(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError {
			b.WriteRune(r)
			continue
		}
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < least {
				least = f
			}
		}
		b.WriteRune(least)
	}
	return b.String()
}
