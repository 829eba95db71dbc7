package nat

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Text renders the ruleset as nft text: for each family with nspawnctl
// objects, the whole io.systemd.nat table (systemd's layout without elements,
// then nspawnctl's objects), exactly as "nft list ruleset" (nft 1.0.6) prints
// the kernel state the Applier creates from scratch. It is loadable with
// "nft -f".
func (rs *Ruleset) Text() string {
	var b strings.Builder
	for _, fam := range Families {
		if rs.Tables[fam].Active() {
			b.WriteString(renderTable(fam, true, &rs.Tables[fam]))
		}
	}
	return b.String()
}

// OwnText renders only nspawnctl's objects, each family's inside its table
// block; what "nspawnctl nat show" prints.
func (rs *Ruleset) OwnText() string {
	var b strings.Builder
	for _, fam := range Families {
		if rs.Tables[fam].Active() {
			b.WriteString(renderTable(fam, false, &rs.Tables[fam]))
		}
	}
	return b.String()
}

// SystemdText renders systemd's layout of the family's table without
// elements: what nspawnctl creates when the table is missing, and all that is
// left of it after nspawnctl removed its objects.
func SystemdText(fam Family) string { return renderTable(fam, false, nil) }

func renderTable(fam Family, withSystemd bool, t *Table) string {
	var blocks []string
	if withSystemd || t == nil {
		for _, s := range systemdSets(fam) {
			blocks = append(blocks, renderSet(s, nil, fam, 0))
		}
	}
	if t != nil {
		for _, s := range ourSets(fam) {
			k := kindByName(s.name)
			blocks = append(blocks, renderSet(s, t.Sets[k], fam, k))
		}
	}
	if withSystemd || t == nil {
		for _, c := range systemdChains(fam) {
			blocks = append(blocks, renderChain(c))
		}
	}
	if t != nil {
		for _, c := range ourChains(fam) {
			blocks = append(blocks, renderChain(c))
		}
	}
	return fmt.Sprintf("table %s %s {\n%s}\n", fam, TableName, strings.Join(blocks, "\n"))
}

func kindByName(name string) SetKind {
	for _, k := range setKinds {
		if k.Name() == name {
			return k
		}
	}
	panic("unknown set " + name)
}

func renderSet(s setDef, elems []Element, fam Family, kind SetKind) string {
	var b strings.Builder
	word := "set"
	if s.data != nil {
		word = "map"
	}
	fmt.Fprintf(&b, "\t%s %s {\n\t\ttype %s\n", word, s.name, s.keyText)
	if s.interval {
		b.WriteString("\t\tflags interval\n")
	}
	if s.counter {
		b.WriteString("\t\tcounter\n")
	}
	if s.comment != "" {
		fmt.Fprintf(&b, "\t\tcomment %q\n", s.comment)
	}
	if len(elems) > 0 {
		b.WriteString("\t\telements = { ")
		for i, e := range sortedForListing(kind, elems) {
			if i > 0 {
				// nft's calculate_delim: two plain IPv4 addresses per line,
				// one element per line for concatenations.
				if (kind == SetLocalhost || kind == SetTargets) && i%2 == 1 {
					b.WriteString(", ")
				} else {
					b.WriteString(",\n\t\t\t     ")
				}
			}
			b.WriteString(elementText(kind, e))
		}
		b.WriteString(" }\n")
	}
	b.WriteString("\t}\n")
	return b.String()
}

func renderChain(c chainDef) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\tchain %s {\n", c.name)
	if c.hookText != "" {
		fmt.Fprintf(&b, "\t\t%s\n", c.hookText)
	}
	for _, r := range c.rules {
		b.WriteString("\t\t" + r.text)
		if r.comment != "" {
			fmt.Fprintf(&b, " comment %q", r.comment)
		}
		b.WriteString("\n")
	}
	b.WriteString("\t}\n")
	return b.String()
}

// prefixText prints a prefix as nft does: a full-length prefix as an address.
func prefixText(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

// elementText renders one element as nft lists it.
func elementText(kind SetKind, e Element) string {
	comment := fmt.Sprintf(" comment %q", e.Machine)
	data := fmt.Sprintf(" : %s . %d", e.ToAddr, e.ToPort)
	switch kind {
	case SetDNATAny:
		return fmt.Sprintf("%s . %d%s%s", protoName(e.Proto), e.Port, comment, data)
	case SetDNATAddr:
		return fmt.Sprintf("%s . %d . %s%s%s", protoName(e.Proto), e.Port, e.Dst.Addr(), comment, data)
	case SetDNATSrc:
		return fmt.Sprintf("%s . %d . %s . %s%s%s", protoName(e.Proto), e.Port, prefixText(e.Dst), prefixText(e.Src), comment, data)
	case SetHairpin, SetMachines, SetPrivate, SetIsolated:
		return fmt.Sprintf("%q . %s%s", e.Link, e.Addr, comment)
	case SetMasq:
		return fmt.Sprintf("%q . %s%s", e.Link, prefixText(e.Src), comment)
	case SetLinks:
		return fmt.Sprintf("%q%s", e.Link, comment)
	case SetProtectedLinks, SetIsolatedLinks:
		return fmt.Sprintf("%q counter packets 0 bytes 0%s", e.Link, comment)
	case SetSameLink:
		return fmt.Sprintf("%q . %q%s", e.Link, e.Link, comment)
	case SetCounts:
		return fmt.Sprintf("%s . %s . %d counter packets 0 bytes 0%s", protoName(e.Proto), e.Addr, e.Port, comment)
	default:
		return e.Addr.String() + comment
	}
}

// sortedForListing orders elements as nft lists them. nft sorts the elements
// of hash sets (expr_msort_cmp): a plain value numerically, a concatenation
// by its fields' bytes packed without padding and read as one host-endian
// (little-endian) integer. Interval maps (pipapo) are listed in the kernel's
// order, which is insertion order: the plan's order.
func sortedForListing(kind SetKind, elems []Element) []Element {
	if kind == SetDNATSrc || kind == SetMasq {
		return elems
	}
	out := slices.Clone(elems)
	slices.SortStableFunc(out, func(a, b Element) int {
		ka, kb := msortKey(kind, a), msortKey(kind, b)
		if kind == SetLocalhost || kind == SetTargets {
			return bytes.Compare(ka, kb) // big-endian address: numeric order
		}
		slices.Reverse(ka)
		slices.Reverse(kb)
		return bytes.Compare(ka, kb)
	})
	return out
}

// msortKey packs the key fields with their natural lengths.
func msortKey(kind SetKind, e Element) []byte {
	switch kind {
	case SetDNATAny:
		return []byte{e.Proto, byte(e.Port >> 8), byte(e.Port)}
	case SetDNATAddr:
		return append([]byte{e.Proto, byte(e.Port >> 8), byte(e.Port)}, e.Dst.Addr().AsSlice()...)
	case SetHairpin, SetMachines, SetPrivate, SetIsolated:
		return append(ifname(e.Link), e.Addr.AsSlice()...)
	case SetCounts:
		return append(append([]byte{e.Proto}, e.Addr.AsSlice()...), byte(e.Port>>8), byte(e.Port))
	case SetLinks, SetProtectedLinks, SetIsolatedLinks:
		return ifname(e.Link)
	case SetSameLink:
		return append(ifname(e.Link), ifname(e.Link)...)
	default:
		return e.Addr.AsSlice()
	}
}

// ifname pads an interface name to IFNAMSIZ as the kernel compares it.
func ifname(s string) []byte {
	b := make([]byte, 16)
	copy(b, s)
	return b
}
