package resolve

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/nspawnctl/nspawnctl/internal/diag"
	"github.com/nspawnctl/nspawnctl/internal/suggest"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/networkd"
)

func (v *validator) bridges() {
	for _, b := range v.cfg.Bridges {
		rb := &ResolvedBridge{Name: b.Name, Uplink: b.Uplink, DHCP: b.DHCP, DHCPServer: boolOr(b.DHCPServer, false)}
		rb.Addrs = v.addresses(b.Body, "address", b.Address, b.DefRange, "bridge "+b.Name, "")
		if b.Uplink != "" && !validIfname(b.Uplink) {
			v.errf(diag.Attr(b.Body, "uplink", b.DefRange), "Invalid uplink", "uplink %q is not a valid interface name (1 to 15 characters, no spaces, '/', ':' or '%%').", b.Uplink)
		}
		if b.DHCP != "" {
			if msg := oneOf(b.DHCP, "yes", "no", "ipv4", "ipv6"); msg != "" {
				v.errf(diag.Attr(b.Body, "dhcp", b.DefRange), "Invalid DHCP mode", "dhcp: %s.", msg)
			}
		}
		rb.Masquerade = v.masquerade(b.Body, b.Masquerade, b.DefRange, networkd.MasqueradeNo)
		rb.Extra = v.extra(b.Body, "extra", b.Extra, b.DefRange)
		rb.NetdevExtra = v.extra(b.Body, "netdev_extra", b.NetdevExtra, b.DefRange)
		v.out.Bridges = append(v.out.Bridges, rb)
	}
}

func (v *validator) zones() {
	for _, z := range v.cfg.Zones {
		link, _ := networkd.ZoneLinkName(z.Name)
		rz := &ResolvedZone{Name: z.Name, Link: link,
			DHCPServer: boolOr(z.DHCPServer, true), LLMNR: boolOr(z.LLMNR, true), MDNS: boolOr(z.MulticastDNS, false),
			DirectRouting: z.DirectRouting, Isolated: z.Isolated}
		rz.Addrs = v.addresses(z.Body, "address", z.Address, z.DefRange, "zone "+z.Name, "")
		if z.Pool != "" {
			v.pool(z.Body, "pool", z.Pool, z.DefRange, 24)
		}
		rz.Masquerade = v.masquerade(z.Body, z.Masquerade, z.DefRange, networkd.MasqueradeBoth)
		rz.PrefixDelegation = v.prefixDelegation(z.PrefixDelegation)
		rz.Extra = v.extra(z.Body, "extra", z.Extra, z.DefRange)
		v.out.Zones = append(v.out.Zones, rz)
		v.zoneSpecs = append(v.zoneSpecs, z)
	}
}

// masquerade checks a masquerade attribute and returns its setting, def when it is not set.
func (v *validator) masquerade(body hcl.Body, val string, fallback hcl.Range, def networkd.Masquerade) networkd.Masquerade {
	if val == "" {
		return def
	}
	m := networkd.Masquerade(val)
	if msg := oneOf(m, networkd.Masquerades...); msg != "" {
		v.errf(diag.Attr(body, "masquerade", fallback), "Invalid masquerade setting", "masquerade: %s (networkd's IPMasquerade=).", msg)
	}
	return m
}

// poolProblem parses a per-block IPv4 pool that must hold subnets of size bits.
func poolProblem(val string, bits int) (netip.Prefix, string) {
	p, msg := parseNetwork(val)
	if msg == "" && (!p.Addr().Is4() || p.Bits() > bits) {
		msg = fmt.Sprintf("%s must be an IPv4 prefix of /%d or shorter", val, bits)
	}
	return p, msg
}

// pool checks an IPv4 pool attribute that must hold subnets of size bits.
func (v *validator) pool(body hcl.Body, attr, val string, fallback hcl.Range, bits int) (netip.Prefix, bool) {
	p, msg := poolProblem(val, bits)
	if msg != "" {
		v.errf(diag.Attr(body, attr, fallback), "Invalid pool", "%s: %s.", attr, msg)
		return netip.Prefix{}, false
	}
	return p, true
}

// zone returns the declared zone called name, or nil.
func (v *validator) zone(name string) *ResolvedZone {
	if v.zonesByName == nil {
		v.zonesByName = byName(v.out.Zones, func(z *ResolvedZone) string { return z.Name })
	}
	return v.zonesByName[name]
}

// bridge returns the declared bridge called name, or nil.
func (v *validator) bridge(name string) *ResolvedBridge {
	if v.bridgesByName == nil {
		v.bridgesByName = byName(v.out.Bridges, func(b *ResolvedBridge) string { return b.Name })
	}
	return v.bridgesByName[name]
}

// byName indexes items by name; the first of duplicates wins (duplicates
// are reported by names()).
func byName[T any](items []T, name func(T) string) map[string]T {
	out := make(map[string]T, len(items))
	for _, it := range items {
		if _, dup := out[name(it)]; !dup {
			out[name(it)] = it
		}
	}
	return out
}

// names returns the names of items in config order, for suggestions.
func names[T any](items []T, name func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, name(it))
	}
	return out
}

func (v *validator) machine(m *config.Machine) {
	rm := &ResolvedMachine{Name: m.Name, Boot: true, Allocated: map[string]netip.Prefix{},
		Exec: Exec{
			Command: m.Command, PrivateUsers: cmp.Or(m.PrivateUsers, "no"), Ephemeral: m.Ephemeral, Environment: m.Environment,
			Capabilities: m.Capabilities, DropCapabilities: m.DropCapabilities, SystemCallFilter: m.SystemCallFilter,
		},
		Files: Files{Bind: m.Bind, BindReadOnly: m.BindReadOnly, TemporaryFileSystems: m.TemporaryFileSystems},
		Unit: Unit{
			Autostart: m.Autostart, TimeoutStart: m.TimeoutStart, TimeoutStop: m.TimeoutStop,
			Activation: Activation(m.Activation),
		},
	}
	v.root(m, rm)
	if m.Boot != nil {
		rm.Boot = *m.Boot
	}
	v.checkList(m.Body, "command", m.Command, m.DefRange)
	if m.PrivateUsers != "" {
		if msg := oneOf(m.PrivateUsers, "no", "yes", "pick", "identity"); msg != "" && !isDigits(m.PrivateUsers) {
			v.errf(diag.Attr(m.Body, "private_users", m.DefRange), "Invalid private_users", "private_users: %s, nor a UID base number. Nested or networked containers usually want \"no\".", msg)
		}
	}
	v.binds(m, "bind", m.Bind)
	v.binds(m, "bind_ro", m.BindReadOnly)
	v.tmpfs(m)
	for k, val := range m.Environment {
		rng := diag.Key(m.Body, "environment", k, m.DefRange)
		if !envNameRE.MatchString(k) {
			v.errf(rng, "Invalid environment variable name", "%q is not a valid variable name; use letters, digits and '_', not starting with a digit.", k)
		}
		if msg := unsafeValueProblem(val); msg != "" {
			v.errf(rng, "Value cannot be rendered safely", "The value of environment variable %s cannot go into a unit file: %s.", k, msg)
		}
	}
	for attr, caps := range map[string][]string{"capabilities": m.Capabilities, "drop_capabilities": m.DropCapabilities} {
		for i, c := range caps {
			if !capabilityRE.MatchString(c) && c != "all" {
				v.errf(diag.Elem(m.Body, attr, i, m.DefRange), "Invalid capability", "%s: %q is not a capability name; write it like CAP_NET_ADMIN.", attr, c)
			}
		}
	}
	v.checkList(m.Body, "system_call_filter", m.SystemCallFilter, m.DefRange)
	for attr, val := range map[string]string{"timeout_start": m.TimeoutStart, "timeout_stop": m.TimeoutStop} {
		if val != "" && !timespanRE.MatchString(val) {
			v.errf(diag.Attr(m.Body, attr, m.DefRange), "Invalid time span", "%s: %q is not a systemd time span; write e.g. \"90s\", \"2min\" or \"infinity\".", attr, val)
		}
	}
	if m.Activation != "" {
		if msg := oneOf(rm.Unit.Activation, Activations...); msg != "" {
			v.errf(diag.Attr(m.Body, "activation", m.DefRange), "Invalid activation strategy", "activation: %s.", msg)
		}
	}
	if l := m.Limits; l != nil {
		if l.MemoryMax != "" && !sizeRE.MatchString(l.MemoryMax) {
			v.errf(diag.Attr(l.Body, "memory_max", l.DefRange), "Invalid memory limit", "memory_max: %q is not a size; write e.g. \"512M\", \"2G\" or \"infinity\".", l.MemoryMax)
		}
		if l.CPUQuota != "" && !percentRE.MatchString(l.CPUQuota) {
			v.errf(diag.Attr(l.Body, "cpu_quota", l.DefRange), "Invalid CPU quota", "cpu_quota: %q is not a percentage; write e.g. \"50%%\" or \"200%%\" for two CPUs.", l.CPUQuota)
		}
		if l.TasksMax != nil && *l.TasksMax < 1 {
			v.errf(diag.Attr(l.Body, "tasks_max", l.DefRange), "Invalid task limit", "tasks_max must be at least 1.")
		}
		if l.NoFile != nil && *l.NoFile < 1 {
			v.errf(diag.Attr(l.Body, "nofile", l.DefRange), "Invalid file limit", "nofile must be at least 1.")
		}
		rm.Unit.MemoryMax, rm.Unit.CPUQuota = l.MemoryMax, l.CPUQuota
		// Zero means "not set": a set limit below 1 is an error above.
		if l.TasksMax != nil {
			rm.Unit.TasksMax = *l.TasksMax
		}
		if l.NoFile != nil {
			rm.Exec.LimitNOFILE = *l.NoFile
		}
	}
	v.network(m, rm)
	v.exposure(m, rm)
	v.nebula(m, rm)
	v.out.Machines = append(v.out.Machines, rm)
	v.specs = append(v.specs, machineSpec{cfg: m, forwards: slices.Clip(m.Forwards)})
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (v *validator) root(m *config.Machine, rm *ResolvedMachine) {
	rm.RootKind = RootDirectory
	rm.RootDir = v.outMachinesDir() + "/" + m.Name
	r := m.Root
	if r == nil {
		return
	}
	var set []string
	check := func(attr, val string) {
		if val == "" {
			return
		}
		set = append(set, attr)
		problem := absPathProblem
		if attr == "directory" || attr == "image" {
			// These may end up on the drop-in's ExecStart= line (see renderDropIn).
			problem = cmdlinePathProblem
		}
		if msg := problem(val); msg != "" {
			v.errf(diag.Attr(r.Body, attr, r.DefRange), "Invalid root path", "%s %q: %s.", attr, val, msg)
		}
	}
	check("directory", r.Directory)
	check("image", r.Image)
	check("tarball", r.Tarball)
	check("nixos_system", r.NixOSSystem)
	if r.Bootstrap != nil {
		set = append(set, "bootstrap")
		b := r.Bootstrap
		v.checkString(b.Body, "suite", b.Suite, b.DefRange)
		v.checkString(b.Body, "mirror", b.Mirror, b.DefRange)
		if b.Variant != "" {
			if msg := oneOf(b.Variant, "minbase", "essential", "apt", "required", "important", "standard", "buildd", "debootstrap"); msg != "" {
				v.errf(diag.Attr(b.Body, "variant", b.DefRange), "Invalid bootstrap variant", "variant: %s (mmdebstrap's variants).", msg)
			}
		}
		for i, p := range b.Packages {
			if !debPackageRE.MatchString(p) {
				v.errf(diag.Elem(b.Body, "packages", i, b.DefRange), "Invalid package name", "packages: %q is not a Debian package name (lower-case letters, digits, '+', '-', '.', optionally :ARCH and =VERSION or /RELEASE).", p)
			}
		}
	}
	switch {
	case len(set) > 1:
		v.errf(r.DefRange.Ptr(), "Conflicting root sources", "The root block sets %s; set exactly one of directory, image, tarball, bootstrap or nixos_system.", strings.Join(set, " and "))
	case r.Directory != "":
		rm.RootDir = r.Directory
	case r.Image != "":
		rm.RootKind, rm.RootDir = RootImage, r.Image
		if !strings.HasSuffix(r.Image, ".raw") {
			v.errf(diag.Attr(r.Body, "image", r.DefRange), "Invalid image", "image %q: nspawn boots raw disk images; the file name must end in .raw.", r.Image)
		}
	case r.Tarball != "":
		rm.RootKind = RootTarball
		rm.Root.Tarball = r.Tarball
	case r.Bootstrap != nil:
		rm.RootKind = RootBootstrap
		b := r.Bootstrap
		rm.Root.Bootstrap = &Bootstrap{
			Suite: cmp.Or(b.Suite, DefaultBootstrapSuite), Mirror: b.Mirror,
			Variant: cmp.Or(b.Variant, DefaultBootstrapVariant), Packages: b.Packages,
		}
	case r.NixOSSystem != "":
		rm.RootKind = RootNixOS
		rm.Root.NixOSSystem = r.NixOSSystem
		if !strings.HasPrefix(r.NixOSSystem, "/nix/store/") {
			v.errf(diag.Attr(r.Body, "nixos_system", r.DefRange), "Invalid NixOS system", "nixos_system %q must be a path in /nix/store (the output of a NixOS system build).", r.NixOSSystem)
		}
		if m.Boot != nil && *m.Boot {
			v.errf(diag.Attr(m.Body, "boot", m.DefRange), "boot conflicts with nixos_system", "A NixOS system boots through its own init (Boot=no, Parameters=SYSTEM/init); remove boot = true.")
		}
		rm.Boot = false
	}
}

func (v *validator) outMachinesDir() string { return v.out.MachinesDir }

func (v *validator) binds(m *config.Machine, attr string, vals []string) {
	for i, b := range vals {
		rng := diag.Elem(m.Body, attr, i, m.DefRange)
		if msg := unsafeValueProblem(b); msg != "" {
			v.errf(rng, "Value cannot be rendered safely", "%s: %s.", attr, msg)
			continue
		}
		parts := strings.Split(b, ":")
		if len(parts) > 3 {
			v.errf(rng, "Invalid bind mount", "%s: %q has more than three ':'-separated fields; write HOST[:CONTAINER[:OPTIONS]].", attr, b)
			continue
		}
		for j, p := range parts[:min(2, len(parts))] {
			side := []string{"host", "container"}[j]
			if msg := absPathProblem(p); msg != "" {
				v.errf(rng, "Invalid bind mount", "%s: the %s path %q: %s.", attr, side, p, msg)
			}
		}
		if len(parts) == 3 {
			for _, o := range strings.Split(parts[2], ",") {
				if msg := oneOf(o, "rbind", "norbind", "idmap", "noidmap", "rootidmap"); msg != "" {
					v.errf(rng, "Invalid bind mount option", "%s: option %s.", attr, msg)
				}
			}
		}
	}
}

func (v *validator) network(m *config.Machine, rm *ResolvedMachine) {
	n := m.Network
	if n == nil {
		n = &networkdNetworkDefault
	}
	mode := networkd.Mode(n.Mode)
	modeRange := diag.Attr(n.Body, "mode", n.DefRange)
	if mode != "" {
		if msg := oneOf(mode, networkd.Modes...); msg != "" {
			v.errf(modeRange, "Invalid network mode", "mode: %s.", msg)
			return
		}
	}
	// The mode is implied by what the block names; an explicit mode must agree.
	var implied []networkd.Mode
	if n.Zone != "" {
		implied = append(implied, networkd.ModeZone)
	}
	if n.Bridge != "" {
		implied = append(implied, networkd.ModeBridge)
	}
	if len(n.Macvlan) > 0 {
		implied = append(implied, networkd.ModeMacvlan)
	}
	if len(n.Ipvlan) > 0 {
		implied = append(implied, networkd.ModeIpvlan)
	}
	if len(implied) > 1 {
		v.errf(n.DefRange.Ptr(), "Conflicting network settings", "The network block sets %s; a machine joins one of a zone, a bridge, a macvlan or an ipvlan.", joinModes(implied, " and "))
		return
	}
	switch {
	case mode == "" && len(implied) == 1:
		mode = implied[0]
	case mode == "":
		mode = networkd.ModeVeth
	case len(implied) == 1 && implied[0] != mode:
		v.errf(modeRange, "Conflicting network mode", "mode is %q but the block sets %s; remove one of them.", mode, implied[0])
		return
	}
	rm.Mode = mode
	rm.ContainerSide = containerSideDefaults
	if n.Host != nil && mode != networkd.ModeVeth {
		v.errf(n.Host.DefRange.Ptr(), "host block needs a veth link", "The host block configures the host side of a veth link (ve-%s), which mode %q does not have. For a zone, configure the zone block; for a bridge, the bridge block.", m.Name, mode)
	}
	switch mode {
	case networkd.ModeVeth:
		full := "ve-" + m.Name
		rm.HostLink = networkd.VethName(m.Name)
		rm.NATLink = rm.HostLink
		if rm.HostLink != full {
			rm.HostLinkFull = full
		}
		rm.HostSide = hostSideDefaults
		if n.Host != nil {
			v.hostConfig(n.Host, rm)
		}
	case networkd.ModeZone:
		rm.Zone = n.Zone
		rm.HostLink = networkd.BridgePortName(m.Name)
		z := v.zone(n.Zone)
		if z == nil {
			v.errf(diag.Attr(n.Body, "zone", n.DefRange), "Unknown zone", "Zone %q is not declared. Add a zone %q block, so that nspawnctl configures the host side of vz-%s, or use an existing zone's name.%s", n.Zone, n.Zone, n.Zone, suggest.DidYouMean(n.Zone, names(v.out.Zones, func(z *ResolvedZone) string { return z.Name })))
		} else {
			z.Members = append(z.Members, m.Name) // sorted at the end of Validate
			rm.NATLink = z.Link
			rm.ContainerSide.LLMNR, rm.ContainerSide.MDNS = z.LLMNR, z.MDNS
		}
	case networkd.ModeBridge:
		rm.Bridge = n.Bridge
		rm.HostLink = networkd.BridgePortName(m.Name)
		rm.NATLink = n.Bridge
		if !validIfname(n.Bridge) {
			v.errf(diag.Attr(n.Body, "bridge", n.DefRange), "Invalid bridge name", "bridge %q is not a valid interface name.", n.Bridge)
		} else if b := v.bridge(n.Bridge); b != nil {
			b.Members = append(b.Members, m.Name) // sorted at the end of Validate
		} else {
			v.warnf(diag.Attr(n.Body, "bridge", n.DefRange), "Bridge not declared here", "Bridge %q is not declared in this configuration, so it must already exist on the host when %s starts; nspawnctl checks that at start. Declare a bridge %q block to have nspawnctl create it.%s", n.Bridge, m.Name, n.Bridge, suggest.DidYouMean(n.Bridge, names(v.out.Bridges, func(b *ResolvedBridge) string { return b.Name })))
		}
	case networkd.ModeMacvlan, networkd.ModeIpvlan:
		parents := n.Macvlan
		attr := "macvlan"
		if mode == networkd.ModeIpvlan {
			parents, attr = n.Ipvlan, "ipvlan"
		}
		if len(parents) == 0 {
			v.errf(modeRange, "Missing parent interface", "mode %q needs the host interface(s) to attach to: set %s = [\"eth0\"].", mode, attr)
		}
		for i, p := range parents {
			if !validIfname(p) {
				v.errf(diag.Elem(n.Body, attr, i, n.DefRange), "Invalid interface name", "%s: %q is not a valid interface name.", attr, p)
			}
		}
		rm.Parents = parents
	case networkd.ModeHost, networkd.ModeNone:
		if n.Container != nil {
			v.errf(n.Container.DefRange.Ptr(), "container block needs a private network", "Mode %q gives the container no interface of its own to configure; remove the container block or choose another mode.", mode)
		}
	}
	if c := n.Container; c != nil && mode != networkd.ModeHost && mode != networkd.ModeNone {
		owner := "machine " + m.Name
		// The container's addresses live on the link it is attached to, whose
		// other ends (host side, zone, bridge, other members) share the subnet.
		segment := owner
		switch mode {
		case networkd.ModeZone:
			segment = "zone " + n.Zone
		case networkd.ModeBridge:
			segment = "bridge " + n.Bridge
		case networkd.ModeMacvlan, networkd.ModeIpvlan:
			segment = "lan " + strings.Join(rm.Parents, ",")
		}
		rm.ContainerAddrs = v.addresses(c.Body, "address", c.Address, c.DefRange, owner+" (container)", segment)
		for i, g := range c.Gateway {
			a, err := netip.ParseAddr(g)
			if err != nil || a.Zone() != "" {
				// A zone would be rendered verbatim into Gateway=, and networkd takes none there.
				v.errf(diag.Elem(c.Body, "gateway", i, c.DefRange), "Invalid gateway", "gateway: %q is not an IP address (no prefix length, no zone index).", g)
				continue
			}
			rm.Gateways = append(rm.Gateways, a)
		}
		for i, d := range c.DNS {
			// networkd's DNS= takes ADDRESS%IFNAME; the zone is rendered
			// verbatim, so it must be an interface name, not arbitrary bytes.
			if a, err := netip.ParseAddr(d); err != nil || a.Zone() != "" && !validIfname(a.Zone()) {
				v.errf(diag.Elem(c.Body, "dns", i, c.DefRange), "Invalid DNS server", "dns: %q is not an IP address (optionally with %%INTERFACE).", d)
			}
		}
		if c.DHCP != "" {
			if msg := oneOf(c.DHCP, "yes", "no", "ipv4", "ipv6"); msg != "" {
				v.errf(diag.Attr(c.Body, "dhcp", c.DefRange), "Invalid DHCP mode", "dhcp: %s.", msg)
			}
		}
		rm.ContainerSide.DHCP, rm.ContainerSide.DNS = c.DHCP, c.DNS
		rm.ContainerSide.LLMNR = boolOr(c.LLMNR, rm.ContainerSide.LLMNR)
		rm.ContainerSide.MDNS = boolOr(c.MulticastDNS, rm.ContainerSide.MDNS)
		rm.ContainerSide.Extra = v.extra(c.Body, "extra", c.Extra, c.DefRange)
	}
	if n.Host != nil && len(n.Host.ProxyNDP) > 0 && mode == networkd.ModeVeth && len(rm.ProxiedAddrs()) == 0 {
		// Proxy NDP answers for fixed addresses; SLAAC addresses are not
		// known when the drop-in is written.
		v.errf(diag.Attr(n.Host.Body, "proxy_ndp", n.Host.DefRange), "Proxy NDP needs a static global address", "proxy_ndp answers neighbour discovery on %s for the container's static global IPv6 addresses, and machine %s has none. Give it container { address = [\"2001:db8::100/128\"] } (an address of the uplink's /64), or remove proxy_ndp.", strings.Join(n.Host.ProxyNDP, ", "), m.Name)
	}
}

// networkdNetworkDefault is the network block of a machine that has none.
var networkdNetworkDefault = config.Network{}

// joinModes joins network modes for a diagnostic.
func joinModes(ms []networkd.Mode, sep string) string {
	ss := make([]string, len(ms))
	for i, m := range ms {
		ss[i] = string(m)
	}
	return strings.Join(ss, sep)
}

// containerSideDefaults are a machine's LLMNR and mDNS settings without a
// zone or a container block that says otherwise.
var containerSideDefaults = ContainerSide{LLMNR: true, MDNS: false}

// hostSideDefaults are the settings of a veth link's host side without a host block.
var hostSideDefaults = HostSide{Masquerade: networkd.MasqueradeBoth, DHCPServer: true}

func (v *validator) hostConfig(h *config.HostConfig, rm *ResolvedMachine) {
	rm.HostAddrs = v.addresses(h.Body, "address", h.Address, h.DefRange, "machine "+rm.Name, "")
	if h.Pool != "" {
		v.pool(h.Body, "pool", h.Pool, h.DefRange, 28)
	}
	hs := &rm.HostSide
	hs.Masquerade = v.masquerade(h.Body, h.Masquerade, h.DefRange, networkd.MasqueradeBoth)
	hs.DHCPServer = boolOr(h.DHCPServer, true)
	hs.ProxyNDP = h.ProxyNDP
	for i := range h.IPv6Prefix {
		p := &h.IPv6Prefix[i]
		rng := diag.Attr(p.Body, "prefix", p.DefRange)
		pfx, msg := parseNetwork(p.Prefix)
		switch {
		case msg != "":
			v.errf(rng, "Invalid IPv6 prefix", "prefix: %s.", msg)
		case !pfx.Addr().Is6():
			v.errf(rng, "Invalid IPv6 prefix", "prefix %s is not an IPv6 prefix.", pfx)
		case p.Assign && pfx.Bits() != 64:
			v.errf(rng, "Prefix length unsuitable for assign", "assign = true needs a /64: networkd assigns an address by SLAAC (EUI-64 or a token), which works only on /64 prefixes. %s is a /%d; announce a /64 of it.", pfx, pfx.Bits())
		case pfx.Bits() > 64:
			v.errf(rng, "Prefix too long for router advertisements", "Containers configure addresses from an announced prefix by SLAAC, which needs a /64; %s is a /%d.", pfx, pfx.Bits())
		default:
			v.used = append(v.used, usedPrefix{p: pfx, owner: "machine " + rm.Name, rng: rng})
			if p.Assign {
				hs.Assign = append(hs.Assign, pfx)
			} else {
				hs.Announce = append(hs.Announce, pfx)
			}
		}
	}
	hs.PrefixDelegation = v.prefixDelegation(h.PrefixDelegation)
	for i, u := range h.ProxyNDP {
		if !validIfname(u) {
			v.errf(diag.Elem(h.Body, "proxy_ndp", i, h.DefRange), "Invalid uplink", "proxy_ndp: %q is not an interface name.", u)
		}
	}
	hs.Extra = v.extra(h.Body, "extra", h.Extra, h.DefRange)
}

// containerDHCP fills in the container's DHCP= where the container block
// does not set it: on without static addresses (after allocation), off with them.
func (v *validator) containerDHCP() {
	for _, m := range v.out.Machines {
		if m.ContainerSide.DHCP != "" {
			continue
		}
		m.ContainerSide.DHCP = "no"
		if len(m.ContainerAddrs) == 0 {
			m.ContainerSide.DHCP = "yes"
		}
	}
}
