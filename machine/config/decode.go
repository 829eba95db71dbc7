package config

import (
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// decodeBody decodes body into the struct val points to, with the meaning
// gohcl.DecodeBody gives the same `hcl` tags (the kinds this schema uses:
// attr, optional, block, label, label_range, body, def_range) and the same
// diagnostics. gohcl derives a struct's schema and parses its tags by
// reflection for every block it decodes, which was most of the time
// `nspawnctl validate` spent on 10,000 machines; the plan of each type is
// computed once here, and integer literals are written into string fields
// without the 512-bit decimal conversion cty does for them.
func decodeBody(body hcl.Body, val any) hcl.Diagnostics {
	rv := reflect.ValueOf(val)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("decodeBody target must be a pointer to a struct, not %T", val))
	}
	return decodeStruct(body, rv.Elem())
}

// structPlan is what decoding a struct type needs from its tags.
type structPlan struct {
	schema   *hcl.BodySchema
	attrs    []attrField
	blocks   []blockField
	labels   []labelField
	body     int // field index of the hcl.Body, -1 without
	defRange int // field index of the block's DefRange, -1 without
}

type attrField struct {
	name  string
	index int
	str   bool // a string field: integer literals take the fast path
}

type blockField struct {
	typeName string
	index    int
	slice    bool
	ptr      bool
	elem     reflect.Type // the struct type of one block
}

type labelField struct {
	index      int
	rangeIndex int // field index of its label_range, -1 without
}

var (
	plans    sync.Map // reflect.Type -> *structPlan
	bodyType = reflect.TypeOf((*hcl.Body)(nil)).Elem()
)

// planFor returns the decoding plan of struct type ty, computing it on
// first use.
func planFor(ty reflect.Type) *structPlan {
	if p, ok := plans.Load(ty); ok {
		return p.(*structPlan)
	}
	// The schema is gohcl's own, so the attribute and block names, their
	// order (suggestions for typos depend on it) and required-ness are
	// exactly those gohcl.DecodeBody would use.
	schema, partial := gohcl.ImpliedBodySchema(reflect.New(ty).Interface())
	if partial {
		panic(fmt.Sprintf("%s: remain fields are not supported", ty))
	}
	p := &structPlan{schema: schema, body: -1, defRange: -1}
	labelRanges := map[string]int{}
	var labelNames []string
	for i := 0; i < ty.NumField(); i++ {
		f := ty.Field(i)
		tag := f.Tag.Get("hcl")
		if tag == "" {
			continue
		}
		name, kind, found := strings.Cut(tag, ",")
		if !found {
			kind = "attr"
		}
		switch kind {
		case "attr", "optional":
			p.attrs = append(p.attrs, attrField{name: name, index: i, str: f.Type.Kind() == reflect.String})
		case "block":
			b := blockField{typeName: name, index: i, elem: f.Type}
			if b.elem.Kind() == reflect.Slice {
				b.slice, b.elem = true, b.elem.Elem()
			}
			if b.elem.Kind() == reflect.Pointer {
				b.ptr, b.elem = true, b.elem.Elem()
			}
			p.blocks = append(p.blocks, b)
		case "label":
			p.labels = append(p.labels, labelField{index: i, rangeIndex: -1})
			labelNames = append(labelNames, name)
		case "label_range":
			labelRanges[name] = i
		case "body":
			if !bodyType.AssignableTo(f.Type) {
				panic(fmt.Sprintf("%s.%s: a body field must be an hcl.Body", ty, f.Name))
			}
			p.body = i
		case "def_range":
			p.defRange = i
		default:
			panic(fmt.Sprintf("%s.%s: hcl tag kind %q is not supported", ty, f.Name, kind))
		}
	}
	for i, n := range labelNames {
		if ix, ok := labelRanges[n]; ok {
			p.labels[i].rangeIndex = ix
		}
	}
	actual, _ := plans.LoadOrStore(ty, p)
	return actual.(*structPlan)
}

// decodeStruct decodes body into the struct val.
func decodeStruct(body hcl.Body, val reflect.Value) hcl.Diagnostics {
	p := planFor(val.Type())
	content, diags := body.Content(p.schema)
	if content == nil {
		return diags
	}
	if p.body >= 0 {
		val.Field(p.body).Set(reflect.ValueOf(body))
	}
	for _, a := range p.attrs {
		attr := content.Attributes[a.name]
		if attr == nil {
			continue
		}
		field := val.Field(a.index)
		if a.str {
			if s, ok := integerLiteral(attr.Expr); ok {
				field.SetString(s)
				continue
			}
		}
		diags = append(diags, gohcl.DecodeExpression(attr.Expr, nil, field.Addr().Interface())...)
	}
	if len(p.blocks) == 0 {
		return diags
	}
	byType := content.Blocks.ByType()
	for _, b := range p.blocks {
		blocks := byType[b.typeName]
		field := val.Field(b.index)
		switch {
		case len(blocks) > 1 && !b.slice:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate %s block", b.typeName),
				Detail: fmt.Sprintf("Only one %s block is allowed. Another was defined at %s.",
					b.typeName, blocks[0].DefRange.String()),
				Subject: &blocks[1].DefRange,
			})
		case len(blocks) == 0:
			if !b.slice && !b.ptr {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Missing %s block", b.typeName),
					Detail:   fmt.Sprintf("A %s block is required.", b.typeName),
					Subject:  body.MissingItemRange().Ptr(),
				})
			}
		case b.slice:
			elemType := b.elem
			if b.ptr {
				elemType = reflect.PointerTo(b.elem)
			}
			sli := reflect.MakeSlice(reflect.SliceOf(elemType), len(blocks), len(blocks))
			for i, block := range blocks {
				v := sli.Index(i)
				if b.ptr {
					v.Set(reflect.New(b.elem))
					v = v.Elem()
				}
				diags = append(diags, decodeBlock(block, v)...)
			}
			field.Set(sli)
		case b.ptr:
			v := reflect.New(b.elem)
			diags = append(diags, decodeBlock(blocks[0], v.Elem())...)
			field.Set(v)
		default:
			diags = append(diags, decodeBlock(blocks[0], field)...)
		}
	}
	return diags
}

// decodeBlock decodes one block into the struct v: its body, then its
// labels and ranges.
func decodeBlock(block *hcl.Block, v reflect.Value) hcl.Diagnostics {
	diags := decodeStruct(block.Body, v)
	p := planFor(v.Type())
	for i, l := range block.Labels {
		v.Field(p.labels[i].index).SetString(l)
		if ix := p.labels[i].rangeIndex; ix >= 0 {
			v.Field(ix).Set(reflect.ValueOf(block.LabelRanges[i]))
		}
	}
	if p.defRange >= 0 {
		v.Field(p.defRange).Set(reflect.ValueOf(block.DefRange))
	}
	return diags
}

// maxExact bounds the integers integerLiteral formats itself: below 2^53
// an integer's decimal text is the same at any precision, so the result
// equals cty's conversion of the number to a string.
var maxExact = new(big.Float).SetInt64(1 << 53)

// integerLiteral returns the decimal text of expr when it is a native
// syntax number literal holding an integer, the text cty's number-to-string
// conversion would give (e.g. host_port = 8080), without that conversion:
// cty formats the literal's 512-bit float through a shortest-decimal search,
// which cost a fifth of decoding 10,000 machines.
func integerLiteral(expr hcl.Expression) (string, bool) {
	lit, ok := expr.(*hclsyntax.LiteralValueExpr)
	if !ok || lit.Val.Type() != cty.Number || !lit.Val.IsKnown() || lit.Val.IsNull() {
		return "", false
	}
	f := lit.Val.AsBigFloat()
	if !f.IsInt() || f.Sign() < 0 || f.Cmp(maxExact) >= 0 {
		return "", false
	}
	i, _ := f.Int64()
	return strconv.FormatInt(i, 10), true
}
