package nat

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// Exposure protections: a forward opens exactly what it declares, and
// nothing else (README.md "Exposure protections" has the threat each rule
// answers). They are filter chains in the same io.systemd.nat tables, so they
// come and go, and are restored, with the forwards:
//
//   - nspawnctl_raw (ip only, prerouting, priority raw): packets from or to
//     127.0.0.0/8 that arrive on any link but lo are dropped before conntrack,
//     routing and delivery. route_localnet=1 on a machine's link (which
//     localhost forwards need) would otherwise let the machine reach the
//     host's 127.0.0.1-only services (the CVE-2020-8558 pattern).
//   - nspawnctl_forward (forward, priority filter - 10): new connections to
//     a machine's private address (nspawnctl_private) are dropped unless a
//     forward DNAT-ed them or they come from a machine of this host
//     (nspawnctl_machines, recognised by link and source address); and new
//     connections from or to an isolated machine (nspawnctl_isolated) are
//     dropped between links unless a forward DNAT-ed them.
//   - nspawnctl_count_in/_out: count every packet of forwarded connections,
//     per machine address . target port, in nspawnctl_counts (a set with a
//     counter per element), for status.

// Names of the protection and counting chains.
const (
	chainRaw      = "nspawnctl_raw"
	chainForward  = "nspawnctl_forward"
	chainCountIn  = "nspawnctl_count_in"
	chainCountOut = "nspawnctl_count_out"
)

// Priorities of the protection and counting chains.
const (
	// prioRaw acts before conntrack (-200): the loopback rules see every
	// packet as it came in, before any NAT rewrote it.
	prioRaw = -300
	// prioForward acts before the usual filter chains (0) of a host
	// firewall. A drop anywhere on the forward hook is final, so this
	// priority only decides whose counter sees the packet first.
	prioForward = -10
	// prioCount runs after the DNAT chains (-100, -99), when a forwarded
	// connection's first packet already has its target address.
	prioCount = -90
)

// Hook lines of the protection chains as nft 1.0.6 prints them.
const (
	hookRaw      = "type filter hook prerouting priority raw; policy accept;"
	hookForward  = "type filter hook forward priority filter - 10; policy accept;"
	hookCountIn  = "type filter hook prerouting priority dstnat + 10; policy accept;"
	hookCountOut = "type filter hook output priority -90; policy accept;"
)

// Comments of the dropping rules: status and doctor find the counters by them.
const (
	CommentLoopbackDst  = "nspawnctl: loopback destination from outside lo"
	CommentLoopbackSrc  = "nspawnctl: loopback source from outside lo"
	CommentIsolatedFrom = "nspawnctl: isolation: new connection from an isolated machine to another link"
	CommentIsolatedTo   = "nspawnctl: isolation: new connection to an isolated machine from another link"
	CommentLinkDown     = "nspawnctl: forwarded packet for a machine whose link is not up"
	CommentUnpublished  = "nspawnctl: new connection from outside the host to a private machine address, not through a forward"
)

// ctStateEstRel is the ct state mask of established and related connections.
const ctStateEstRel = 2 | 4

// protectSetDefs returns the protection sets of a family.
func protectSetDefs(f famInfo) map[SetKind]setDef {
	a := f.addrType
	link := []nftables.SetDatatype{nftables.TypeIFName, a}
	ifn := []nftables.SetDatatype{nftables.TypeIFName}
	return map[SetKind]setDef{
		SetMachines: {keyText: "ifname . " + a.Name, key: link,
			comment: "nspawnctl: record of the machines' links and addresses"},
		SetPrivate: {keyText: "ifname . " + a.Name, key: link,
			comment: "nspawnctl: record of the machines only forwards reach from outside"},
		SetIsolated: {keyText: "ifname . " + a.Name, key: link,
			comment: "nspawnctl: record of the isolated machines"},
		SetCounts: {keyText: "inet_proto . " + a.Name + " . inet_service", counter: true,
			key:     []nftables.SetDatatype{nftables.TypeInetProto, a, nftables.TypeInetService},
			comment: "nspawnctl: packets and bytes of forwarded connections per target"},
		SetLinks: {keyText: "ifname", key: ifn,
			comment: "nspawnctl: machine links of this host"},
		SetProtectedLinks: {keyText: "ifname", key: ifn, counter: true,
			comment: "nspawnctl: links whose private addresses only forwards reach from outside"},
		SetIsolatedLinks: {keyText: "ifname", key: ifn, counter: true,
			comment: "nspawnctl: links of isolated machines"},
		SetSameLink: {keyText: "ifname . ifname", key: []nftables.SetDatatype{nftables.TypeIFName, nftables.TypeIFName},
			comment: "nspawnctl: isolated links, paired with themselves"},
	}
}

// ifLookup matches "iifname @set" or "oifname @set".
func ifLookup(key expr.MetaKey, set *nftables.Set) []expr.Any {
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID}}
}

// countLookup matches "meta l4proto . ip ADDR . th PORT @nspawnctl_counts",
// which updates the element's counter.
func countLookup(f famInfo, addrOff, portOff uint32, set *nftables.Set) []expr.Any {
	portReg := uint32(9) + f.addrLen/4
	return []expr.Any{l4proto(), loadNet(addrOff, f.addrLen, 9),
		&expr.Payload{OperationType: expr.PayloadLoad, Base: expr.PayloadBaseTransportHeader, Offset: portOff, Len: 2, DestRegister: portReg},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID}}
}

func ctDirection(dir byte) []expr.Any {
	return []expr.Any{&expr.Ct{Register: 1, Key: expr.CtKeyDIRECTION}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{dir}}}
}

// privateNets are the ranges netip.Addr.IsPrivate covers (RFC 1918, RFC
// 4193): the addresses machines are masqueraded behind.
var privateNets = [2][]netip.Prefix{
	IPv4: {netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16")},
	IPv6: {netip.MustParsePrefix("fc00::/7")},
}

// prefixMatch matches the address at off against p as nft encodes it: the
// leading bytes of a byte-aligned prefix, else the whole address masked.
func prefixMatch(f famInfo, off uint32, p netip.Prefix) []expr.Any {
	addr := p.Addr().AsSlice()
	if p.Bits()%8 == 0 {
		n := uint32(p.Bits() / 8)
		return []expr.Any{loadNet(off, n, 1), &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr[:n]}}
	}
	mask := make([]byte, len(addr))
	for i := range p.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{loadNet(off, f.addrLen, 1),
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: f.addrLen, Mask: mask, Xor: make([]byte, len(addr))},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr}}
}

var (
	returnVerdict = &expr.Verdict{Kind: expr.VerdictReturn}
	dropVerdict   = &expr.Verdict{Kind: expr.VerdictDrop}
)

// protectChains returns the protection and counting chains of a family.
func protectChains(fam Family) []chainDef {
	f := fams[fam]
	kw := f.kw
	set := func(sets func(string) *nftables.Set, k SetKind) *nftables.Set { return sets(k.Name()) }
	cat := func(parts ...[]expr.Any) []expr.Any {
		var out []expr.Any
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	counterDrop := []expr.Any{&expr.Counter{}, dropVerdict}
	forward := []ruleDef{
		// First, before anything returns: a forwarded packet whose target's
		// link is not up (the container is starting, or networkd is
		// reconfiguring it) has no route but the default one and would leave
		// through the uplink with the target's private address.
		{text: "ct status dnat ct direction original " + kw + " daddr @nspawnctl_targets oifname . " + kw + " daddr != @nspawnctl_hairpin counter packets 0 bytes 0 drop",
			comment: CommentLinkDown,
			exprs: func(sets func(string) *nftables.Set) []expr.Any {
				tg, hp := set(sets, SetTargets), set(sets, SetHairpin)
				return cat(ctDNAT(), ctDirection(0), []expr.Any{loadNet(f.daddrOff, f.addrLen, 1), &expr.Lookup{SourceRegister: 1, SetName: tg.Name, SetID: tg.ID},
					&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1}, loadNet(f.daddrOff, f.addrLen, 2),
					&expr.Lookup{SourceRegister: 1, SetName: hp.Name, SetID: hp.ID, Invert: true}}, counterDrop)
			}},
		{text: "ct state established,related return", comment: "nspawnctl: connections already allowed",
			exprs: func(func(string) *nftables.Set) []expr.Any {
				return []expr.Any{&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
					&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: u32(ctStateEstRel), Xor: u32(0)},
					&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: u32(0)}, returnVerdict}
			}},
		{text: "ct status dnat return", comment: "nspawnctl: forwards",
			exprs: func(func(string) *nftables.Set) []expr.Any { return append(ctDNAT(), returnVerdict) }},
		{text: "iifname . oifname @nspawnctl_same_link return", comment: "nspawnctl: within one isolated link",
			exprs: func(sets func(string) *nftables.Set) []expr.Any {
				s := set(sets, SetSameLink)
				return []expr.Any{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}, &expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 2},
					&expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID}, returnVerdict}
			}},
		// The isolated links are looked up last: a lookup updates the
		// element's counter, which must count only drops.
		{text: "oifname @nspawnctl_links iifname @nspawnctl_isolated_links counter packets 0 bytes 0 drop", comment: CommentIsolatedFrom,
			exprs: func(sets func(string) *nftables.Set) []expr.Any {
				return cat(ifLookup(expr.MetaKeyOIFNAME, set(sets, SetLinks)), ifLookup(expr.MetaKeyIIFNAME, set(sets, SetIsolatedLinks)), counterDrop)
			}},
		{text: "iifname @nspawnctl_links oifname @nspawnctl_isolated_links counter packets 0 bytes 0 drop", comment: CommentIsolatedTo,
			exprs: func(sets func(string) *nftables.Set) []expr.Any {
				return cat(ifLookup(expr.MetaKeyIIFNAME, set(sets, SetLinks)), ifLookup(expr.MetaKeyOIFNAME, set(sets, SetIsolatedLinks)), counterDrop)
			}},
		{text: "iifname @nspawnctl_links return", comment: "nspawnctl: from a machine link of this host",
			exprs: func(sets func(string) *nftables.Set) []expr.Any {
				return append(ifLookup(expr.MetaKeyIIFNAME, set(sets, SetLinks)), returnVerdict)
			}},
	}
	for _, n := range privateNets[fam] {
		forward = append(forward, ruleDef{
			text:    kw + " daddr " + n.String() + " oifname @nspawnctl_protected_links counter packets 0 bytes 0 drop",
			comment: CommentUnpublished,
			exprs: func(sets func(string) *nftables.Set) []expr.Any {
				return cat(prefixMatch(f, f.daddrOff, n), ifLookup(expr.MetaKeyOIFNAME, set(sets, SetProtectedLinks)), counterDrop)
			}})
	}
	countIn := []ruleDef{
		{text: "ct status dnat ct direction original meta l4proto . " + kw + " daddr . th dport @nspawnctl_counts",
			comment: "nspawnctl: count forwarded packets towards machines",
			exprs: func(sets func(string) *nftables.Set) []expr.Any {
				return cat(ctDNAT(), ctDirection(0), countLookup(f, f.daddrOff, 2, set(sets, SetCounts)))
			}},
		{text: "ct status dnat ct direction reply meta l4proto . " + kw + " saddr . th sport @nspawnctl_counts",
			comment: "nspawnctl: count the machines' replies on forwarded connections",
			exprs: func(sets func(string) *nftables.Set) []expr.Any {
				return cat(ctDNAT(), ctDirection(1), countLookup(f, f.saddrOff, 0, set(sets, SetCounts)))
			}},
	}
	countOut := []ruleDef{{
		text:    "ct status dnat ct direction original meta l4proto . " + kw + " daddr . th dport @nspawnctl_counts",
		comment: "nspawnctl: count forwarded packets from the host itself",
		exprs: func(sets func(string) *nftables.Set) []expr.Any {
			return cat(ctDNAT(), ctDirection(0), countLookup(f, f.daddrOff, 2, set(sets, SetCounts)))
		}}}
	var out []chainDef
	if fam == IPv4 {
		loopback := func(off uint32) []expr.Any {
			return []expr.Any{&expr.Meta{Key: expr.MetaKeyIIF, Register: 1}, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: u32(1)},
				loadNet(off, 1, 1), &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{127}}, &expr.Counter{}, dropVerdict}
		}
		out = append(out, chainDef{name: chainRaw, filter: true, hook: nftables.ChainHookPrerouting, hookText: hookRaw, prio: prioRaw, rules: []ruleDef{
			{text: "iif != \"lo\" ip daddr 127.0.0.0/8 counter packets 0 bytes 0 drop", comment: CommentLoopbackDst,
				exprs: func(func(string) *nftables.Set) []expr.Any { return loopback(f.daddrOff) }},
			{text: "iif != \"lo\" ip saddr 127.0.0.0/8 counter packets 0 bytes 0 drop", comment: CommentLoopbackSrc,
				exprs: func(func(string) *nftables.Set) []expr.Any { return loopback(f.saddrOff) }},
		}})
	}
	return append(out,
		chainDef{name: chainForward, filter: true, hook: nftables.ChainHookForward, hookText: hookForward, prio: prioForward, rules: forward},
		chainDef{name: chainCountIn, filter: true, hook: nftables.ChainHookPrerouting, hookText: hookCountIn, prio: prioCount, rules: countIn},
		chainDef{name: chainCountOut, filter: true, hook: nftables.ChainHookOutput, hookText: hookCountOut, prio: prioCount, rules: countOut},
	)
}

// addProtection appends the machine's protection and counter elements.
func addProtection(rs *Ruleset, m Machine) {
	for _, a := range m.Addrs {
		t := &rs.Tables[familyOf(a)]
		e := Element{Machine: m.Name, Link: m.Link, Addr: a}
		t.Sets[SetMachines] = append(t.Sets[SetMachines], e)
		if !m.Direct {
			t.Sets[SetPrivate] = append(t.Sets[SetPrivate], e)
		}
		if m.Isolated {
			t.Sets[SetIsolated] = append(t.Sets[SetIsolated], e)
		}
	}
	seen := map[Element]bool{}
	for _, f := range m.Forwards {
		t := &rs.Tables[familyOf(f.Target)]
		for p := range f.TargetPorts.Len() {
			e := Element{Machine: m.Name, Proto: protoNumber[f.Protocol], Addr: f.Target, Port: f.TargetPorts.First + uint16(p)}
			if !seen[e] {
				seen[e] = true
				t.Sets[SetCounts] = append(t.Sets[SetCounts], e)
			}
		}
	}
}

// validateProtection checks the machine's own addresses.
func (m Machine) validateProtection() error {
	for i, a := range m.Addrs {
		if !a.IsValid() || a.IsUnspecified() || a.Is4In6() || a.Zone() != "" || a.IsLoopback() || a.IsMulticast() {
			return machineErrorf(m.Name, "machine %q: address %v: give the machine's unicast IPv4 or IPv6 addresses on its link", m.Name, a)
		}
		for _, b := range m.Addrs[:i] {
			if a == b {
				return machineErrorf(m.Name, "machine %q: address %v is listed twice: list each address once", m.Name, a)
			}
		}
	}
	return nil
}

// checkProtection refuses an address claimed by two machines, and machines
// on one link that disagree on direct routing or isolation: the protections
// act per link (a container can send from any address it gives itself).
func checkProtection(rs *Ruleset) error {
	for _, t := range rs.Tables {
		owner := map[netip.Addr]string{}
		for _, e := range t.Sets[SetMachines] {
			if o, ok := owner[e.Addr]; ok && o != e.Machine {
				return machineErrorf(e.Machine, "machine %q: address %v is also used by machine %q: give each machine its own address", e.Machine, e.Addr, o)
			}
			owner[e.Addr] = e.Machine
		}
		for _, c := range []struct {
			kind    SetKind
			setting string
		}{{SetPrivate, "direct routing"}, {SetIsolated, "isolation"}} {
			flagged := map[string]bool{}
			for _, e := range t.Sets[c.kind] {
				flagged[e.Machine] = true
			}
			byLink := map[string]string{}
			for _, e := range t.Sets[SetMachines] {
				o, ok := byLink[e.Link]
				if ok && o != e.Machine && flagged[o] != flagged[e.Machine] {
					return machineErrorf(e.Machine, "machines %q and %q share link %s but differ in %s: set it for the zone, not for one member", o, e.Machine, e.Link, c.setting)
				}
				byLink[e.Link] = e.Machine
			}
		}
	}
	return nil
}

// sharesProtectedLink reports whether the machine's link sets may be shared
// with other machines: a zone's vz- bridge. Their elements are derived from
// every member's records (deriveLinks), which only ApplyMachine reads, so
// ReplaceMachine leaves zone members to it. A veth link is the machine's
// own, and bridge, macvlan and host machines have no protections.
func sharesProtectedLink(m Machine) bool {
	return len(m.Addrs) > 0 && strings.HasPrefix(m.Link, "vz-")
}

// deriveLinks recomputes the link sets from the per-machine records. A
// zone's link is shared by its members: its element belongs to the first of
// them by name, and when that one goes the element passes to the next, as
// the records of the others are still there.
func deriveLinks(rs *Ruleset) {
	for f := range rs.Tables {
		t := &rs.Tables[f]
		derive := func(from, to SetKind) {
			first := map[string]string{}
			for _, e := range t.Sets[from] {
				if o, ok := first[e.Link]; !ok || e.Machine < o {
					first[e.Link] = e.Machine
				}
			}
			links := make([]string, 0, len(first))
			for l := range first {
				links = append(links, l)
			}
			slices.Sort(links)
			t.Sets[to] = nil
			for _, l := range links {
				t.Sets[to] = append(t.Sets[to], Element{Machine: first[l], Link: l})
			}
		}
		derive(SetMachines, SetLinks)
		derive(SetPrivate, SetProtectedLinks)
		derive(SetIsolated, SetIsolatedLinks)
		derive(SetIsolated, SetSameLink)
	}
}
