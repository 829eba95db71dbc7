package nat

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// This file is the single description of every chain, rule and set that
// exists in an io.systemd.nat table: systemd's layout (so that a missing table
// can be created exactly as systemd would, reference: systemd.md 1.2-1.3 and
// 1.9) and nspawnctl's objects. Each rule carries its nft text (what
// "nft list" prints, nft 1.0.6) next to the expressions that produce it, so
// the renderer and the applier cannot drift apart unnoticed: the kernel tests
// compare one with the other.

// setDef describes a set or map.
type setDef struct {
	name     string
	keyText  string // nft "type" line
	interval bool
	counter  bool // every element carries a counter ("counter" flag)
	comment  string
	key      []nftables.SetDatatype
	data     []nftables.SetDatatype // nil: a set, not a map
}

// chainDef describes a chain; hook == nil for a regular chain.
type chainDef struct {
	name     string
	filter   bool // a filter chain; else a nat chain
	hook     *nftables.ChainHook
	hookText string // e.g. "type nat hook prerouting priority dstnat + 1; policy accept;"
	prio     int32
	rules    []ruleDef
}

// ruleDef is one rule: its listing and its expressions. sets resolves a set
// name to the *nftables.Set of the batch (lookups of sets created in the same
// batch need the set's batch ID).
type ruleDef struct {
	text    string
	comment string
	exprs   func(sets func(string) *nftables.Set) []expr.Any
}

// Priorities as systemd uses them: one above the standard NAT priorities, so
// nspawnctl's chains run where systemd's do (DESIGN.md "NAT").
const (
	prioDstNAT = -99 // NF_IP_PRI_NAT_DST + 1
	prioSrcNAT = 101 // NF_IP_PRI_NAT_SRC + 1
	// prioForwardSNAT is NF_IP_PRI_NAT_SRC itself: see chainForwardSNAT.
	prioForwardSNAT = 100
)

// Hook lines as nft 1.0.6 prints them; it names the priority relative to
// dstnat only for prerouting (newer nft also for output, systemd#30257).
const (
	hookPrerouting  = "type nat hook prerouting priority dstnat + 1; policy accept;"
	hookOutput      = "type nat hook output priority -99; policy accept;"
	hookPostrouting = "type nat hook postrouting priority srcnat + 1; policy accept;"
	hookForwardSNAT = "type nat hook postrouting priority srcnat; policy accept;"
)

// famInfo holds what differs between the ip and ip6 tables.
type famInfo struct {
	nfproto   uint32
	tableFam  nftables.TableFamily
	kw        string // "ip" or "ip6"
	addrType  nftables.SetDatatype
	addrLen   uint32
	saddrOff  uint32
	daddrOff  uint32
	loopback  []byte // systemd's output exclusion: 127.0.0.0 (with mask) or ::1
	dataProto uint32 // register of the port in a map's addr . port data
	srcReg    uint32 // register of the source address in the src key
}

var fams = [2]famInfo{
	IPv4: {unix.NFPROTO_IPV4, nftables.TableFamilyIPv4, "ip", nftables.TypeIPAddr, 4, 12, 16, []byte{127, 0, 0, 0}, 9, 11},
	IPv6: {unix.NFPROTO_IPV6, nftables.TableFamilyIPv6, "ip6", nftables.TypeIP6Addr, 16, 8, 24, []byte{15: 1}, 2, 14},
}

// ipsDstNAT is the conntrack status bit IPS_DST_NAT (linux/netfilter/nf_conntrack_common.h).
const ipsDstNAT = 1 << 5

func u32(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

func loadNet(off, n, reg uint32) *expr.Payload {
	return &expr.Payload{OperationType: expr.PayloadLoad, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n, DestRegister: reg}
}

// dport loads the transport header's destination port ("th dport") into reg.
func dport(reg uint32) *expr.Payload {
	return &expr.Payload{OperationType: expr.PayloadLoad, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2, DestRegister: reg}
}

func l4proto() *expr.Meta { return &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1} }

func fibLocal() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: u32(unix.RTN_LOCAL)},
	}
}

// dnatFrom looks the key in registers from 1 up in the map and DNATs to the
// address . port found (the map's data lands in register 1 and following).
func dnatFrom(f famInfo, set *nftables.Set) []expr.Any {
	return []expr.Any{
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID, DestRegister: 1, IsDestRegSet: true},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: f.nfproto, RegAddrMin: 1, RegAddrMax: 1, RegProtoMin: f.dataProto, RegProtoMax: f.dataProto, Specified: true},
	}
}

// ctDNAT matches connections whose destination was NAT-ed ("ct status dnat").
func ctDNAT() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: u32(ipsDstNAT), Xor: u32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: u32(0)},
	}
}

func concat(ts ...nftables.SetDatatype) nftables.SetDatatype {
	if len(ts) == 1 {
		return ts[0]
	}
	t, err := nftables.ConcatSetType(ts...)
	if err != nil {
		panic(err) // static layouts with at most 4 types: cannot happen
	}
	return t
}

// systemdSets and systemdChains are systemd's layout (systemd.md 1.2, 1.3).
func systemdSets(fam Family) []setDef {
	f := fams[fam]
	return []setDef{
		{name: "masq_saddr", keyText: f.addrType.Name, interval: true, key: []nftables.SetDatatype{f.addrType}},
		{name: "map_port_ipport", keyText: "inet_proto . inet_service : " + f.addrType.Name + " . inet_service",
			key:  []nftables.SetDatatype{nftables.TypeInetProto, nftables.TypeInetService},
			data: []nftables.SetDatatype{f.addrType, nftables.TypeInetService}},
	}
}

func systemdChains(fam Family) []chainDef {
	f := fams[fam]
	lookupMap := func(sets func(string) *nftables.Set) []expr.Any {
		return append([]expr.Any{l4proto(), dport(9)}, dnatFrom(f, sets("map_port_ipport"))...)
	}
	var notLoopback []expr.Any
	outText := f.kw + " daddr != ::1 oif \"lo\" dnat ip6 to meta l4proto . th dport map @map_port_ipport"
	if fam == IPv4 {
		outText = "ip daddr != 127.0.0.0/8 oif \"lo\" dnat ip to meta l4proto . th dport map @map_port_ipport"
		notLoopback = []expr.Any{loadNet(f.daddrOff, 4, 1),
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{0xff, 0, 0, 0}, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: f.loopback}}
	} else {
		notLoopback = []expr.Any{loadNet(f.daddrOff, 16, 1), &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: f.loopback}}
	}
	return []chainDef{
		{name: "prerouting", hook: nftables.ChainHookPrerouting, hookText: hookPrerouting, prio: prioDstNAT, rules: []ruleDef{{
			text: "fib daddr type local dnat " + f.kw + " to meta l4proto . th dport map @map_port_ipport",
			exprs: func(sets func(string) *nftables.Set) []expr.Any {
				return append(fibLocal(), lookupMap(sets)...)
			}}}},
		{name: "output", hook: nftables.ChainHookOutput, hookText: hookOutput, prio: prioDstNAT, rules: []ruleDef{{
			text: outText,
			exprs: func(sets func(string) *nftables.Set) []expr.Any {
				e := append([]expr.Any{}, notLoopback...)
				e = append(e, &expr.Meta{Key: expr.MetaKeyOIF, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: u32(1)})
				return append(e, lookupMap(sets)...)
			}}}},
		{name: "postrouting", hook: nftables.ChainHookPostrouting, hookText: hookPostrouting, prio: prioSrcNAT, rules: []ruleDef{{
			text: f.kw + " saddr @masq_saddr masquerade",
			exprs: func(sets func(string) *nftables.Set) []expr.Any {
				s := sets("masq_saddr")
				return []expr.Any{loadNet(f.saddrOff, f.addrLen, 1), &expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID}, &expr.Masq{}}
			}}}},
	}
}

// Names of nspawnctl's chains. The DNAT lookups sit in one regular chain
// that both base chains jump to, so they exist once.
const (
	chainDNAT        = "nspawnctl_dnat"
	chainPrerouting  = "nspawnctl_prerouting"
	chainOutput      = "nspawnctl_output"
	chainPostrouting = "nspawnctl_postrouting"
	// chainForwardSNAT gives connections from this host's machines to its
	// forwards the forward's host address as their source (hairpin). It
	// runs at srcnat, before systemd's masquerade (srcnat + 1): the kernel
	// NATs a connection's source once, in the first chain that does, and
	// networkd's masq_saddr would give it the target link's ve- address,
	// which a peer may hand on to other hosts (Nebula) where it means
	// nothing.
	chainForwardSNAT = "nspawnctl_forward_snat"
)

// ourSets returns nspawnctl's sets of the family in creation order.
func ourSets(fam Family) []setDef {
	f := fams[fam]
	a := f.addrType
	proto, svc := nftables.TypeInetProto, nftables.TypeInetService
	target := []nftables.SetDatatype{a, svc}
	defs := map[SetKind]setDef{
		SetDNATAny: {keyText: "inet_proto . inet_service : " + a.Name + " . inet_service",
			comment: "nspawnctl: forwards on any local address", key: []nftables.SetDatatype{proto, svc}, data: target},
		SetDNATAddr: {keyText: "inet_proto . inet_service . " + a.Name + " : " + a.Name + " . inet_service",
			comment: "nspawnctl: forwards bound to one host address", key: []nftables.SetDatatype{proto, svc, a}, data: target},
		SetDNATSrc: {keyText: "inet_proto . inet_service . " + a.Name + " . " + a.Name + " : " + a.Name + " . inet_service", interval: true,
			comment: "nspawnctl: forwards restricted to source prefixes", key: []nftables.SetDatatype{proto, svc, a, a}, data: target},
		SetHairpin: {keyText: "ifname . " + a.Name,
			comment: "nspawnctl: machine links and targets to masquerade hairpin connections on", key: []nftables.SetDatatype{nftables.TypeIFName, a}},
		SetLocalhost: {keyText: a.Name,
			comment: "nspawnctl: targets reachable from the host's 127.0.0.0/8", key: []nftables.SetDatatype{a}},
		SetTargets: {keyText: a.Name,
			comment: "nspawnctl: forward targets, reached only through their own link", key: []nftables.SetDatatype{a}},
		SetMasq: masqSetDef(f),
	}
	for k, d := range protectSetDefs(f) {
		defs[k] = d
	}
	var out []setDef
	for _, k := range setKinds {
		if k.inFamily(fam) {
			d := defs[k]
			d.name = k.Name()
			out = append(out, d)
		}
	}
	return out
}

// ourChains returns nspawnctl's chains of the family in creation order (the
// jump target first).
func ourChains(fam Family) []chainDef {
	f := fams[fam]
	kw := f.kw
	lookup := func(name string, key ...expr.Any) func(func(string) *nftables.Set) []expr.Any {
		return func(sets func(string) *nftables.Set) []expr.Any {
			return append(append([]expr.Any{}, key...), dnatFrom(f, sets(name))...)
		}
	}
	srcRule := func(proto string, num byte) ruleDef {
		return ruleDef{
			text:    "dnat " + kw + " to meta l4proto . " + proto + " dport . " + kw + " daddr . " + kw + " saddr map @nspawnctl_dnat_src",
			comment: "nspawnctl: " + proto + " forwards restricted to source prefixes",
			// The protocol match is what nft needs to accept a mapping to a
			// port from an interval map; the byteorder is what nft itself
			// emits for an inet_proto field of an interval key.
			exprs: lookup(SetDNATSrc.Name(), l4proto(), &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{num}},
				l4proto(), &expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 1, Size: 2},
				dport(9), loadNet(f.daddrOff, f.addrLen, 10), loadNet(f.saddrOff, f.addrLen, f.srcReg)),
		}
	}
	jump := &expr.Verdict{Kind: expr.VerdictJump, Chain: chainDNAT}
	var notLoopback []expr.Any
	preText := kw + " daddr != ::1 fib daddr type local jump " + chainDNAT
	outText := preText
	outExprs := func(func(string) *nftables.Set) []expr.Any {
		return append(append([]expr.Any{loadNet(f.daddrOff, 16, 1), &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: f.loopback}}, fibLocal()...), jump)
	}
	if fam == IPv4 {
		preText = "ip daddr != 127.0.0.0/8 fib daddr type local jump " + chainDNAT
		notLoopback = []expr.Any{loadNet(f.daddrOff, 1, 1), &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{127}}}
		outText = "fib daddr type local jump " + chainDNAT
		outExprs = func(func(string) *nftables.Set) []expr.Any { return append(fibLocal(), jump) }
	} else {
		notLoopback = []expr.Any{loadNet(f.daddrOff, 16, 1), &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: f.loopback}}
	}
	var post []ruleDef
	if fam == IPv4 {
		post = append(post, ruleDef{
			text:    "ct status dnat ip saddr 127.0.0.0/8 ip daddr @nspawnctl_localhost masquerade",
			comment: "nspawnctl: forwards used from the host's 127.0.0.0/8",
			exprs: func(sets func(string) *nftables.Set) []expr.Any {
				s := sets(SetLocalhost.Name())
				return append(ctDNAT(), loadNet(f.saddrOff, 1, 1), &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{127}},
					loadNet(f.daddrOff, 4, 1), &expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID}, &expr.Masq{})
			}})
	}
	post = append(post, masqRule(f))
	return append([]chainDef{
		{name: chainDNAT, rules: []ruleDef{
			{text: "dnat " + kw + " to meta l4proto . th dport . " + kw + " daddr map @nspawnctl_dnat_addr",
				comment: "nspawnctl: forwards bound to one host address",
				exprs:   lookup(SetDNATAddr.Name(), l4proto(), dport(9), loadNet(f.daddrOff, f.addrLen, 10))},
			{text: "dnat " + kw + " to meta l4proto . th dport map @nspawnctl_dnat_any",
				comment: "nspawnctl: forwards on any local address",
				exprs:   lookup(SetDNATAny.Name(), l4proto(), dport(9))},
			srcRule("tcp", 6),
			srcRule("udp", 17),
		}},
		{name: chainPrerouting, hook: nftables.ChainHookPrerouting, hookText: hookPrerouting, prio: prioDstNAT, rules: []ruleDef{{
			text: preText,
			// Never from outside to loopback: with route_localnet=1 a forward
			// on 127.0.0.1 would otherwise be reachable by any neighbour that
			// sends packets to 127.0.0.1 (the CVE-2020-8558 pattern).
			comment: "nspawnctl: forwards from other hosts and machines",
			exprs: func(func(string) *nftables.Set) []expr.Any {
				return append(append(append([]expr.Any{}, notLoopback...), fibLocal()...), jump)
			}}}},
		{name: chainOutput, hook: nftables.ChainHookOutput, hookText: hookOutput, prio: prioDstNAT, rules: []ruleDef{{
			text: outText, comment: "nspawnctl: forwards used from the host itself", exprs: outExprs}}},
		{name: chainForwardSNAT, hook: nftables.ChainHookPostrouting, hookText: hookForwardSNAT, prio: prioForwardSNAT, rules: []ruleDef{{
			text:    "ct status dnat iifname @nspawnctl_links oifname . " + kw + " daddr @nspawnctl_hairpin snat to ct original " + kw + " daddr",
			comment: "nspawnctl: a forward used from a machine of this host: from the forward's host address",
			exprs: func(sets func(string) *nftables.Set) []expr.Any {
				l, hp := sets(SetLinks.Name()), sets(SetHairpin.Name())
				e := append(ctDNAT(), &expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}, &expr.Lookup{SourceRegister: 1, SetName: l.Name, SetID: l.ID},
					&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1}, loadNet(f.daddrOff, f.addrLen, 2), &expr.Lookup{SourceRegister: 1, SetName: hp.Name, SetID: hp.ID})
				return append(e,
					origDstSNAT(f)...)
			}}, {
			text:    "ct status dnat iifname . " + kw + " daddr @nspawnctl_hairpin snat to ct original " + kw + " daddr",
			comment: "nspawnctl: hairpin: a forward used from the target's own link",
			// Also for links without machine records (bridges, whose
			// machines have no addresses of nspawnctl's): the target would
			// answer the client directly, which drops the answer.
			exprs: func(sets func(string) *nftables.Set) []expr.Any {
				hp := sets(SetHairpin.Name())
				e := append(ctDNAT(), &expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}, loadNet(f.daddrOff, f.addrLen, 2),
					&expr.Lookup{SourceRegister: 1, SetName: hp.Name, SetID: hp.ID})
				return append(e, origDstSNAT(f)...)
			}}}},
		{name: chainPostrouting, hook: nftables.ChainHookPostrouting, hookText: hookPostrouting, prio: prioSrcNAT, rules: post},
	}, protectChains(fam)...)
}

// origDstSNAT is "snat to ct original daddr": the connection's source
// becomes the host address the client sent it to, the forward's own.
// (The direction is sent as a u32 by google/nftables; the kernel reads its
// first byte, 0 = original, so only the original direction can be written.)
func origDstSNAT(f famInfo) []expr.Any {
	return []expr.Any{&expr.Ct{Register: 1, Key: expr.CtKeyDST, Direction: 0},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: f.nfproto, RegAddrMin: 1, RegAddrMax: 1}}
}
