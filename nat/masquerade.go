package nat

import (
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// Outbound NAT of the machines' networks.
//
// networkd's IPMasquerade= puts a link's prefix into systemd's masq_saddr,
// but only when it configures the address: after "nft flush ruleset" it
// never adds it again (reference/systemd.md 1.6). nspawnctl therefore keeps
// its own copy of exactly those prefixes in nspawnctl_masq, masqueraded by a
// rule in nspawnctl_postrouting at systemd's priority. Both rules may match
// the same connection; the kernel's NAT core runs the nat chains of a hook
// only until one of them has set up the connection's source mapping, so a
// connection is masqueraded once, by whichever rule runs first. See
// README.md "Outbound NAT".

// masqSetDef is nspawnctl_masq: link . source prefix, an interval set
// (pipapo, for the prefixes).
func masqSetDef(f famInfo) setDef {
	return setDef{keyText: "ifname . " + f.addrType.Name, interval: true,
		comment: "nspawnctl: machine links and networks to masquerade outbound connections from",
		key:     []nftables.SetDatatype{nftables.TypeIFName, f.addrType}}
}

// masqRule masquerades connections from a machine's network that arrive on
// the machine's link, as networkd's masq_saddr rule does for its entries.
func masqRule(f famInfo) ruleDef {
	return ruleDef{
		text:    "iifname . " + f.kw + " saddr @" + SetMasq.Name() + " masquerade",
		comment: "nspawnctl: outbound NAT of the machines' networks",
		exprs: func(sets func(string) *nftables.Set) []expr.Any {
			s := sets(SetMasq.Name())
			return []expr.Any{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}, loadNet(f.saddrOff, f.addrLen, 2),
				&expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID}, &expr.Masq{}}
		}}
}

// addMasquerade appends the machine's masquerade elements: one per prefix,
// keyed by the machine's link.
func addMasquerade(rs *Ruleset, m Machine) {
	for _, p := range m.Masquerade {
		t := &rs.Tables[familyOf(p.Addr())]
		t.Sets[SetMasq] = append(t.Sets[SetMasq], Element{Machine: m.Name, Link: m.Link, Src: p.Masked()})
	}
}

// validateMasquerade checks the machine's masquerade prefixes on their own.
func (m Machine) validateMasquerade() error {
	for i, p := range m.Masquerade {
		switch {
		case !p.IsValid() || p.Addr().Is4In6() || p.Addr().Zone() != "":
			return machineErrorf(m.Name, "machine %q: masquerade prefix %v: give an IPv4 or IPv6 prefix", m.Name, p)
		case p.Bits() == 0 || (p.Addr().Is6() && p.Bits() < 8):
			// systemd refuses these too: they would masquerade (nearly) everything.
			return machineErrorf(m.Name, "machine %q: masquerade prefix %v is too wide: give the machine's own network", m.Name, p)
		}
		for _, q := range m.Masquerade[:i] {
			if q.Overlaps(p) {
				return machineErrorf(m.Name, "machine %q: masquerade prefixes %v and %v overlap: list each network once", m.Name, q, p)
			}
		}
	}
	return nil
}

// checkMasquerade refuses two machines masquerading overlapping networks on
// the same link: the interval set cannot hold both, and one machine's
// removal would end the other's outbound NAT.
func checkMasquerade(rs *Ruleset) error {
	for _, t := range rs.Tables {
		byLink := map[string][]Element{}
		for _, e := range t.Sets[SetMasq] {
			for _, o := range byLink[e.Link] {
				if o.Src.Overlaps(e.Src) {
					return machineErrorf(e.Machine, "machine %q: network %v on %s overlaps network %v of machine %q: give each machine its own addresses", e.Machine, e.Src, e.Link, o.Src, o.Machine)
				}
			}
			byLink[e.Link] = append(byLink[e.Link], e)
		}
	}
	return nil
}
