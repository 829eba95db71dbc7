package docs

import (
	"bufio"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/nspawnctl/nspawnctl/internal/golden"
	"github.com/nspawnctl/nspawnctl/machine/config"
)

// The test binary must define -update like every other package's, so that
// `go test ./... -update` works; this package has no golden files.
var _ = golden.Update

// The conventions of config.md that this test relies on:
//
//   - A block is documented under a level-3 heading that consists of its path
//     in backquotes, e.g. "### `machine.network.host`". Several blocks that
//     share a schema may share a heading: "### `a.b`, `a.c`".
//   - Every attribute is a table row in that section whose first cell is the
//     name in backquotes: "| `name` | `type` | default | ...". The second cell
//     is the type; a block's label has the type `label`, and a required
//     attribute has the default "required".
//   - Any other heading ends the section; rows outside block sections are
//     not attributes.

const docFile = "config.md"

// attr is an attribute (or label) as the schema defines it.
type attr struct {
	typ      string
	required bool
}

// schemaBlocks walks the schema from config.File and returns, per block
// path, its attributes and labels by name.
func schemaBlocks(t *testing.T) map[string]map[string]attr {
	t.Helper()
	out := map[string]map[string]attr{}
	walk(t, "", reflect.TypeOf(config.File{}), out)
	return out
}

var ctyValueType = reflect.TypeOf(cty.Value{})

func walk(t *testing.T, path string, typ reflect.Type, out map[string]map[string]attr) {
	t.Helper()
	attrs := map[string]attr{}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		tag, ok := f.Tag.Lookup("hcl")
		if !ok {
			continue
		}
		name, kind, _ := strings.Cut(tag, ",")
		switch kind {
		case "body", "remain", "def_range", "label_range", "type_range":
			continue
		case "label":
			attrs[name] = attr{typ: "label", required: true}
		case "", "attr":
			attrs[name] = attr{typ: typeName(t, f.Type), required: true}
		case "optional":
			attrs[name] = attr{typ: typeName(t, f.Type)}
		case "block":
			bt := f.Type
			for bt.Kind() == reflect.Pointer || bt.Kind() == reflect.Slice {
				bt = bt.Elem()
			}
			walk(t, join(path, name), bt, out)
		default:
			t.Fatalf("%s field %s: hcl tag kind %q is not known to this test; teach it", typ, f.Name, kind)
		}
	}
	if path != "" {
		out[path] = attrs
	} else if len(attrs) > 0 {
		t.Fatalf("config.File has attributes %v; document the top level and teach this test", attrs)
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// typeName is the type as config.md writes it.
func typeName(t *testing.T, typ reflect.Type) string {
	t.Helper()
	if typ == ctyValueType {
		return "object"
	}
	switch typ.Kind() {
	case reflect.Pointer:
		return typeName(t, typ.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float64:
		return "number"
	case reflect.Slice:
		return "list(" + typeName(t, typ.Elem()) + ")"
	case reflect.Map:
		return "map(" + typeName(t, typ.Elem()) + ")"
	}
	t.Fatalf("type %s has no name in config.md's convention; teach this test", typ)
	return ""
}

// docRow is one attribute row of config.md.
type docRow struct {
	line        int
	name        string
	typ         string
	defaultCell string
}

var (
	blockHeadingRE = regexp.MustCompile("^### (`[a-z0-9_.]+`(, `[a-z0-9_.]+`)*)$")
	headingRE      = regexp.MustCompile(`^#{1,6} `)
	pathRE         = regexp.MustCompile("`([a-z0-9_.]+)`")
	rowRE          = regexp.MustCompile("^\\| `([a-z0-9_]+)` \\|")
)

// parseDoc returns the documented blocks: per block path, its rows by name.
// Duplicate headings and rows are errors.
func parseDoc(t *testing.T) map[string]map[string]docRow {
	t.Helper()
	f, err := os.Open(docFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]docRow{}
	var current []string // the block paths of the current section
	sc := bufio.NewScanner(f)
	inFence := false
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		if headingRE.MatchString(line) {
			current = nil
			if m := blockHeadingRE.FindStringSubmatch(line); m != nil {
				for _, pm := range pathRE.FindAllStringSubmatch(m[1], -1) {
					p := pm[1]
					if _, dup := out[p]; dup {
						t.Errorf("%s:%d: block %s is documented twice", docFile, n, p)
					}
					out[p] = map[string]docRow{}
					current = append(current, p)
				}
			}
			continue
		}
		m := rowRE.FindStringSubmatch(line)
		if m == nil || current == nil {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 3 {
			t.Errorf("%s:%d: attribute row has fewer than 3 cells (name, type, default)", docFile, n)
			continue
		}
		row := docRow{
			line:        n,
			name:        m[1],
			typ:         strings.Trim(strings.TrimSpace(cells[1]), "`"),
			defaultCell: strings.TrimSpace(cells[2]),
		}
		for _, p := range current {
			if prev, dup := out[p][row.name]; dup {
				t.Errorf("%s:%d: attribute %s.%s is already documented at line %d", docFile, n, p, row.name, prev.line)
			}
			out[p][row.name] = row
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConfigReferenceMatchesSchema(t *testing.T) {
	schema := schemaBlocks(t)
	doc := parseDoc(t)

	for _, path := range sortedKeys(schema) {
		rows, ok := doc[path]
		if !ok {
			t.Errorf("block %s is not documented: add a heading \"### `%s`\" to docs/%s with a table row per attribute", path, path, docFile)
			continue
		}
		attrs := schema[path]
		for _, name := range sortedKeys(attrs) {
			a := attrs[name]
			row, ok := rows[name]
			if !ok {
				what := "attribute"
				if a.typ == "label" {
					what = "label"
				}
				t.Errorf("%s %s.%s is not documented: add a row \"| `%s` | `%s` | ... |\" under ### `%s` in docs/%s", what, path, name, name, a.typ, path, docFile)
				continue
			}
			if row.typ != a.typ {
				t.Errorf("%s:%d: %s.%s has type %s in the schema, but the reference says %s", docFile, row.line, path, name, a.typ, row.typ)
			}
			if a.required != (row.defaultCell == "required") {
				want := "an optional attribute's default"
				if a.required {
					want = "\"required\""
				}
				t.Errorf("%s:%d: %s.%s: the default column says %q; it must be %s", docFile, row.line, path, name, row.defaultCell, want)
			}
		}
		for _, name := range sortedKeys(rows) {
			if _, ok := attrs[name]; !ok {
				t.Errorf("%s:%d: %s.%s is documented but the schema has no such attribute or label", docFile, rows[name].line, path, name)
			}
		}
	}
	for _, path := range sortedKeys(doc) {
		if _, ok := schema[path]; !ok {
			t.Errorf("docs/%s documents block %s, which the schema does not have", docFile, path)
		}
	}
}

// TestSchemaWalkFindsBlocks guards the walk itself: if it silently stopped
// descending, the drift test would pass on an empty schema.
func TestSchemaWalkFindsBlocks(t *testing.T) {
	schema := schemaBlocks(t)
	for _, want := range []string{"defaults", "machine", "machine.network.host.ipv6_prefix", "machine.nebula.inbound", "zone", "bridge"} {
		if _, ok := schema[want]; !ok {
			t.Errorf("schema walk did not find block %s; found %v", want, sortedKeys(schema))
		}
	}
	if got := schema["machine.forward_port"]["host_port"]; got != (attr{typ: "string", required: true}) {
		t.Errorf("machine.forward_port.host_port = %+v, want a required string", got)
	}
	if got := schema["machine"]["name"]; got.typ != "label" {
		t.Errorf("machine label = %+v, want a label", got)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// String makes failures that print an attr readable.
func (a attr) String() string { return fmt.Sprintf("%s(required=%v)", a.typ, a.required) }
