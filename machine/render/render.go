package render

import (
	"fmt"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/nspawnctl/nspawnctl/internal/unitfile"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/networkd"
	"github.com/nspawnctl/nspawnctl/networkd/renumber"
	"github.com/nspawnctl/nspawnctl/zones"
)

// Artifact is one file (or symlink) nspawnctl puts on a host.
type Artifact struct {
	// Path is absolute, as on the host.
	Path string
	// Content is the file's bytes (empty for a symlink).
	Content []byte
	// Mode is the file's permission bits.
	Mode uint32
	// Symlink, when set, makes the artifact a symbolic link to this target.
	Symlink string
	// Owner says which object the artifact belongs to: "machine/NAME", "zone/NAME" or "bridge/NAME".
	Owner string
	// InRoot marks files inside a machine's root file system.
	InRoot bool
}

// Well-known locations of the artifacts.
const (
	NspawnDir  = "/etc/systemd/nspawn"
	NetworkDir = "/etc/systemd/network"
	// SystemDir is the default unit directory for drop-ins and autostart links.
	SystemDir    = resolve.DefaultUnitDir
	TemplateUnit = "/lib/systemd/system/systemd-nspawn@.service"
	// DefaultBinary is where the hooks in the drop-in find nspawnctl.
	DefaultBinary = "/usr/local/bin/nspawnctl"
)

// RenderOptions are the inputs of rendering that are not configuration.
type RenderOptions struct {
	// Binary is the absolute path of nspawnctl used in unit hooks.
	Binary string
	// MachineID is the host's machine id, for the container's deterministic MAC.
	MachineID [16]byte
	// StaticLeases renders DHCP static leases for the container's MAC, which
	// is derivable from MachineID exactly as systemd-nspawn derives it.
	StaticLeases bool
	// UplinkNetworkFiles maps an uplink named in proxy_ndp to the .network
	// file networkd applies to it (read from networkd at create time), whose
	// drop-in directory gets the proxy NDP settings. Nil renders without the
	// host: the drop-in is then shown under UPLINK.network.d, a stand-in.
	UplinkNetworkFiles map[string]string
	// SystemdVersion is the host's systemd major version (0: unknown, render
	// for systemd before networkd.GlobalForwardingSince), which decides
	// whether MachineArtifacts includes the forwarding drop-ins.
	SystemdVersion int
}

// UnitName is the systemd unit that runs machine name.
func UnitName(name string) string { return "systemd-nspawn@" + name + ".service" }

// DropInPath is the path of nspawnctl's drop-in for machine name in unitDir.
func DropInPath(unitDir, name string) string {
	return path.Join(unitDir, UnitName(name)+".d", "nspawnctl.conf")
}

// NspawnPath is the path of machine name's .nspawn file.
func NspawnPath(name string) string { return path.Join(NspawnDir, name+".nspawn") }

// Render returns every artifact of a resolved configuration, sorted by path.
// It is pure: the same configuration and options give the same bytes.
func Render(r *resolve.Resolved, opts RenderOptions) ([]Artifact, error) {
	if opts.Binary == "" {
		opts.Binary = DefaultBinary
	}
	var out []Artifact
	for _, m := range r.Machines {
		as, err := RenderMachine(r, m, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, as...)
	}
	for _, z := range r.Zones {
		a, err := RenderZone(z)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	for _, b := range r.Bridges {
		as, err := RenderBridge(b)
		if err != nil {
			return nil, err
		}
		out = append(out, as...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// RenderMachine returns the artifacts of one machine.
func RenderMachine(r *resolve.Resolved, m *resolve.ResolvedMachine, opts RenderOptions) ([]Artifact, error) {
	owner := "machine/" + m.Name
	wrap := func(what string) func([]byte, error) ([]byte, error) {
		return func(b []byte, err error) ([]byte, error) {
			if err != nil {
				return nil, fmt.Errorf("rendering the %s of machine %s: %w", what, m.Name, err)
			}
			return b, nil
		}
	}
	var out []Artifact
	nspawn, err := wrap(".nspawn file")(renderNspawn(m))
	if err != nil {
		return nil, err
	}
	out = append(out, Artifact{Path: NspawnPath(m.Name), Content: nspawn, Mode: 0o644, Owner: owner})

	dropin, err := wrap("unit drop-in")(renderDropIn(r, m, opts))
	if err != nil {
		return nil, err
	}
	if dropin != nil {
		out = append(out, Artifact{Path: DropInPath(r.UnitDir, m.Name), Content: dropin, Mode: 0o644, Owner: owner})
	}

	if m.Unit.Autostart {
		out = append(out, Artifact{
			Path:    path.Join(r.UnitDir, "machines.target.wants", UnitName(m.Name)),
			Symlink: TemplateUnit, Owner: owner,
		})
	}

	if m.Mode == networkd.ModeVeth {
		hv := hostVeth(m, opts)
		b, err := wrap("host network file")(networkd.RenderHostVeth(hv))
		if err != nil {
			return nil, err
		}
		out = append(out, Artifact{Path: HostNetworkPath(m), Content: b, Mode: 0o644, Owner: owner})
		ndp, err := proxyNDPArtifacts(m, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, ndp...)
	}

	if m.RootKind == resolve.RootTarball || m.RootKind == resolve.RootBootstrap {
		// Roots nspawnctl creates carry the hostname of the machine they
		// were built on (mmdebstrap copies /etc/hostname), and the
		// container's systemd sets that at boot over nspawn's machine name;
		// then LLMNR and mDNS would answer for the wrong name.
		out = append(out, Artifact{
			Path:    path.Join(m.RootDir, "etc/hostname"),
			Content: []byte(m.Name + "\n"), Mode: 0o644, Owner: owner, InRoot: true,
		})
	}

	if c, ok := containerNetwork(m); ok {
		b, err := wrap("container network file")(networkd.RenderContainer(c))
		if err != nil {
			return nil, err
		}
		out = append(out, Artifact{
			Path:    path.Join(m.RootDir, "etc/systemd/network", networkd.FilePrefix+c.FileName+".network"),
			Content: b, Mode: 0o644, Owner: owner, InRoot: true,
		})
		// The file only takes effect with networkd running in the container,
		// which many roots (Debian's among them) do not enable by default;
		// enable it the way systemctl enable would.
		for _, u := range []struct{ target, unit string }{
			{"multi-user.target.wants", "systemd-networkd.service"},
			{"sockets.target.wants", "systemd-networkd.socket"},
		} {
			out = append(out, Artifact{
				Path:    path.Join(m.RootDir, "etc/systemd/system", u.target, u.unit),
				Symlink: path.Join("/lib/systemd/system", u.unit), Owner: owner, InRoot: true,
			})
		}
		// Name resolution between containers matters on shared links
		// (zones, bridges, a macvlan's LAN); on a veth link the only peer
		// is the host, and the .network file's settings are enough.
		if m.Mode != networkd.ModeVeth && (c.LLMNR || c.MDNS) {
			b, err := wrap("resolved drop-in")(networkd.RenderResolved(networkd.Resolved{Machine: m.Name, LLMNR: c.LLMNR, MDNS: c.MDNS}))
			if err != nil {
				return nil, err
			}
			out = append(out, Artifact{
				Path:    path.Join(m.RootDir, "etc/systemd/resolved.conf.d/nspawnctl.conf"),
				Content: b, Mode: 0o644, Owner: owner, InRoot: true,
			})
		}
	}
	return out, nil
}

// ProxyNDPUplinks are the uplinks a veth machine asks proxy NDP on.
func ProxyNDPUplinks(m *resolve.ResolvedMachine) []string {
	if m.Mode == networkd.ModeVeth {
		return m.HostSide.ProxyNDP
	}
	return nil
}

// proxyNDPArtifacts renders one drop-in per proxy_ndp uplink.
func proxyNDPArtifacts(m *resolve.ResolvedMachine, opts RenderOptions) ([]Artifact, error) {
	var out []Artifact
	for _, up := range ProxyNDPUplinks(m) {
		file := up + ".network"
		if opts.UplinkNetworkFiles != nil {
			f, ok := opts.UplinkNetworkFiles[up]
			if !ok {
				return nil, fmt.Errorf("machine %s: proxy_ndp names uplink %s, but systemd-networkd applies no .network file to it, so there is nothing to add IPv6ProxyNDPAddress= to; configure %s with systemd-networkd, or remove it from proxy_ndp", m.Name, up, up)
			}
			file = path.Base(f)
		}
		b, err := networkd.RenderProxyNDP(networkd.ProxyNDP{Machine: m.Name, Uplink: up, Addrs: m.ProxiedAddrs()})
		if err != nil {
			return nil, fmt.Errorf("rendering the proxy NDP drop-in of machine %s for %s: %w", m.Name, up, err)
		}
		out = append(out, Artifact{Path: path.Join(NetworkDir, file+".d", "nspawnctl-"+m.Name+".conf"), Content: b, Mode: 0o644, Owner: "machine/" + m.Name})
	}
	return out, nil
}

// HostNetworkPath is the host side .network file of a veth machine.
func HostNetworkPath(m *resolve.ResolvedMachine) string {
	return path.Join(NetworkDir, networkd.FilePrefix+"ve-"+m.Name+".network")
}

func renderNspawn(m *resolve.ResolvedMachine) ([]byte, error) {
	s := m.Exec
	b := unitfile.New("Managed by nspawnctl for machine "+m.Name+".", "Do not edit: nspawnctl rewrites or removes this file.")
	b.Bool("Exec", "Boot", m.Boot)
	if m.Boot {
		// The unit (Type=notify) becomes active when the container's
		// systemd reports the boot finished, not when nspawn forked it: the
		// ExecStartPost hooks then meet an init that handles signals, so a
		// failing hook's halt is obeyed at once (systemd 257 and 262 wait for
		// the stop timeout otherwise). Not for other payloads: a command
		// that never sends READY=1 would hang the start until its timeout.
		b.Set("Exec", "NotifyReady", "yes")
	}
	if m.RootKind == resolve.RootNixOS {
		params := append([]string{path.Join(m.Root.NixOSSystem, "init")}, s.Command...)
		b.Set("Exec", "Parameters", strings.Join(params, " "))
		// A NixOS init stops on SIGRTMIN+3 like systemd, and reports
		// readiness itself, so the unit's Type=notify waits for the system.
		b.Set("Exec", "KillSignal", "SIGRTMIN+3")
		b.Set("Exec", "NotifyReady", "yes")
	} else if len(s.Command) > 0 {
		b.Set("Exec", "Parameters", strings.Join(quoteArgs(s.Command), " "))
	}
	// The template unit passes -U; nspawnctl defaults to no user namespace
	// because nested and networked containers need the host's IDs for veth
	// creation and bind mounts, and says so explicitly so the .nspawn wins.
	b.Set("Exec", "PrivateUsers", s.PrivateUsers)
	if s.Ephemeral {
		b.Set("Exec", "Ephemeral", "yes")
	}
	for _, k := range sortedMapKeys(s.Environment) {
		// nspawn splits Environment= on whitespace, honouring quotes, so an
		// assignment with spaces or quotes must be quoted as a whole.
		b.Set("Exec", "Environment", quoteArgs([]string{k + "=" + s.Environment[k]})[0])
	}
	b.Set("Exec", "Capability", s.Capabilities...)
	b.Set("Exec", "DropCapability", s.DropCapabilities...)
	if len(s.SystemCallFilter) > 0 {
		b.Set("Exec", "SystemCallFilter", strings.Join(s.SystemCallFilter, " "))
	}
	if s.LimitNOFILE > 0 {
		b.Set("Exec", "LimitNOFILE", strconv.Itoa(s.LimitNOFILE))
	}
	f := m.Files
	b.Set("Files", "Bind", f.Bind...)
	b.Set("Files", "BindReadOnly", f.BindReadOnly...)
	if m.RootKind == resolve.RootNixOS {
		b.Set("Files", "BindReadOnly", "/nix/store")
	}
	b.Set("Files", "TemporaryFileSystem", f.TemporaryFileSystems...)
	switch m.Mode {
	case networkd.ModeVeth:
		b.Set("Network", "VirtualEthernet", "yes")
	case networkd.ModeZone:
		b.Set("Network", "Zone", m.Zone)
	case networkd.ModeBridge:
		b.Set("Network", "Bridge", m.Bridge)
	case networkd.ModeMacvlan:
		b.Set("Network", "MACVLAN", strings.Join(m.Parents, " "))
	case networkd.ModeIpvlan:
		b.Set("Network", "IPVLAN", strings.Join(m.Parents, " "))
	case networkd.ModeHost:
		// Overrides the template unit's --network-veth: share the host's network.
		b.Set("Network", "VirtualEthernet", "no")
		b.Set("Network", "Private", "no")
	case networkd.ModeNone:
		b.Set("Network", "Private", "yes")
		b.Set("Network", "VirtualEthernet", "no")
	}
	return b.Bytes()
}

// quoteArgs quotes arguments for nspawn's Parameters=, which splits on
// whitespace and honours C-style quotes.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'\\") {
			out[i] = strconv.Quote(a)
		} else {
			out[i] = a
		}
	}
	return out
}

func renderDropIn(r *resolve.Resolved, m *resolve.ResolvedMachine, opts RenderOptions) ([]byte, error) {
	u := m.Unit
	b := unitfile.New("Managed by nspawnctl for machine "+m.Name+".", "Do not edit: nspawnctl rewrites or removes this file.")
	if needsRootOverride(m) {
		// The template unit finds roots only in the machine image
		// directories (/var/lib/machines, ...) by the machine's name; a
		// root elsewhere needs the command line to name it.
		flag := "--directory=" + m.RootDir
		if m.RootKind == resolve.RootImage {
			flag = "--image=" + m.RootDir
		}
		b.SetRaw("Service", "ExecStart", "")
		b.Set("Service", "ExecStart", "systemd-nspawn --quiet --keep-unit --boot --link-journal=try-guest --network-veth -U --settings=override --machine=%i "+flag)
		b.Set("Unit", "RequiresMountsFor", path.Dir(m.RootDir))
	}
	if m.Mode == networkd.ModeZone || m.Mode == networkd.ModeVeth || m.Mode == networkd.ModeBridge {
		// The host side (and a declared bridge, which networkd creates from
		// its .netdev) must be in place before nspawn attaches the
		// container; ordering after networkd is enough.
		b.Set("Unit", "After", "systemd-networkd.service")
	}
	if NeedsNAT(NATMachine(r, m)) {
		// Forwards and outbound NAT follow the container's lifetime however
		// it is started (nspawnctl start, machinectl start, machines.target
		// at boot). Conflicts are refused before nspawn runs (see
		// nat.CheckMachine): a failing ExecStartPre fails the unit at once
		// on every systemd.
		b.Set("Service", "ExecStartPre", opts.Binary+" nat check %i")
		b.Set("Service", "ExecStartPost", opts.Binary+" nat up %i")
		b.Set("Service", "ExecStopPost", opts.Binary+" nat down %i")
	}
	if u.TimeoutStart != "" {
		b.Set("Service", "TimeoutStartSec", u.TimeoutStart)
	}
	if u.TimeoutStop != "" {
		b.Set("Service", "TimeoutStopSec", u.TimeoutStop)
	}
	b.Set("Service", "MemoryMax", u.MemoryMax)
	b.Set("Service", "CPUQuota", u.CPUQuota)
	if u.TasksMax > 0 {
		b.Set("Service", "TasksMax", strconv.Itoa(u.TasksMax))
	}
	if m.Nebula != nil {
		// The sidecar joins the container's network namespace; it is wanted
		// by the container so that machinectl start brings it too.
		b.Set("Unit", "Wants", "nspawnctl-nebula@%i.service")
	}
	if link := DelegatedLink(r, m); link != "" {
		// networkd does not deprecate a delegated prefix it withdraws;
		// this unit does, for as long as a machine uses the link.
		b.Set("Unit", "Wants", renumber.UnitInstance(link))
	}
	if b.Empty() {
		return nil, nil // the stock unit needs nothing added
	}
	return b.Bytes()
}

// needsRootOverride reports whether the template unit cannot find the
// machine's root by name: systemd-nspawn@.service passes only --machine=NAME,
// which nspawn resolves to /var/lib/machines/NAME or NAME.raw.
func needsRootOverride(m *resolve.ResolvedMachine) bool {
	want := path.Join(resolve.DefaultMachinesDir, m.Name)
	if m.RootKind == resolve.RootImage {
		want += ".raw"
	}
	return m.RootDir != want
}

func hostVeth(m *resolve.ResolvedMachine, opts RenderOptions) networkd.HostVeth {
	hs := m.HostSide
	hv := networkd.HostVeth{
		Machine: m.Name, Name: m.HostLink, Addrs: m.HostAddrs,
		Masquerade: hs.Masquerade, DHCPServer: hs.DHCPServer, PrefixDelegation: hs.PrefixDelegation, Extra: hs.Extra,
		Assign: hs.Assign,
	}
	// The link's own IPv6 subnets are announced first, then the configured prefixes.
	for _, a := range m.HostAddrs {
		if a.Addr().Is6() && !a.Addr().IsLinkLocalUnicast() {
			hv.Announce = append(hv.Announce, a.Masked())
		}
	}
	hv.Announce = append(hv.Announce, hs.Announce...)
	if len(hs.ProxyNDP) > 0 {
		// A proxied address usually lies in the uplink's on-link /64;
		// unless a prefix of this link covers it, only a host route
		// sends its traffic here instead of back out of the uplink.
		onLink := append(append(append([]netip.Prefix(nil), m.HostAddrs...), hv.Assign...), hv.Announce...)
		for _, a := range m.ProxiedAddrs() {
			if !slicesContainsAddr(onLink, a) {
				hv.Routes = append(hv.Routes, netip.PrefixFrom(a, 128))
			}
		}
	}
	if opts.StaticLeases {
		for _, a := range m.ContainerAddrs {
			if a.Addr().Is4() {
				hv.StaticLease = &networkd.Lease{MAC: networkd.ContainerSideMAC(opts.MachineID, m.Name), Addr: a.Addr()}
				break
			}
		}
	}
	return hv
}

// containerNetwork describes the container side file, when nspawnctl writes one:
// only into directory roots it can write to, and not for NixOS systems, whose
// network is part of their own configuration.
func containerNetwork(m *resolve.ResolvedMachine) (networkd.Container, bool) {
	if m.RootKind == resolve.RootImage || m.RootKind == resolve.RootNixOS {
		return networkd.Container{}, false
	}
	cs := m.ContainerSide
	c := networkd.Container{
		Machine: m.Name, MatchName: "host0", FileName: "host0", Addrs: m.ContainerAddrs, Gateways: m.Gateways,
		DHCP: cs.DHCP, DNS: cs.DNS, LLMNR: cs.LLMNR, MDNS: cs.MDNS, Extra: cs.Extra,
	}
	switch m.Mode {
	case networkd.ModeHost, networkd.ModeNone:
		return c, false
	case networkd.ModeMacvlan:
		c.MatchName, c.FileName = "mv-*", "macvlan"
	case networkd.ModeIpvlan:
		c.MatchName, c.FileName = "iv-*", "ipvlan"
	}
	return c, true
}

// RenderZone renders the .network file of a zone's vz- bridge.
func RenderZone(z *resolve.ResolvedZone) (Artifact, error) {
	zn := zones.ZoneNetwork{
		Name: z.Name, Link: z.Link, Addrs: z.Addrs,
		DHCPServer: z.DHCPServer, LLMNR: z.LLMNR, MDNS: z.MDNS,
		Masquerade: z.Masquerade, PrefixDelegation: z.PrefixDelegation, Extra: z.Extra,
	}
	for _, a := range z.Addrs {
		if a.Addr().Is6() {
			zn.Announce = append(zn.Announce, a.Masked())
		}
	}
	b, err := zones.RenderZone(zn)
	if err != nil {
		return Artifact{}, fmt.Errorf("rendering zone %s: %w", z.Name, err)
	}
	return Artifact{Path: path.Join(NetworkDir, networkd.FilePrefix+z.Link+".network"), Content: b, Mode: 0o644, Owner: "zone/" + z.Name}, nil
}

// RenderBridge renders a declared bridge's files.
func RenderBridge(br *resolve.ResolvedBridge) ([]Artifact, error) {
	bn := zones.BridgeNetwork{
		Name: br.Name, Addrs: br.Addrs, Uplink: br.Uplink, DHCP: br.DHCP, DHCPServer: br.DHCPServer,
		Masquerade: br.Masquerade, Extra: br.Extra, NetdevExtra: br.NetdevExtra,
	}
	owner := "bridge/" + br.Name
	base := path.Join(NetworkDir, networkd.FilePrefix+br.Name)
	var out []Artifact
	for _, f := range []struct {
		path   string
		render func(zones.BridgeNetwork) ([]byte, error)
	}{
		{base + ".netdev", zones.RenderBridgeNetdev},
		{base + ".network", zones.RenderBridgeNetwork},
	} {
		b, err := f.render(bn)
		if err != nil {
			return nil, fmt.Errorf("rendering bridge %s: %w", br.Name, err)
		}
		out = append(out, Artifact{Path: f.path, Content: b, Mode: 0o644, Owner: owner})
	}
	if br.Uplink != "" {
		b, err := zones.RenderBridgeUplink(bn)
		if err != nil {
			return nil, fmt.Errorf("rendering bridge %s: %w", br.Name, err)
		}
		out = append(out, Artifact{Path: base + "-uplink.network", Content: b, Mode: 0o644, Owner: owner})
	}
	return out, nil
}

func slicesContainsAddr(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Masked().Contains(a) {
			return true
		}
	}
	return false
}

func sortedMapKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DelegatedLink is the host-side link of m that takes a /64 of an uplink's
// DHCPv6 prefix delegation: the machine's own ve- link, or the vz- bridge
// of a zone with a prefix_delegation block; "" when there is none.
func DelegatedLink(r *resolve.Resolved, m *resolve.ResolvedMachine) string {
	switch m.Mode {
	case networkd.ModeVeth:
		if m.HostSide.PrefixDelegation != nil {
			return m.HostLink
		}
	case networkd.ModeZone:
		for _, z := range r.Zones {
			if z.Name == m.Zone && z.PrefixDelegation != nil {
				return z.Link
			}
		}
	}
	return ""
}
