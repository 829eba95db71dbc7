package doctor

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/nat"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// RestoreUnitName is the unit that puts nspawnctl's forwards back after
// nftables.service flushed the ruleset (see nat.RestoreUnit).
const RestoreUnitName = nat.RestoreUnitName

// checkNftablesFlush checks that a firewall reload cannot silently wipe the
// port forwards: nftables.service's "flush ruleset" deletes io.systemd.nat,
// and neither systemd nor networkd put its entries back.
func checkNftablesFlush(h HostView) Check {
	c := Check{ID: "nftables-flush"}
	u, err := h.Unit("nftables.service")
	if err != nil {
		return skip(c, "cannot ask systemd about nftables.service", err)
	}
	if !u.Found() || u.LoadState == "masked" {
		c.Status, c.Summary = StatusOK, "nftables.service is not installed"
		return c
	}
	if !u.Enabled() && u.ActiveState != "active" {
		c.Status, c.Summary = StatusOK, "nftables.service is installed but not in use"
		return c
	}
	flushes, where := unitFlushes(h, u)
	if !flushes {
		c.Status, c.Summary = StatusOK, "nftables.service does not flush the whole ruleset"
		return c
	}
	r, err := h.Unit(RestoreUnitName)
	if err == nil && r.Found() && r.Enabled() {
		c.Status, c.Summary = StatusOK, "nftables.service flushes the ruleset; "+RestoreUnitName+" restores the forwards and outbound NAT after it"
		return c
	}
	c.Status = StatusFail
	c.Summary = "restarting or reloading nftables.service wipes the port forwards and masquerading"
	c.Detail = "\"flush ruleset\" in " + where + " deletes the io.systemd.nat tables; systemd does not re-add what was in them, and " + RestoreUnitName + " is "
	switch {
	case err != nil:
		c.Detail += "unknown (" + err.Error() + ")."
	case !r.Found():
		c.Detail += "not installed."
	default:
		c.Detail += orUnknown(r.UnitFileState) + "."
	}
	c.Remedy = "install /etc/systemd/system/" + RestoreUnitName + " (After= and PartOf=nftables.service, ExecStart=nspawnctl nat restore)\n" +
		"and run systemctl daemon-reload && systemctl enable " + RestoreUnitName + ";\n" +
		"or replace \"flush ruleset\" in " + where + " by deleting only your own tables"
	return c
}

// unitFlushes reports whether nftables.service runs "flush ruleset", either
// on its command lines or in a ruleset file it loads, and where.
func unitFlushes(h HostView, u Unit) (bool, string) {
	files := []string{u.FragmentPath}
	if u.FragmentPath == "" {
		files = []string{"/etc/systemd/system/nftables.service", "/usr/lib/systemd/system/nftables.service", "/lib/systemd/system/nftables.service"}
	}
	files = append(files, u.DropInPaths...)
	loaded := map[string]bool{}
	execFile := regexp.MustCompile(`(?:-f|--file)[ =]+"?([^\s";']+)`)
	for _, f := range files {
		b, err := h.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok || !strings.HasPrefix(strings.TrimSpace(k), "Exec") {
				continue
			}
			if strings.Contains(v, "flush ruleset") && strings.TrimSpace(k) != "ExecStop" {
				return true, f
			}
			for _, m := range execFile.FindAllStringSubmatch(v, -1) {
				loaded[m[1]] = true
			}
			if strings.Contains(v, "include") {
				for _, m := range regexp.MustCompile(`include\s+\\?"([^"\\]+)`).FindAllStringSubmatch(v, -1) {
					loaded[m[1]] = true
				}
			}
		}
	}
	if len(loaded) == 0 {
		loaded["/etc/nftables.conf"] = true
	}
	for f := range loaded {
		b, err := h.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			line, _, _ = strings.Cut(line, "#")
			if strings.Contains(line, "flush ruleset") {
				return true, f
			}
		}
	}
	return false, ""
}

// feature is something a configuration may use that needs a minimum
// systemd (or kernel) version.
type feature struct {
	id       string
	what     string
	systemd  int    // minimum systemd version, 0: none
	kernel   string // minimum kernel release, "": none
	note     string // said whenever the feature is used
	machines []string
}

// baselineSystemd is what every file nspawnctl renders needs:
// IPMasquerade=both (v248) and [DHCPServerStaticLease] (v249).
const baselineSystemd = 249

// checkFeatures compares the systemd (and kernel) version with what
// nspawnctl renders and what the configuration uses.
func checkFeatures(h HostView, ver int, cfg *resolve.Resolved) []Check {
	base := Check{ID: "systemd-version"}
	switch {
	case ver == 0:
		base = skip(base, "systemd's version is unknown; version requirements not checked", nil)
	case ver < baselineSystemd:
		base.Status = StatusFail
		base.Summary = fmt.Sprintf("systemd %d is older than %d, which nspawnctl's network files need", ver, baselineSystemd)
		base.Detail = "The rendered .network files use IPMasquerade=both (v248) and [DHCPServerStaticLease] (v249)."
		base.Remedy = fmt.Sprintf("upgrade systemd to %d or newer (Debian 12 ships 252)", baselineSystemd)
	default:
		base.Status, base.Summary = StatusOK, fmt.Sprintf("systemd %d has what nspawnctl's files need (%d+)", ver, baselineSystemd)
	}
	out := []Check{base}
	if cfg == nil {
		out = append(out, skip(Check{ID: "features"}, "no configuration given: pass your files (nspawnctl doctor FILE|DIR...) to check the features they use", nil))
		return out
	}
	fs := usedFeatures(cfg)
	if len(fs) == 0 {
		out = append(out, Check{ID: "features", Status: StatusOK, Summary: "the configuration uses no feature with its own version requirement"})
		return out
	}
	kernel, kerr := h.KernelRelease()
	for _, f := range fs {
		c := Check{ID: "feature/" + f.id}
		users := strings.Join(f.machines, ", ")
		switch {
		case f.systemd > 0 && ver == 0:
			c = skip(c, fmt.Sprintf("%s (%s) needs systemd %d; the version is unknown", f.what, users, f.systemd), nil)
		case f.systemd > 0 && ver < f.systemd:
			c.Status = StatusFail
			c.Summary = fmt.Sprintf("%s needs systemd %d, this host has %d", f.what, f.systemd, ver)
			c.Detail = "Used by: " + users + "."
			c.Remedy = fmt.Sprintf("upgrade systemd to %d or newer, or remove it from the configuration of %s", f.systemd, users)
		case f.kernel != "" && kerr != nil:
			c = skip(c, fmt.Sprintf("%s (%s) needs kernel %s; the kernel release is unknown", f.what, users, f.kernel), kerr)
		case f.kernel != "" && kernelOlder(kernel, f.kernel):
			c.Status = StatusFail
			c.Summary = fmt.Sprintf("%s needs kernel %s, this host runs %s", f.what, f.kernel, kernel)
			c.Detail = "Used by: " + users + "."
			c.Remedy = fmt.Sprintf("boot a kernel %s or newer, or remove it from the configuration of %s", f.kernel, users)
		default:
			c.Status = StatusOK
			c.Summary = f.what + ": supported (" + users + ")"
			if f.note != "" {
				c.Summary = f.what + ": " + f.note + " (" + users + ")"
			}
		}
		if f.note != "" && c.Status != StatusOK {
			c.Detail = strings.TrimSpace(c.Detail + "\n" + f.note)
		}
		out = append(out, c)
	}
	return out
}

// usedFeatures lists the versioned features cfg uses, in a fixed order.
func usedFeatures(cfg *resolve.Resolved) []feature {
	fs := []*feature{
		{id: "ipv6-prefix-assign", what: "ipv6_prefix with assign = true ([IPv6Prefix] Assign=)", systemd: 246},
		{id: "prefix-delegation", what: "prefix_delegation (DHCPPrefixDelegation=)", systemd: 250},
		{id: "proxy-ndp", what: "proxy_ndp (IPv6ProxyNDPAddress=, ProxyNeighbor= since 262)", systemd: 234},
		{id: "zone", what: "zones (nspawn Zone=)", systemd: 230},
		{id: "ipv6-forwards", what: "IPv6 port forwards (IPv6 DNAT)", kernel: "5.8"},
		{id: "name-resolution", what: "LLMNR/mDNS between containers", note: "needs systemd-resolved running inside the containers; doctor cannot see inside them"},
	}
	for _, m := range cfg.Machines {
		use := func(f *feature) {
			if len(f.machines) == 0 || f.machines[len(f.machines)-1] != m.Name {
				f.machines = append(f.machines, m.Name)
			}
		}
		if hs := m.HostSide; m.Mode == networkd.ModeVeth {
			if len(hs.Assign) > 0 {
				use(fs[0])
			}
			if hs.PrefixDelegation != nil {
				use(fs[1])
			}
			if len(hs.ProxyNDP) > 0 {
				use(fs[2])
			}
		}
		if m.Zone != "" {
			use(fs[3])
		}
		for _, f := range m.Forwards {
			if f.Target.Is6() {
				use(fs[4])
			}
		}
		if m.ContainerSide.MDNS || m.Zone != "" {
			use(fs[5])
		}
	}
	var out []feature
	for _, f := range fs {
		if len(f.machines) > 0 {
			out = append(out, *f)
		}
	}
	return out
}

// usesMDNS reports whether any machine or zone of cfg runs mDNS, which then
// needs UDP 5353 open on the container links.
func usesMDNS(cfg *resolve.Resolved) bool {
	if cfg == nil {
		return false
	}
	for _, z := range cfg.Zones {
		if z.MDNS {
			return true
		}
	}
	for _, m := range cfg.Machines {
		if m.ContainerSide.MDNS {
			return true
		}
	}
	return false
}

// kernelOlder reports whether release (e.g. "5.4.0-150-generic") is older
// than min ("5.8"); an unparsable release is not called older.
func kernelOlder(release, min string) bool {
	parse := func(s string) (int, int, bool) {
		m := regexp.MustCompile(`^(\d+)\.(\d+)`).FindStringSubmatch(strings.TrimSpace(s))
		if m == nil {
			return 0, 0, false
		}
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		return a, b, true
	}
	ra, rb, ok1 := parse(release)
	ma, mb, ok2 := parse(min)
	if !ok1 || !ok2 {
		return false
	}
	return ra < ma || (ra == ma && rb < mb)
}

// checkForwardBypass renders the guide's warning: a forwarded port is
// DNAT-ed at priority -99 in prerouting and then routed to the container,
// so it never passes the host's input chain. allow_from is the way to limit
// who reaches it.
func checkForwardBypass(opts Options) Check {
	c := Check{ID: "forwards-firewall"}
	type fw struct {
		machine string
		f       nat.Forward
	}
	var open []fw
	known := false
	if opts.Config != nil {
		known = true
		for _, m := range opts.Config.Machines {
			for _, f := range m.Forwards {
				if len(f.AllowFrom) == 0 {
					open = append(open, fw{m.Name, f})
				}
			}
		}
	} else if opts.Forwards != nil {
		known = true
		for _, m := range opts.Forwards {
			for _, f := range m.Forwards {
				if len(f.AllowFrom) == 0 {
					open = append(open, fw{m.Name, f})
				}
			}
		}
	}
	const why = "Forwarded ports bypass the host's input firewall: the DNAT in io.systemd.nat (prerouting, priority -99) rewrites the destination before the filter input hook, and the packets are then forwarded to the container, so input rules never see them."
	if len(open) == 0 {
		c.Status = StatusOK
		c.Summary = "no port forward is open to every source"
		if !known {
			c.Summary = "no port forwards known (pass the configuration to check them)"
		}
		c.Detail = why + " Use allow_from in forward_port blocks to limit sources."
		return c
	}
	var lines []string
	for _, o := range open {
		lines = append(lines, fmt.Sprintf("machine %s: %s", o.machine, o.f))
	}
	c.Status = StatusWarn
	c.Summary = fmt.Sprintf("%d port forward(s) reachable from any source, whatever the host's input firewall says", len(open))
	c.Detail = why + "\n" + strings.Join(lines, "\n")
	c.Remedy = "if these ports should not be public, set allow_from = [\"CIDR\", ...] in their forward_port blocks (and host_address to bind one address)"
	return c
}
