package unitfile

import (
	"fmt"
	"regexp"
	"sort"

	"github.com/zclconf/go-cty/cty"
)

var (
	sectionNameRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	keyNameRE     = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
)

// ExtraOptions turns a raw pass-through value { Section = { Key = value or
// [values] } } into ordered unit options, checking names and values.
func ExtraOptions(val cty.Value) ([]Option, error) {
	if val.IsNull() {
		return nil, nil
	}
	ty := val.Type()
	if !ty.IsObjectType() && !ty.IsMapType() {
		return nil, fmt.Errorf("it must be an object of sections, not %s", ty.FriendlyName())
	}
	var out []Option
	sections := val.AsValueMap()
	names := sortedKeys(sections)
	for _, sec := range names {
		if !sectionNameRE.MatchString(sec) {
			return nil, fmt.Errorf("section name %q is not a systemd section name (like Network or DHCPServer)", sec)
		}
		body := sections[sec]
		if !body.Type().IsObjectType() && !body.Type().IsMapType() {
			return nil, fmt.Errorf("section %s must be an object of keys", sec)
		}
		keys := body.AsValueMap()
		for _, k := range sortedKeys(keys) {
			if !keyNameRE.MatchString(k) {
				return nil, fmt.Errorf("key name %q in section %s is not a systemd key name", k, sec)
			}
			vals, err := scalarList(keys[k])
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %v", sec, k, err)
			}
			for _, s := range vals {
				if msg := UnsafeValue(s); msg != "" {
					return nil, fmt.Errorf("%s.%s: %s", sec, k, msg)
				}
				out = append(out, Option{Section: sec, Name: k, Value: s})
			}
		}
	}
	return out, nil
}

func sortedKeys(m map[string]cty.Value) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func scalarList(v cty.Value) ([]string, error) {
	if v.IsNull() {
		return []string{""}, nil
	}
	ty := v.Type()
	if ty.IsTupleType() || ty.IsListType() || ty.IsSetType() {
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			s, err := scalar(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := scalar(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func scalar(v cty.Value) (string, error) {
	switch {
	case v.IsNull():
		return "", nil
	case v.Type() == cty.String:
		return v.AsString(), nil
	case v.Type() == cty.Bool:
		if v.True() {
			return "yes", nil
		}
		return "no", nil
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('f', -1), nil
	}
	return "", fmt.Errorf("values must be strings, numbers, booleans or lists of them, not %s", v.Type().FriendlyName())
}
