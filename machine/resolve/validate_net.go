package resolve

import (
	"regexp"

	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/bits"
	"net/netip"

	"github.com/hashicorp/hcl/v2"

	"github.com/nspawnctl/nspawnctl/internal/diag"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/nat"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// usedSet returns the used-set of one pool and subnet size, brought up to
// date with the host's prefixes and everything configured or allocated so
// far. Each pool's set is built once and extended as v.used grows, so that
// allocating for n machines is linear in n, not quadratic.
func (v *validator) usedSet(pool netip.Prefix, bits int) (*networkd.UsedSet, error) {
	k := poolKey{pool, bits}
	ps := v.pools[k]
	if ps == nil {
		a, err := networkd.NewAllocator(pool, bits)
		if err != nil {
			return nil, err
		}
		ps = &poolSet{set: a.NewUsedSet()}
		for _, p := range v.host.Taken {
			ps.set.Add(p)
		}
		if v.pools == nil {
			v.pools = map[poolKey]*poolSet{}
		}
		v.pools[k] = ps
	}
	for ; ps.seen < len(v.used); ps.seen++ {
		ps.set.Add(v.used[ps.seen].p)
	}
	return ps.set, nil
}

// subnet allocates (or reuses the pinned) subnet of size bits for key.
func (v *validator) subnet(pool netip.Prefix, bits int, key string, rng *hcl.Range) (netip.Prefix, bool) {
	set, err := v.usedSet(pool, bits)
	var p netip.Prefix
	if err == nil {
		if pinned, ok := v.host.Pinned[key]; ok && pool.Contains(pinned.Addr()) && pinned.Bits() == bits && !set.Overlaps(pinned) {
			p = pinned
		} else {
			p, err = set.Allocate(key)
		}
	}
	if err != nil {
		v.errf(rng, "Address pool exhausted", "Cannot allocate a /%d for %s from %s: %v. Give addresses explicitly, or a larger pool in the defaults block (ipv4_pool, ula_prefix).", bits, key, pool, err)
		return netip.Prefix{}, false
	}
	v.used = append(v.used, usedPrefix{p: p, owner: key, rng: rng})
	return p, true
}

// nth returns the address n places after the start of p (wrapping within
// the address family, which callers never reach: n stays inside p).
func nth(p netip.Prefix, n uint64) netip.Addr {
	b := p.Masked().Addr().As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	lo2, carry := bits.Add64(lo, n, 0)
	binary.BigEndian.PutUint64(b[:8], hi+carry)
	binary.BigEndian.PutUint64(b[8:], lo2)
	a := netip.AddrFrom16(b)
	if p.Addr().Is4() {
		return a.Unmap()
	}
	return a
}

// hostIndex picks a free host number in [2, size-2] of a subnet for key,
// starting at a hash of the key so that other members do not move it.
func hostIndex(p netip.Prefix, key string, used map[netip.Addr]bool) (netip.Addr, error) {
	hostBits := p.Addr().BitLen() - p.Bits()
	size := uint64(1) << min(hostBits, 32)
	if size < 8 {
		return netip.Addr{}, fmt.Errorf("%s is too small to hold container addresses", p)
	}
	span := size - 3 // skip the network address, .1 (the host) and the broadcast address
	h := fnv.New64a()
	h.Write([]byte(key))
	start := h.Sum64() % span
	for i := uint64(0); i < span; i++ {
		a := nth(p, 2+(start+i)%span)
		if !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("every address of %s is in use", p)
}

// allocate fills in the addresses the configuration leaves to nspawnctl.
func (v *validator) allocate() {
	ula := v.out.ULA
	for i, z := range v.out.Zones {
		s := v.zoneSpecs[i]
		if !hasFamily(z.Addrs, true) {
			pool := v.out.ZoneIPv4Pool
			if s.Pool != "" {
				var msg string
				if pool, msg = poolProblem(s.Pool, 24); msg != "" {
					continue // reported already; allocating from it would only add noise
				}
			}
			if p, ok := v.subnet(pool, 24, "zone/"+z.Name+"/ipv4", s.DefRange.Ptr()); ok {
				z.Addrs = append(z.Addrs, netip.PrefixFrom(nth(p, 1), 24))
			}
		}
		if boolOr(s.ULA, true) && !hasFamily(z.Addrs, false) {
			if p, ok := v.subnet(networkd.ZoneIPv6Pool(ula), 64, "zone/"+z.Name+"/ipv6", s.DefRange.Ptr()); ok {
				z.Addrs = append(z.Addrs, netip.PrefixFrom(nth(p, 1), 64))
			}
		}
	}
	for i, m := range v.out.Machines {
		spec := v.specs[i].cfg
		switch m.Mode {
		case networkd.ModeVeth:
			v.allocateVeth(m, spec)
		case networkd.ModeZone:
			if z := v.zone(m.Zone); z != nil {
				v.allocateMember(m, spec, z.Addrs)
			}
		case networkd.ModeBridge:
			if b := v.bridge(m.Bridge); b != nil && len(b.Addrs) > 0 {
				v.allocateMember(m, spec, b.Addrs)
			}
		}
	}
}

func hasFamily(ps []netip.Prefix, v4 bool) bool {
	for _, p := range ps {
		if p.Addr().Is4() == v4 {
			return true
		}
	}
	return false
}

// boolOr is *b, or def when the setting is absent (nil).
func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// allocateVeth gives a veth machine its /28 and /64 (host side .1 / ::1,
// container .2 / ::2) unless the configuration sets them.
func (v *validator) allocateVeth(m *ResolvedMachine, spec *config.Machine) {
	var host *config.HostConfig
	if spec.Network != nil {
		host = spec.Network.Host
	}
	rng := spec.DefRange.Ptr()
	if !hasFamily(m.HostAddrs, true) {
		pool, msg := v.out.IPv4Pool, ""
		if host != nil && host.Pool != "" {
			pool, msg = poolProblem(host.Pool, 28)
		}
		// An invalid pool is reported already; allocating from it would only add noise.
		if msg == "" {
			if p, ok := v.subnet(pool, 28, "machine/"+m.Name+"/ipv4", rng); ok {
				m.Allocated["ipv4"] = p
				m.HostAddrs = append(m.HostAddrs, netip.PrefixFrom(nth(p, 1), 28))
			}
		}
	}
	if (host == nil || boolOr(host.ULA, true)) && !hasFamily(m.HostAddrs, false) {
		if p, ok := v.subnet(networkd.MachineIPv6Pool(v.out.ULA), 64, "machine/"+m.Name+"/ipv6", rng); ok {
			m.Allocated["ipv6"] = p
			m.HostAddrs = append(m.HostAddrs, netip.PrefixFrom(nth(p, 1), 64))
		}
	}
	// The container takes the address after the host's in each host subnet it
	// has no address of its own in; the host side is its gateway.
	for _, hp := range m.HostAddrs {
		if !hasFamily(m.ContainerAddrs, hp.Addr().Is4()) {
			next := hp.Addr().Next()
			if hp.Contains(next) && next != lastAddr(hp) {
				m.ContainerAddrs = append(m.ContainerAddrs, netip.PrefixFrom(next, hp.Bits()))
			}
		}
	}
	v.defaultGateways(m, m.HostAddrs)
}

// allocateMember gives a zone or bridge member addresses inside the
// zone's or bridge's subnets, and the zone or bridge as its gateway.
func (v *validator) allocateMember(m *ResolvedMachine, spec *config.Machine, subnets []netip.Prefix) {
	for _, sp := range subnets {
		if hasFamily(m.ContainerAddrs, sp.Addr().Is4()) {
			continue
		}
		used := v.containerAddrs()
		used[sp.Addr()] = true
		a, err := hostIndex(sp.Masked(), "machine/"+m.Name, used)
		delete(used, sp.Addr())
		if err != nil {
			v.errf(spec.DefRange.Ptr(), "No free address", "Cannot give machine %s an address in %s: %v. Set container { address = [...] } explicitly or enlarge the subnet.", m.Name, sp, err)
			continue
		}
		m.ContainerAddrs = append(m.ContainerAddrs, netip.PrefixFrom(a, sp.Bits()))
		used[a] = true
	}
	v.defaultGateways(m, subnets)
}

// containerAddrs is the one used-set of container addresses: every address
// of a machine's container side, built once on the first member allocation
// and extended by each one after it (instead of rebuilt per member).
func (v *validator) containerAddrs() map[netip.Addr]bool {
	if v.containerUsed == nil {
		v.containerUsed = map[netip.Addr]bool{}
		for _, other := range v.out.Machines {
			for _, a := range other.ContainerAddrs {
				v.containerUsed[a.Addr()] = true
			}
		}
	}
	return v.containerUsed
}

func (v *validator) defaultGateways(m *ResolvedMachine, hostSide []netip.Prefix) {
	if len(m.Gateways) > 0 {
		return
	}
	for _, hp := range hostSide {
		for _, cp := range m.ContainerAddrs {
			if cp.Addr().Is4() == hp.Addr().Is4() && hp.Contains(cp.Addr()) {
				m.Gateways = append(m.Gateways, hp.Addr())
				break
			}
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	hostBits := p.Addr().BitLen() - p.Bits()
	if hostBits >= 64 {
		return netip.Addr{} // IPv6 subnets have no broadcast address worth avoiding
	}
	return nth(p, (uint64(1)<<hostBits)-1)
}

// parsedForward is a forward_port block after its own checks.
type parsedForward struct {
	spec      *config.ForwardPort
	machine   *ResolvedMachine
	proto     string
	host      PortRange
	container PortRange
	addr      netip.Addr
	allow     []netip.Prefix
	block     int // index of the forward_port block in the machine's spec
}

func (v *validator) forwards() {
	for mi, m := range v.out.Machines {
		forwards := v.specs[mi].forwards
		for i := range forwards {
			f := &forwards[i]
			pf, ok := v.parseForward(m, f)
			if !ok {
				continue
			}
			pf.block = i
			v.resolveForward(m, pf)
		}
	}
}

func (v *validator) parseForward(m *ResolvedMachine, f *config.ForwardPort) (*parsedForward, bool) {
	ok := true
	pf := &parsedForward{spec: f, machine: m, proto: "tcp"}
	if f.Protocol != "" {
		if msg := oneOf(f.Protocol, "tcp", "udp"); msg != "" {
			v.errf(diag.Attr(f.Body, "protocol", f.DefRange), "Invalid protocol", "protocol: %s.", msg)
			ok = false
		}
		pf.proto = f.Protocol
	}
	var msg string
	if pf.host, msg = parsePortRange(f.HostPort); msg != "" {
		v.errf(diag.Attr(f.Body, "host_port", f.DefRange), "Invalid host port", "host_port: %s.", msg)
		ok = false
	}
	pf.container = pf.host
	if f.ContainerPort != "" {
		if pf.container, msg = parsePortRange(f.ContainerPort); msg != "" {
			v.errf(diag.Attr(f.Body, "container_port", f.DefRange), "Invalid container port", "container_port: %s.", msg)
			ok = false
		}
	}
	if ok && pf.host.Len() != pf.container.Len() {
		v.errf(diag.Attr(f.Body, "container_port", f.DefRange), "Port range length mismatch", "host_port %s has %d ports but container_port %s has %d; the ranges are mapped port by port, so give them the same length.", pf.host, pf.host.Len(), pf.container, pf.container.Len())
		ok = false
	}
	if f.HostAddress != "" {
		a, err := netip.ParseAddr(f.HostAddress)
		if err != nil || a.Zone() != "" {
			v.errf(diag.Attr(f.Body, "host_address", f.DefRange), "Invalid host address", "host_address %q is not an IPv4 or IPv6 address (no prefix length, no zone).", f.HostAddress)
			ok = false
		} else if a.IsUnspecified() || a.IsMulticast() {
			v.errf(diag.Attr(f.Body, "host_address", f.DefRange), "Invalid host address", "host_address %s is not a unicast address. Leave host_address out to forward on every local address.", a)
			ok = false
		} else if a == netip.IPv6Loopback() {
			v.errf(diag.Attr(f.Body, "host_address", f.DefRange), "IPv6 loopback cannot be forwarded", "The kernel never routes ::1 to another interface, so a forward bound to ::1 cannot reach a container. Use 127.0.0.1, or leave host_address out.")
			ok = false
		}
		pf.addr = a
	}
	for i, s := range f.AllowFrom {
		p, msg := parseNetwork(s)
		if msg != "" {
			v.errf(diag.Elem(f.Body, "allow_from", i, f.DefRange), "Invalid source prefix", "allow_from: %s.", msg)
			ok = false
			continue
		}
		pf.allow = append(pf.allow, p)
	}
	switch m.Mode {
	case networkd.ModeHost, networkd.ModeNone, networkd.ModeMacvlan, networkd.ModeIpvlan:
		v.errf(f.DefRange.Ptr(), "Forward needs a routed private network", "Machine %s uses network mode %q, which the host cannot forward ports into: with host networking the container's ports already are the host's, without networking there is nothing to reach, and a macvlan/ipvlan container is not reachable from its own host. Use mode veth, zone or bridge, or remove this forward_port.", m.Name, m.Mode)
		ok = false
	}
	return pf, ok
}

// resolveForward turns a parsed forward into one Forward per address family
// that the forward and the container both have.
func (v *validator) resolveForward(m *ResolvedMachine, pf *parsedForward) {
	families := []bool{true, false}
	if pf.addr.IsValid() {
		families = []bool{pf.addr.Is4()}
	}
	n := 0
	for _, v4 := range families {
		var target netip.Addr
		for _, a := range m.ContainerAddrs {
			if a.Addr().Is4() == v4 {
				target = a.Addr()
				break
			}
		}
		if !target.IsValid() {
			continue
		}
		var allow []netip.Prefix
		for _, p := range pf.allow {
			if p.Addr().Is4() == v4 {
				allow = append(allow, p)
			}
		}
		if len(pf.allow) > 0 && len(allow) == 0 {
			continue // the sources are all of the other family
		}
		m.Forwards = append(m.Forwards, nat.Forward{
			Protocol: pf.proto, HostAddr: pf.addr, HostPorts: pf.host,
			Target: target, TargetPorts: pf.container, AllowFrom: allow,
		})
		if v.forwardBlocks == nil {
			v.forwardBlocks = map[*ResolvedMachine][]int{}
		}
		v.forwardBlocks[m] = append(v.forwardBlocks[m], pf.block)
		n++
	}
	if n == 0 {
		fam := "IPv4 or IPv6"
		if pf.addr.IsValid() && pf.addr.Is6() {
			fam = "IPv6"
		} else if pf.addr.IsValid() {
			fam = "IPv4"
		}
		v.errf(pf.spec.DefRange.Ptr(), "Forward has no target", "Machine %s has no static %s address to forward to (and allow_from must include that family). Give it container { address = [...] }, or use mode veth or a zone, where nspawnctl allocates one.", m.Name, fam)
	}
}

// disjointSources reports whether two allow_from lists can never match the
// same source (empty means any source).
func disjointSources(a, b []netip.Prefix) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	for _, p := range a {
		for _, q := range b {
			if p.Overlaps(q) {
				return false
			}
		}
	}
	return true
}

func (v *validator) nebula(m *config.Machine, rm *ResolvedMachine) {
	n := m.Nebula
	if n == nil {
		return
	}
	v.checkString(n.Body, "network", n.Network, n.DefRange)
	for attr, p := range map[string]string{"ca": n.CA, "cert": n.Cert, "key": n.Key, "ca_key": n.CAKey} {
		if p != "" {
			if msg := absPathProblem(p); msg != "" {
				v.errf(diag.Attr(n.Body, attr, n.DefRange), "Invalid path", "%s %q: %s.", attr, p, msg)
			}
		}
	}
	switch {
	case (n.Cert == "") != (n.Key == ""):
		v.errf(n.DefRange.Ptr(), "Incomplete certificate", "Set both cert and key, or neither and ca_key so that nspawnctl signs a certificate for %s.", m.Name)
	case n.Cert != "" && n.CAKey != "":
		v.errf(diag.Attr(n.Body, "ca_key", n.DefRange), "Conflicting certificate sources", "Give either cert and key, or ca_key to sign one; not both.")
	case n.Cert == "" && n.CAKey == "":
		v.errf(n.DefRange.Ptr(), "Missing certificate", "The nebula block needs cert and key, or ca_key to sign a certificate for %s.", m.Name)
	}
	if n.Address != "" {
		p, msg := parseCIDR(n.Address)
		if msg == "" && !p.Addr().Is4() {
			msg = "Nebula 1.6 overlays are IPv4-only"
		}
		if msg != "" {
			v.errf(diag.Attr(n.Body, "address", n.DefRange), "Invalid overlay address", "address: %s.", msg)
		}
		if n.Cert != "" {
			v.errf(diag.Attr(n.Body, "address", n.DefRange), "Address comes from the certificate", "With cert and key given, the overlay address is the one in the certificate; remove address.")
		}
	}
	if n.Pool != "" {
		if p, msg := parseNetwork(n.Pool); msg != "" || !p.Addr().Is4() {
			if msg == "" {
				msg = "Nebula 1.6 overlays are IPv4-only"
			}
			v.errf(diag.Attr(n.Body, "pool", n.DefRange), "Invalid overlay pool", "pool: %s.", msg)
		}
	}
	for i, l := range n.Lighthouses {
		a, err := netip.ParseAddr(l)
		if err != nil {
			v.errf(diag.Elem(n.Body, "lighthouses", i, n.DefRange), "Invalid lighthouse", "lighthouses: %q is not an overlay IP address.", l)
			continue
		}
		if _, ok := n.StaticHostMap[a.String()]; !ok && !n.AmLighthouse {
			v.errf(diag.Elem(n.Body, "lighthouses", i, n.DefRange), "Lighthouse without endpoint", "Lighthouse %s has no static_host_map entry; Nebula cannot reach a lighthouse whose underlay address it does not know. Add static_host_map = { \"%s\" = [\"HOST:4242\"] }.", a, a)
		}
	}
	for k, eps := range n.StaticHostMap {
		if _, err := netip.ParseAddr(k); err != nil {
			v.errf(diag.Key(n.Body, "static_host_map", k, n.DefRange), "Invalid static_host_map key", "%q is not an overlay IP address.", k)
		}
		for _, ep := range eps {
			if _, err := netip.ParseAddrPort(ep); err != nil && !hostPortRE.MatchString(ep) {
				v.errf(diag.Key(n.Body, "static_host_map", k, n.DefRange), "Invalid underlay endpoint", "%q is not HOST:PORT.", ep)
			}
		}
	}
	if n.ListenPort != nil && (*n.ListenPort < 0 || *n.ListenPort > 65535) {
		v.errf(diag.Attr(n.Body, "listen_port", n.DefRange), "Invalid listen port", "listen_port must be 0 (random) to 65535.")
	} else if n.ListenPort != nil && *n.ListenPort > 0 && *n.ListenPort < 1024 {
		v.errf(diag.Attr(n.Body, "listen_port", n.DefRange), "Privileged listen port", "The sidecar runs with CAP_NET_ADMIN only, so it cannot bind port %d; use 0 (random) or a port from 1024, e.g. 4242.", *n.ListenPort)
	}
	if n.CAKey != "" && n.Address == "" && n.Pool == "" && !v.out.NebulaPool.IsValid() {
		v.errf(diag.Attr(n.Body, "ca_key", n.DefRange), "No overlay address to sign", "A certificate signed from ca_key needs an overlay address: set address = \"10.42.0.5/24\", a pool in this block, or nebula_pool in the defaults block.")
	}
	if n.MTU != nil && (*n.MTU < 576 || *n.MTU > 9001) {
		v.errf(diag.Attr(n.Body, "mtu", n.DefRange), "Invalid MTU", "mtu must be between 576 and 9001 (Nebula's default is 1300).")
	}
	if n.Device != "" && !validIfname(n.Device) {
		v.errf(diag.Attr(n.Body, "device", n.DefRange), "Invalid device name", "device %q is not a valid interface name.", n.Device)
	}
	v.checkList(n.Body, "groups", n.Groups, n.DefRange)
	settings := nebulaSettings(n, v.out.NebulaPool)
	v.nebulaTraversal(n, settings.ListenPort)
	for _, rules := range [][]nebulaRule{rulesOf(n.Inbound), rulesOf(n.Outbound)} {
		for _, r := range rules {
			v.nebulaRule(r)
		}
	}
	if rm.Mode == networkd.ModeHost {
		v.errf(n.DefRange.Ptr(), "Nebula needs a private network", "The Nebula sidecar runs in the container's own network namespace; machine %s shares the host's (mode host). Use another network mode.", m.Name)
	}
	rm.Nebula = settings
}

var hostPortRE = mustRE(`^[A-Za-z0-9.-]+:[0-9]{1,5}$`)

func mustRE(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// nebulaRule is a firewall rule with the block it came from.
type nebulaRule = *config.NebulaRule

func rulesOf(rs []config.NebulaRule) []nebulaRule {
	out := make([]nebulaRule, len(rs))
	for i := range rs {
		out[i] = &rs[i]
	}
	return out
}

func (v *validator) nebulaRule(r *config.NebulaRule) {
	if r.Port != "" && r.Port != "any" && r.Port != "fragment" {
		if _, msg := parsePortRange(r.Port); msg != "" && r.Port != "0" {
			v.errf(diag.Attr(r.Body, "port", r.DefRange), "Invalid rule port", "port: %s, \"any\" or \"fragment\".", msg)
		}
	}
	if r.Proto != "" {
		if msg := oneOf(r.Proto, "any", "tcp", "udp", "icmp"); msg != "" {
			v.errf(diag.Attr(r.Body, "proto", r.DefRange), "Invalid rule protocol", "proto: %s.", msg)
		}
	}
	if r.Group != "" && len(r.Groups) > 0 {
		v.errf(diag.Attr(r.Body, "groups", r.DefRange), "Both group and groups", "Nebula refuses to start with a rule that has both group and groups; put the group into groups (all must match) or keep one group.")
	}
	if r.Host == "" && r.Group == "" && len(r.Groups) == 0 && r.CIDR == "" && r.CAName == "" && r.CASha == "" {
		v.errf(r.DefRange.Ptr(), "Rule matches nobody", "A Nebula firewall rule needs one of host, group, groups, cidr, ca_name or ca_sha; write host = \"any\" to match every peer.")
	}
	if r.CIDR != "" {
		if _, msg := parseNetwork(r.CIDR); msg != "" {
			v.errf(diag.Attr(r.Body, "cidr", r.DefRange), "Invalid rule CIDR", "cidr: %s.", msg)
		}
	}
	if r.LocalCIDR != "" {
		if _, msg := parseNetwork(r.LocalCIDR); msg != "" {
			v.errf(diag.Attr(r.Body, "local_cidr", r.DefRange), "Invalid rule local CIDR", "local_cidr: %s.", msg)
		}
	}
	for attr, val := range map[string]string{"host": r.Host, "group": r.Group, "ca_name": r.CAName, "ca_sha": r.CASha} {
		v.checkString(r.Body, attr, val, r.DefRange)
	}
	v.checkList(r.Body, "groups", r.Groups, r.DefRange)
}
