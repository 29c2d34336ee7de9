package runs

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// How texts (free text and JSON such as a step's evidence) are laid out in entities.
//
// A text up to propUnits UTF-16 units is one string property. A longer one is cut into
// <name>0..<name>N-1 with <name>Parts = N in the same entity. When the entity would then
// pass the service's limits, the largest texts move out ("spill") into part entities of the
// same partition, RowKey "<owner RowKey>~<name>~<write id>~NNNN", each holding up to
// partProps properties T0.. of propUnits units; the entity keeps
// <name>Spill = "<write id>:<parts>:<sha256 of the text>". The parts are written before the
// entity that names them and a write id is never reused, so a reader that sees the entity
// finds its parts, and a failed write can delete exactly the parts it added.
const (
	// propUnits UTF-16 units are 64,000 bytes, under the 64 KiB of a string property.
	propUnits = 32000
	// partProps properties of propUnits units keep a part entity near 1,024,300 bytes.
	partProps = 16
	// entityBudget leaves room under 1 MiB for overhead the public accounting does not
	// show (a measurement found 88 bytes: gist.github.com/joelverhagen/2bf45db3f5160bbfaf1056319b2172d0).
	entityBudget = maxEntityBytes - 8*1024
	partSep      = "~"
)

// errMissingPart reports a spilled text whose parts are not (or no longer) all there: a
// concurrent update replaced them between the reader's listing of the entity and of its
// parts. The reader lists again.
var errMissingPart = errors.New("runs: spilled text incomplete")

// draft is an entity before it is laid out: small properties (keys included) and texts.
type draft struct {
	props map[string]any
	texts []text
}

type text struct{ name, value string }

func (d *draft) setText(name, value string) {
	if value != "" {
		d.texts = append(d.texts, text{name, value})
	}
}

func (d *draft) setJSON(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	d.setText(name, string(data))
	return nil
}

// laidOut is an entity ready to write and the part entities to write before it.
type laidOut struct {
	main   map[string]any
	parts  []map[string]any // new parts, written before main
	spills map[string]string
}

// layout fits the draft into entities the Table service accepts. old holds the spill
// references of the version being replaced: a text that has not changed keeps its parts
// instead of writing them again.
func (d *draft) layout(old map[string]string) (*laidOut, error) {
	lo := &laidOut{main: map[string]any{}, spills: map[string]string{}}
	for k, v := range d.props {
		lo.main[k] = v
	}
	units := make(map[string]int, len(d.texts))
	for _, t := range d.texts {
		units[t.name] = utf16Units(t.value)
		inline(lo.main, t.name, t.value)
	}
	// Largest first: the fewest spills that make the entity fit.
	order := append([]text(nil), d.texts...)
	sort.SliceStable(order, func(i, j int) bool { return units[order[i].name] > units[order[j].name] })
	for _, t := range order {
		if fits(lo.main) {
			break
		}
		uninline(lo.main, t.name)
		ref, parts, err := spill(d.props, t, old[t.name])
		if err != nil {
			return nil, err
		}
		lo.main[t.name+"Spill"] = ref
		lo.spills[t.name] = ref
		lo.parts = append(lo.parts, parts...)
	}
	if err := CheckEntity(lo.main); err != nil {
		return nil, err
	}
	for _, p := range lo.parts {
		if err := CheckEntity(p); err != nil {
			return nil, err
		}
	}
	return lo, nil
}

func fits(m map[string]any) bool {
	return len(m)-2+systemProperties <= maxProperties && EntitySize(m) <= entityBudget
}

// inline stores value in m as one property or as <name>0..N-1 with <name>Parts.
func inline(m map[string]any, name, value string) {
	chunks := cut(value, propUnits)
	if len(chunks) == 1 {
		m[name] = value
		return
	}
	m[name+"Parts"] = len(chunks)
	for i, c := range chunks {
		m[name+strconv.Itoa(i)] = c
	}
}

func uninline(m map[string]any, name string) {
	n, _ := m[name+"Parts"].(int)
	delete(m, name)
	delete(m, name+"Parts")
	for i := 0; i < n; i++ {
		delete(m, name+strconv.Itoa(i))
	}
}

// spill cuts t into part entities of the draft's partition. An unchanged text keeps the
// parts old names.
func spill(keys map[string]any, t text, old string) (ref string, parts []map[string]any, err error) {
	sum := sha256.Sum256([]byte(t.value))
	digest := hex.EncodeToString(sum[:])
	if _, _, oldDigest, ok := parseRef(old); ok && oldDigest == digest {
		return old, nil, nil
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", nil, fmt.Errorf("runs: write id: %w", err)
	}
	writeID := hex.EncodeToString(id[:])
	pk, _ := keys["PartitionKey"].(string)
	owner, _ := keys["RowKey"].(string)
	chunks := cut(t.value, propUnits)
	for start := 0; start < len(chunks); start += partProps {
		end := min(start+partProps, len(chunks))
		p := map[string]any{"PartitionKey": pk, "RowKey": partKey(owner, t.name, writeID, len(parts)), "N": end - start}
		for i, c := range chunks[start:end] {
			p["T"+strconv.Itoa(i)] = c
		}
		parts = append(parts, p)
	}
	return fmt.Sprintf("%s:%d:%s", writeID, len(parts), digest), parts, nil
}

func partKey(owner, name, writeID string, i int) string {
	return fmt.Sprintf("%s%s%s%s%s%s%04d", owner, partSep, name, partSep, writeID, partSep, i)
}

func parseRef(ref string) (writeID string, n int, digest string, ok bool) {
	f := strings.Split(ref, ":")
	if len(f) != 3 {
		return "", 0, "", false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 1 {
		return "", 0, "", false
	}
	return f[0], n, f[2], true
}

// partKeys lists the RowKeys of the parts a spill reference names.
func partKeys(owner, name, ref string) []string {
	writeID, n, _, ok := parseRef(ref)
	if !ok {
		return nil
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = partKey(owner, name, writeID, i)
	}
	return keys
}

// staleParts lists the parts of old references that the new layout no longer names.
func staleParts(owner string, old, kept map[string]string) []string {
	var out []string
	for name, ref := range old {
		if kept[name] != ref {
			out = append(out, partKeys(owner, name, ref)...)
		}
	}
	return out
}

func isPartKey(rk string) bool { return strings.Contains(rk, partSep) }

// cut splits s into pieces of at most max UTF-16 units, never inside a character.
func cut(s string, max int) []string {
	var out []string
	for {
		n, i := 0, 0
		for i < len(s) {
			r, size := utf8.DecodeRuneInString(s[i:])
			w := 1
			if r >= 0x10000 {
				w = 2
			}
			if n+w > max {
				break
			}
			n += w
			i += size
		}
		out = append(out, s[:i])
		s = s[i:]
		if s == "" {
			return out
		}
	}
}

// partLookup finds a part entity of the partition being read by its RowKey.
type partLookup func(rowKey string) (entity, bool)

// text reads what layout stored under name; "" when absent.
func (m entity) text(name string, parts partLookup) (string, error) {
	if ref := m.str(name + "Spill"); ref != "" {
		owner := m.str("RowKey")
		_, _, digest, ok := parseRef(ref)
		if !ok {
			return "", fmt.Errorf("decode %s: bad spill reference %q", name, ref)
		}
		var b strings.Builder
		for _, rk := range partKeys(owner, name, ref) {
			p, ok := parts(rk)
			if !ok {
				return "", fmt.Errorf("%s of %s: part %s: %w", name, owner, rk, errMissingPart)
			}
			for i := 0; i < p.int("N"); i++ {
				b.WriteString(p.str("T" + strconv.Itoa(i)))
			}
		}
		sum := sha256.Sum256([]byte(b.String()))
		if hex.EncodeToString(sum[:]) != digest {
			return "", fmt.Errorf("%s of %s: parts do not match their digest: %w", name, owner, errMissingPart)
		}
		return b.String(), nil
	}
	if n := m.int(name + "Parts"); n > 0 {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(m.str(name + strconv.Itoa(i)))
		}
		return b.String(), nil
	}
	return m.str(name), nil
}

// json decodes the text stored under name into v; absent leaves v unchanged.
func (m entity) json(name string, parts partLookup, v any) error {
	s, err := m.text(name, parts)
	if err != nil || s == "" {
		return err
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("decode %s: %w", name, err)
	}
	return nil
}

// spills collects the spill references an entity read holds, by text name.
func (m entity) spills() map[string]string {
	out := map[string]string{}
	for k := range m {
		if name, ok := strings.CutSuffix(k, "Spill"); ok && !strings.Contains(k, "@") {
			out[name] = m.str(k)
		}
	}
	return out
}
