package nat

import (
	"fmt"
	"net/netip"
	"slices"
)

// Family is an nftables address family nspawnctl uses: systemd keeps one
// io.systemd.nat table per family, "ip" and "ip6" (no "inet" table).
type Family int

// The two families, in the order they are rendered and applied.
const (
	IPv4 Family = iota // table ip io.systemd.nat
	IPv6               // table ip6 io.systemd.nat
)

// Families lists both families in rendering order.
var Families = []Family{IPv4, IPv6}

// String returns nft's name for the family.
func (f Family) String() string {
	if f == IPv6 {
		return "ip6"
	}
	return "ip"
}

func familyOf(a netip.Addr) Family {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

// TableName is systemd's table name, shared by both families.
const TableName = "io.systemd.nat"

// SetKind identifies one of nspawnctl's sets or maps in a family's table.
type SetKind int

// nspawnctl's sets and maps. Every element carries the machine's name as its
// nft comment, which is how ApplyMachine finds one machine's elements.
const (
	// SetDNATAny maps protocol . port to target . port for forwards on any
	// local address (a hash: one lookup per packet whatever the count).
	SetDNATAny SetKind = iota
	// SetDNATAddr maps protocol . port . host address for forwards bound to
	// one host address (a hash as well).
	SetDNATAddr
	// SetDNATSrc maps protocol . port . host address . source for forwards
	// restricted to source prefixes. CIDRs need an interval map (nft's
	// pipapo); only these forwards pay for it.
	SetDNATSrc
	// SetHairpin holds link . target: DNAT-ed connections that arrive on a
	// machine's link and go back to a target on it are masqueraded, or the
	// target would answer the peer directly and the peer would drop it.
	SetHairpin
	// SetLocalhost holds the IPv4 targets reachable from the host's
	// 127.0.0.0/8; those connections are masqueraded (ip table only).
	SetLocalhost
	// SetTargets holds every forward's target address: a forwarded packet
	// for one that does not leave through the target's link (its link is
	// not up yet, so the route is the default one) is dropped instead of
	// leaking out of the uplink (protect.go).
	SetTargets
	// SetMasq holds link . prefix: outbound connections from a machine's
	// network arriving on its link are masqueraded (masquerade.go).
	SetMasq
	// SetMachines records link . address of every machine (protect.go);
	// the link sets below are derived from these records.
	SetMachines
	// SetPrivate records link . address of the machines only forwards
	// reach from outside the host (no direct routing).
	SetPrivate
	// SetIsolated records link . address of isolated machines.
	SetIsolated
	// SetCounts holds protocol . target . target port with a counter each:
	// the packets and bytes of forwarded connections.
	SetCounts
	// SetLinks holds the machine links of this host (derived).
	SetLinks
	// SetProtectedLinks holds the links whose private addresses only
	// forwards reach from outside (derived; a drop counter each).
	SetProtectedLinks
	// SetIsolatedLinks holds the links of isolated machines (derived; a
	// drop counter each).
	SetIsolatedLinks
	// SetSameLink holds link . link for each isolated link: traffic within
	// it (bridged through br_netfilter) is not isolated (derived).
	SetSameLink
	numSetKinds
)

// setKinds lists the kinds in creation (and so listing) order.
var setKinds = []SetKind{SetDNATAny, SetDNATAddr, SetDNATSrc, SetHairpin, SetLocalhost, SetTargets, SetMasq,
	SetMachines, SetPrivate, SetIsolated, SetCounts, SetLinks, SetProtectedLinks, SetIsolatedLinks, SetSameLink}

// Name returns the nft name of the set or map.
func (k SetKind) Name() string {
	return [...]string{"nspawnctl_dnat_any", "nspawnctl_dnat_addr", "nspawnctl_dnat_src", "nspawnctl_hairpin", "nspawnctl_localhost", "nspawnctl_targets", "nspawnctl_masq",
		"nspawnctl_machines", "nspawnctl_private", "nspawnctl_isolated", "nspawnctl_counts",
		"nspawnctl_links", "nspawnctl_protected_links", "nspawnctl_isolated_links", "nspawnctl_same_link"}[k]
}

// inFamily reports whether the family's table has a set of this kind.
func (k SetKind) inFamily(f Family) bool { return k != SetLocalhost || f == IPv4 }

// Element is one element of one of nspawnctl's sets or maps. Which fields are
// used depends on the SetKind.
type Element struct {
	Machine string       // owner; the element's nft comment
	Proto   uint8        // DNAT maps: 6 or 17
	Port    uint16       // DNAT maps: host port; SetCounts: target port
	Dst     netip.Prefix // SetDNATAddr: the host address (full length); SetDNATSrc: the host address or /0 for any
	Src     netip.Prefix // SetDNATSrc: allowed source prefix; SetMasq: the network masqueraded
	Link    string       // SetHairpin, SetMasq, SetMachines, SetPrivate, SetIsolated, the link sets: the machine's link
	Addr    netip.Addr   // SetHairpin, SetLocalhost, SetTargets, SetCounts: the target; SetMachines, SetPrivate, SetIsolated: the machine's address
	ToAddr  netip.Addr   // DNAT maps: target address
	ToPort  uint16       // DNAT maps: target port
}

// key returns the part of the element the kernel identifies it by.
func (e Element) key() Element {
	e.Machine, e.ToAddr, e.ToPort = "", netip.Addr{}, 0
	return e
}

// Table is the desired content of nspawnctl's objects in one family's table.
type Table struct {
	Family Family
	Sets   [numSetKinds][]Element
}

// Active reports whether nspawnctl needs its objects in this table: they
// exist exactly when at least one element does.
func (t *Table) Active() bool {
	for _, s := range t.Sets {
		if len(s) > 0 {
			return true
		}
	}
	return false
}

// Ruleset is the desired state of nspawnctl's nft objects in both tables.
type Ruleset struct {
	Tables [2]Table // indexed by Family
}

func newRuleset() *Ruleset {
	return &Ruleset{Tables: [2]Table{{Family: IPv4}, {Family: IPv6}}}
}

// Empty reports whether no nspawnctl object is needed in either table.
func (rs *Ruleset) Empty() bool { return !rs.Tables[IPv4].Active() && !rs.Tables[IPv6].Active() }

// Machines returns the names of the machines that own elements, sorted.
func (rs *Ruleset) Machines() []string {
	seen := map[string]bool{}
	for _, t := range rs.Tables {
		for _, s := range t.Sets {
			for _, e := range s {
				seen[e.Machine] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// filter returns a copy holding only the elements keep accepts.
func (rs *Ruleset) filter(keep func(Element) bool) *Ruleset {
	out := newRuleset()
	for f, t := range rs.Tables {
		for k, s := range t.Sets {
			for _, e := range s {
				if keep(e) {
					out.Tables[f].Sets[k] = append(out.Tables[f].Sets[k], e)
				}
			}
		}
	}
	return out
}

// Without returns a copy without the named machine's elements.
func (rs *Ruleset) Without(machine string) *Ruleset {
	return rs.filter(func(e Element) bool { return e.Machine != machine })
}

// merge appends other's elements to a copy of rs.
func (rs *Ruleset) merge(other *Ruleset) *Ruleset {
	out := rs.filter(func(Element) bool { return true })
	for f, t := range other.Tables {
		for k, s := range t.Sets {
			out.Tables[f].Sets[k] = append(out.Tables[f].Sets[k], s...)
		}
	}
	return out
}

// Plan computes nspawnctl's nft objects for the machines. It validates each
// machine and refuses forwards that overlap: the same protocol and host port
// on the same host address, or on any address when either forward is a
// wildcard (whatever their AllowFrom, so that at most one forward can ever
// match a packet and rule order never decides).
func Plan(machines []Machine) (*Ruleset, error) {
	rs := newRuleset()
	seen := map[string]bool{}
	for _, m := range sortedMachines(machines) {
		if err := m.Validate(); err != nil {
			return nil, err
		}
		if seen[m.Name] {
			return nil, machineErrorf(m.Name, "machine %q is given twice: merge its forwards into one entry", m.Name)
		}
		seen[m.Name] = true
		addMachine(rs, m)
		addMasquerade(rs, m)
		addProtection(rs, m)
	}
	if err := checkConflicts(rs); err != nil {
		return nil, err
	}
	deriveLinks(rs)
	return rs, nil
}

// addMachine appends the elements of one validated machine.
func addMachine(rs *Ruleset, m Machine) {
	hairpin := map[netip.Addr]bool{}
	localhost := map[netip.Addr]bool{}
	for _, f := range m.Forwards {
		fam := familyOf(f.Target)
		t := &rs.Tables[fam]
		proto := protoNumber[f.Protocol]
		for i := 0; i < f.HostPorts.Len(); i++ {
			// Ranges are expanded port by port: a shifted range needs one
			// target port per host port, and hash lookups stay O(1).
			e := Element{Machine: m.Name, Proto: proto, Port: f.HostPorts.First + uint16(i), ToAddr: f.Target, ToPort: f.TargetPorts.First + uint16(i)}
			switch {
			case len(f.AllowFrom) > 0:
				dst := netip.PrefixFrom(f.Target, 0).Masked()
				if f.HostAddr.IsValid() {
					dst = netip.PrefixFrom(f.HostAddr, f.HostAddr.BitLen())
				}
				for _, src := range f.AllowFrom {
					e.Dst, e.Src = dst, src
					t.Sets[SetDNATSrc] = append(t.Sets[SetDNATSrc], e)
				}
			case f.HostAddr.IsValid():
				e.Dst = netip.PrefixFrom(f.HostAddr, f.HostAddr.BitLen())
				t.Sets[SetDNATAddr] = append(t.Sets[SetDNATAddr], e)
			default:
				t.Sets[SetDNATAny] = append(t.Sets[SetDNATAny], e)
			}
		}
		if !hairpin[f.Target] {
			hairpin[f.Target] = true
			t.Sets[SetHairpin] = append(t.Sets[SetHairpin], Element{Machine: m.Name, Link: m.Link, Addr: f.Target})
			t.Sets[SetTargets] = append(t.Sets[SetTargets], Element{Machine: m.Name, Addr: f.Target})
		}
		// From the host's own 127.0.0.0/8 only wildcard forwards and forwards
		// bound to a loopback address apply (see README.md "Localhost").
		if fam == IPv4 && (!f.HostAddr.IsValid() || f.HostAddr.IsLoopback()) && !localhost[f.Target] {
			localhost[f.Target] = true
			t.Sets[SetLocalhost] = append(t.Sets[SetLocalhost], Element{Machine: m.Name, Addr: f.Target})
		}
	}
}

// portKey identifies a host port in one family.
type portKey struct {
	fam   Family
	proto uint8
	port  uint16
}

// binding is one claim on a host port: a host address (invalid = any).
type binding struct {
	addr    netip.Addr
	machine string
	target  netip.Addr
}

// bindings lists every element's claim on a host port.
func bindings(rs *Ruleset) map[portKey][]binding {
	out := map[portKey][]binding{}
	for f, t := range rs.Tables {
		for _, k := range []SetKind{SetDNATAny, SetDNATAddr, SetDNATSrc} {
			for _, e := range t.Sets[k] {
				b := binding{machine: e.Machine, target: e.ToAddr}
				if e.Dst.IsValid() && e.Dst.Bits() != 0 {
					b.addr = e.Dst.Addr()
				}
				pk := portKey{Family(f), e.Proto, e.Port}
				// AllowFrom yields one element per source: one claim suffices.
				if l := out[pk]; len(l) > 0 && l[len(l)-1] == b {
					continue
				}
				out[pk] = append(out[pk], b)
			}
		}
	}
	return out
}

// checkConflicts refuses two claims on the same host port that can match the
// same packet, and two machines sharing a target address.
func checkConflicts(rs *Ruleset) error {
	bs := bindings(rs)
	keys := make([]portKey, 0, len(bs))
	for k := range bs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b portKey) int {
		return cmpInts(int(a.fam), int(b.fam), int(a.proto), int(b.proto), int(a.port), int(b.port))
	})
	for _, k := range keys {
		l := bs[k]
		for i := range l {
			for j := range i {
				a, b := l[j], l[i]
				if a.addr.IsValid() && b.addr.IsValid() && a.addr != b.addr {
					continue
				}
				return machineErrorf(b.machine, "machine %q: host port %s %s%s is also forwarded by machine %q: give one of them another port or distinct host addresses",
					b.machine, protoName(k.proto), describeHost(b.addr, k.fam), fmt.Sprint(k.port), a.machine)
			}
		}
	}
	owner := map[netip.Addr]string{}
	for _, t := range rs.Tables {
		// The localhost set holds targets too: ReplaceMachine may find
		// another machine's target there without its hairpin element.
		for _, e := range append(append([]Element{}, t.Sets[SetHairpin]...), t.Sets[SetLocalhost]...) {
			if o, ok := owner[e.Addr]; ok && o != e.Machine {
				return machineErrorf(e.Machine, "machine %q: target address %v is also used by machine %q: give each machine its own address", e.Machine, e.Addr, o)
			}
			owner[e.Addr] = e.Machine
		}
	}
	if err := checkMasquerade(rs); err != nil {
		return err
	}
	return checkProtection(rs)
}

func describeHost(a netip.Addr, f Family) string {
	if !a.IsValid() {
		if f == IPv6 {
			return "[::]:"
		}
		return "*:"
	}
	if a.Is6() {
		return "[" + a.String() + "]:"
	}
	return a.String() + ":"
}

// cmpInts compares pairs (a0,b0), (a1,b1), ... lexicographically.
func cmpInts(v ...int) int {
	for i := 0; i+1 < len(v); i += 2 {
		if v[i] != v[i+1] {
			if v[i] < v[i+1] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// SystemdPort is one (protocol, port) key of systemd's map_port_ipport.
type SystemdPort struct {
	Family Family
	Proto  uint8
	Port   uint16
}

// CheckSystemd refuses forwards whose host port systemd (nspawn's Port=)
// already maps in map_port_ipport: both would apply to the same packets and
// systemd deletes map entries by key only.
func CheckSystemd(rs *Ruleset, systemd []SystemdPort) error {
	taken := map[portKey]bool{}
	for _, p := range systemd {
		taken[portKey{p.Family, p.Proto, p.Port}] = true
	}
	var errs machineErrors
	for f, t := range rs.Tables {
		for _, k := range []SetKind{SetDNATAny, SetDNATAddr, SetDNATSrc} {
			for _, e := range t.Sets[k] {
				if pk := (portKey{Family(f), e.Proto, e.Port}); taken[pk] {
					taken[pk] = false // one message per port
					errs = append(errs, machineErrorf(e.Machine, "machine %q: %s port %d (%s) is already mapped by systemd in %s %s map_port_ipport (an nspawn Port= setting): remove that setting or choose another port",
						e.Machine, protoName(e.Proto), e.Port, Family(f), Family(f), TableName))
				}
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
