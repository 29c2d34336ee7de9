package runs

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits of the Azure Table service that Azurite does not (or not all) enforce. Written
// down in "Understanding the Table service data model"
// (learn.microsoft.com/rest/api/storageservices/understanding-the-table-service-data-model):
// PartitionKey and RowKey are strings of at most 1 KiB without / \ # ? or a control
// character (U+0000-U+001F, U+007F-U+009F); a string property is UTF-16 and holds at most
// 64 KiB; an entity has at most 255 properties counting PartitionKey, RowKey and Timestamp,
// and all its data together is at most 1 MiB.
const (
	maxKeyBytes      = 1024
	maxStringBytes   = 64 * 1024
	maxEntityBytes   = 1 << 20
	maxProperties    = 255
	systemProperties = 3 // PartitionKey, RowKey, Timestamp
)

// ErrTooLarge reports an entity the Table service would refuse (a key it does not accept,
// a property or an entity over its size limits, too many properties). It is raised before
// the write, so the refusal is ours and clear instead of the service's (or, in tests, a
// silent acceptance by Azurite).
var ErrTooLarge = errors.New("runs: entity refused by Table service limits")

// utf16Units counts the UTF-16 code units of s, the unit the Table service stores strings
// in: a character outside the Basic Multilingual Plane (emoji) takes two. An invalid UTF-8
// byte travels as U+FFFD, one unit.
func utf16Units(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 && r <= utf8.MaxRune {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// CheckKey reports why the Table service would refuse s as a PartitionKey or RowKey.
func CheckKey(s string) error {
	if n := utf16Units(s) * 2; n > maxKeyBytes {
		return fmt.Errorf("%w: key of %d bytes (UTF-16), over %d", ErrTooLarge, n, maxKeyBytes)
	}
	for _, r := range s {
		switch {
		case r == '/', r == '\\', r == '#', r == '?':
			return fmt.Errorf("%w: key %q contains %q", ErrTooLarge, shorten(s), r)
		case r <= 0x1F, r >= 0x7F && r <= 0x9F:
			return fmt.Errorf("%w: key %q contains control character U+%04X", ErrTooLarge, shorten(s), r)
		}
	}
	return nil
}

// EntitySize is the size of an entity as the Table service counts it against its 1 MiB:
// 4 bytes, the keys' characters at 2 bytes each, and for each property 8 bytes, its name at
// 2 bytes per character and its value (a string: 4 bytes + 2 per UTF-16 unit; bool 1;
// numbers 8). That accounting is Microsoft's ("How the size of an entity is calculated in
// Windows Azure table storage", learn.microsoft.com/archive/blogs/avkashchauhan); the 4
// bytes cover Timestamp. props is the JSON object sent to the service; OData annotations
// ("Name@odata.type") are not properties.
func EntitySize(props map[string]any) int {
	size := 4
	for name, v := range props {
		switch {
		case name == "PartitionKey" || name == "RowKey":
			s, _ := v.(string)
			size += 2 * utf16Units(s)
			continue
		case strings.Contains(name, "@odata.") || strings.HasPrefix(name, "odata."):
			continue
		}
		size += 8 + 2*utf16Units(name) + valueSize(v)
	}
	return size
}

func valueSize(v any) int {
	switch v := v.(type) {
	case string:
		return 4 + 2*utf16Units(v)
	case bool:
		return 1
	case nil:
		return 0
	}
	return 8 // numbers: Int64 and Double, the widest the JSON number can become
}

// CheckEntity reports why the Table service would refuse to store props (the JSON object
// of one entity, keys included).
func CheckEntity(props map[string]any) error {
	pk, okPK := props["PartitionKey"].(string)
	rk, okRK := props["RowKey"].(string)
	if !okPK || !okRK {
		return fmt.Errorf("%w: entity without string PartitionKey and RowKey", ErrTooLarge)
	}
	for _, k := range []string{pk, rk} {
		if err := CheckKey(k); err != nil {
			return err
		}
	}
	count := systemProperties
	for name, v := range props {
		if name == "PartitionKey" || name == "RowKey" || strings.Contains(name, "@odata.") || strings.HasPrefix(name, "odata.") {
			continue
		}
		count++
		if s, ok := v.(string); ok {
			if n := 2 * utf16Units(s); n > maxStringBytes {
				return fmt.Errorf("%w: property %s of %s/%s holds %d bytes (UTF-16), over %d", ErrTooLarge, name, shorten(pk), shorten(rk), n, maxStringBytes)
			}
		}
	}
	if count > maxProperties {
		return fmt.Errorf("%w: %s/%s has %d properties, over %d", ErrTooLarge, shorten(pk), shorten(rk), count, maxProperties)
	}
	if n := EntitySize(props); n > maxEntityBytes {
		return fmt.Errorf("%w: %s/%s is %d bytes, over %d", ErrTooLarge, shorten(pk), shorten(rk), n, maxEntityBytes)
	}
	return nil
}

func shorten(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
