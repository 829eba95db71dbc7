// Package diag builds HCL diagnostics that point at the exact attribute, list
// element or map entry a problem is in, for HCL and HCL's JSON syntax alike.
package diag

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
)

// Attr returns the source range of attribute name's value in body, or
// fallback when the attribute is absent (or body is nil).
func Attr(body hcl.Body, name string, fallback hcl.Range) *hcl.Range {
	if e := expr(body, name); e != nil {
		r := e.Range()
		return &r
	}
	return fallback.Ptr()
}

// Elem returns the range of element i of the list attribute name, falling
// back to the whole attribute and then to fallback.
func Elem(body hcl.Body, name string, i int, fallback hcl.Range) *hcl.Range {
	e := expr(body, name)
	if e == nil {
		return fallback.Ptr()
	}
	if elems, d := hcl.ExprList(e); !d.HasErrors() && i >= 0 && i < len(elems) {
		r := elems[i].Range()
		return &r
	}
	r := e.Range()
	return &r
}

// Key returns the range of the entry with key k of the map attribute name
// (the key itself), falling back to the attribute and then to fallback.
func Key(body hcl.Body, name, k string, fallback hcl.Range) *hcl.Range {
	e := expr(body, name)
	if e == nil {
		return fallback.Ptr()
	}
	if pairs, d := hcl.ExprMap(e); !d.HasErrors() {
		for _, p := range pairs {
			var s string
			v, vd := p.Key.Value(nil)
			if !vd.HasErrors() && v.Type().FriendlyName() == "string" && v.IsKnown() && !v.IsNull() {
				s = v.AsString()
			} else if name := hcl.ExprAsKeyword(p.Key); name != "" {
				s = name
			}
			if s == k {
				r := p.Key.Range()
				return &r
			}
		}
	}
	r := e.Range()
	return &r
}

func expr(body hcl.Body, name string) hcl.Expression {
	if body == nil {
		return nil
	}
	content, _, _ := body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: name}}})
	if content == nil {
		return nil
	}
	if a, ok := content.Attributes[name]; ok {
		return a.Expr
	}
	return nil
}

// Errorf returns an error diagnostic at subject. detail must say what to change.
func Errorf(subject *hcl.Range, summary, detail string, args ...any) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(detail, args...), Subject: subject}
}

// Warnf returns a warning diagnostic at subject.
func Warnf(subject *hcl.Range, summary, detail string, args ...any) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: fmt.Sprintf(detail, args...), Subject: subject}
}

// Sort orders diagnostics by position (file name, then offset), then by
// severity, summary and detail, so that the same configuration yields the
// same list on every run whatever order the checks ran in (Go map
// iteration included). Diagnostics without a subject go last.
func Sort(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i], diags[j]
		if (a.Subject == nil) != (b.Subject == nil) {
			return b.Subject == nil
		}
		if a.Subject != nil {
			if a.Subject.Filename != b.Subject.Filename {
				return a.Subject.Filename < b.Subject.Filename
			}
			if a.Subject.Start.Byte != b.Subject.Start.Byte {
				return a.Subject.Start.Byte < b.Subject.Start.Byte
			}
		}
		if a.Severity != b.Severity {
			return a.Severity < b.Severity
		}
		if a.Summary != b.Summary {
			return a.Summary < b.Summary
		}
		return a.Detail < b.Detail
	})
}
