package doctor

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nspawnctl/nspawnctl/networkd"
)

// containerPrefixes are the host-side link prefixes systemd-nspawn uses:
// ve- (veth), vz- (zone bridges), vb- (veth ports of a bridge or zone).
var containerPrefixes = []string{"ve-", "vz-", "vb-"}

func isContainerLink(name string) bool {
	for _, p := range containerPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// checkSystemd checks that systemd is the service manager (sd_booted) and
// returns its major version (0 when unknown) for the feature checks.
func checkSystemd(h HostView) (int, Check) {
	c := Check{ID: "systemd"}
	raw, verr := h.SystemdVersion()
	ver := 0
	if verr == nil {
		ver = networkd.ParseSystemdVersion(raw)
	}
	booted, _ := h.Glob("/run/systemd/system")
	if len(booted) == 0 {
		c.Status = StatusFail
		c.Summary = "systemd is not the service manager (no /run/systemd/system)"
		c.Detail = "systemd-nspawn@.service, machined and networkd need a host booted with systemd as PID 1."
		c.Remedy = "run nspawnctl (and doctor) on the host that runs the containers, booted with systemd"
		return ver, c
	}
	if ver == 0 {
		c.Status = StatusWarn
		c.Summary = "systemd runs, but its version could not be read"
		if verr != nil {
			c.Detail = verr.Error()
		} else {
			c.Detail = fmt.Sprintf("unrecognised version %q", raw)
		}
		c.Remedy = "check that the system bus works (busctl status) and that systemctl --version prints a version; the feature checks are skipped until then"
		return 0, c
	}
	c.Status = StatusOK
	c.Summary = fmt.Sprintf("systemd %d (%s) is the service manager", ver, strings.TrimSpace(raw))
	return ver, c
}

// checkNetworkd checks that systemd-networkd runs and starts at boot, and
// that systemd's fallback files for container links are not masked.
func checkNetworkd(h HostView) Check {
	c := Check{ID: "networkd"}
	u, err := h.Unit("systemd-networkd.service")
	if err != nil {
		return skip(c, "cannot ask systemd about systemd-networkd.service", err)
	}
	switch {
	case u.LoadState == "masked" || u.UnitFileState == "masked":
		c.Status, c.Summary = StatusFail, "systemd-networkd.service is masked"
		c.Detail = "systemd-networkd gives the host side of every container link its address, DHCP server and masquerading; without it containers get no network."
		c.Remedy = "systemctl unmask systemd-networkd.service && systemctl enable --now systemd-networkd.service"
		return c
	case !u.Found():
		c.Status, c.Summary = StatusFail, "systemd-networkd is not installed"
		c.Remedy = "install systemd-networkd (on Debian it is part of the systemd package) and run systemctl enable --now systemd-networkd.service"
		return c
	case u.ActiveState != "active":
		c.Status, c.Summary = StatusFail, fmt.Sprintf("systemd-networkd.service is %s", u.ActiveState)
		c.Detail = "systemd-networkd gives the host side of every container link its address, DHCP server and masquerading; without it containers get no network."
		c.Remedy = "systemctl enable --now systemd-networkd.service (see journalctl -u systemd-networkd if it fails to start)"
		return c
	case !u.Enabled():
		c.Status, c.Summary = StatusWarn, fmt.Sprintf("systemd-networkd.service runs but is %s", orUnknown(u.UnitFileState))
		c.Detail = "After a reboot networkd will not run and containers will get no network."
		c.Remedy = "systemctl enable systemd-networkd.service"
		return c
	}
	// A stock file masked in /etc or /run (an empty file or a link to
	// /dev/null) leaves machines that nspawnctl does not manage unconfigured.
	var masked []string
	for _, f := range []string{"80-container-ve.network", "80-container-vz.network", "80-container-vb.network"} {
		for _, dir := range []string{"/etc/systemd/network/", "/run/systemd/network/"} {
			if found, _ := h.Glob(dir + f); len(found) == 0 {
				continue
			}
			if b, err := h.ReadFile(dir + f); err == nil && len(strings.TrimSpace(string(b))) == 0 {
				masked = append(masked, dir+f)
			}
		}
	}
	if len(masked) > 0 {
		c.Status, c.Summary = StatusWarn, "systemd-networkd runs, but systemd's container network files are masked"
		c.Detail = "Masked: " + strings.Join(masked, ", ") + ". Machines nspawnctl manages have their own files; containers started otherwise (machinectl, systemd-nspawn -n) get unconfigured links."
		c.Remedy = "rm " + strings.Join(masked, " ") + " && networkctl reload, unless the mask is deliberate"
		return c
	}
	c.Status, c.Summary = StatusOK, "systemd-networkd.service is active and enabled"
	return c
}

// checkNetworkdLinks checks networkd's state of every container link present.
func checkNetworkdLinks(h HostView) Check {
	c := Check{ID: "networkd-links"}
	links, err := h.Links()
	if err != nil {
		return skip(c, "cannot list the host's links", err)
	}
	var ok, pending, unknown, bad []string
	var badNames []string
	for _, l := range links {
		if !isContainerLink(l.Name) {
			continue
		}
		switch l.SetupState {
		case "configured", "linger":
			ok = append(ok, l.Name)
		case "configuring", "pending", "initialized":
			pending = append(pending, fmt.Sprintf("%s is %s", l.Name, l.SetupState))
		case "":
			unknown = append(unknown, l.Name)
		case "unmanaged":
			bad = append(bad, fmt.Sprintf("%s is unmanaged: no .network file matches it", l.Name))
			badNames = append(badNames, l.Name)
		default:
			bad = append(bad, fmt.Sprintf("%s is %s", l.Name, l.SetupState))
			badNames = append(badNames, l.Name)
		}
	}
	total := len(ok) + len(pending) + len(unknown) + len(bad)
	switch {
	case total == 0:
		c.Status, c.Summary = StatusOK, "no ve-/vz-/vb- links right now (no container with a private network runs)"
	case len(bad) > 0:
		c.Status = StatusFail
		c.Summary = fmt.Sprintf("%d of %d container link(s) not configured by systemd-networkd", len(bad), total)
		c.Detail = strings.Join(bad, "\n")
		c.Remedy = "for machines nspawnctl manages, run nspawnctl apply so their .network files exist; for others keep systemd's 80-container-*.network (not masked in /etc/systemd/network);\n" +
			"then networkctl reconfigure " + strings.Join(badNames, " ") + " (networkctl status LINK and journalctl -u systemd-networkd say why a link failed)"
	case len(unknown) > 0:
		c.Status = StatusWarn
		c.Summary = fmt.Sprintf("networkd's state of %d container link(s) is unknown", len(unknown))
		c.Detail = "Could not ask systemd-networkd about " + strings.Join(unknown, ", ") + "."
		c.Remedy = "check with networkctl list that networkd runs and shows them as configured"
	case len(pending) > 0:
		c.Status = StatusWarn
		c.Summary = fmt.Sprintf("%d container link(s) still being configured", len(pending))
		c.Detail = strings.Join(pending, "\n")
		c.Remedy = "run doctor again in a few seconds; if a link stays there, see networkctl status LINK"
	default:
		c.Status = StatusOK
		c.Summary = fmt.Sprintf("%d container link(s) configured by systemd-networkd: %s", len(ok), strings.Join(ok, ", "))
	}
	return c
}

// checkOtherManagers looks for network managers that would configure the
// container links behind networkd's back unless told to leave them alone.
func checkOtherManagers(h HostView) Check {
	c := Check{ID: "other-managers"}
	procs, err := h.Processes()
	if err != nil {
		return skip(c, "cannot list the running processes", err)
	}
	running := func(names ...string) bool {
		return slices.ContainsFunc(procs, func(p string) bool { return slices.Contains(names, p) })
	}
	var found []string
	var problems []finding
	if running("NetworkManager") {
		found = append(found, "NetworkManager")
		problems = append(problems, networkManagerFinding(h)...)
	}
	if running("dhcpcd") {
		found = append(found, "dhcpcd")
		problems = append(problems, dhcpcdFinding(h)...)
	}
	if running("connmand", "connman") {
		found = append(found, "connman")
		problems = append(problems, connmanFinding(h)...)
	}
	if len(found) == 0 {
		c.Status, c.Summary = StatusOK, "no NetworkManager, dhcpcd or connman running"
		return c
	}
	if len(problems) == 0 {
		c.Status, c.Summary = StatusOK, strings.Join(found, ", ")+" running, configured to leave ve-/vz-/vb- links alone"
		return c
	}
	return merge(c, problems, "may configure container links behind systemd-networkd's back")
}

// finding is one problem within a check that can report several.
type finding struct {
	status         Status
	detail, remedy string
}

// merge makes one check out of findings: the worst status wins and every
// detail and remedy is listed.
func merge(c Check, fs []finding, summary string) Check {
	c.Status = StatusWarn
	var details, remedies []string
	for _, f := range fs {
		if f.status == StatusFail {
			c.Status = StatusFail
		}
		details = append(details, f.detail)
		remedies = append(remedies, f.remedy)
	}
	c.Summary = summary
	c.Detail = strings.Join(details, "\n")
	c.Remedy = strings.Join(remedies, "\n")
	return c
}

func networkManagerFinding(h HostView) []finding {
	var text strings.Builder
	for _, pat := range []string{"/etc/NetworkManager/NetworkManager.conf", "/etc/NetworkManager/conf.d/*.conf", "/run/NetworkManager/conf.d/*.conf", "/usr/lib/NetworkManager/conf.d/*.conf"} {
		files, _ := h.Glob(pat)
		for _, f := range files {
			if b, err := h.ReadFile(f); err == nil {
				text.Write(b)
				text.WriteByte('\n')
			}
		}
	}
	var missing []string
	for _, p := range containerPrefixes {
		if !strings.Contains(text.String(), "interface-name:"+p+"*") {
			missing = append(missing, p+"*")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return []finding{{
		status: StatusWarn,
		detail: "NetworkManager runs and its configuration does not list " + strings.Join(missing, ", ") + " in unmanaged-devices; depending on its version and udev rules it may take over container links.",
		remedy: "write /etc/NetworkManager/conf.d/90-nspawnctl.conf with\n  [keyfile]\n  unmanaged-devices=interface-name:ve-*;interface-name:vz-*;interface-name:vb-*\nthen systemctl reload NetworkManager",
	}}
}

func dhcpcdFinding(h HostView) []finding {
	b, _ := h.ReadFile("/etc/dhcpcd.conf")
	covered := map[string]bool{}
	allowList := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "denyinterfaces":
			for _, pat := range f[1:] {
				for _, p := range containerPrefixes {
					if ok, _ := filepath.Match(pat, p+"x"); ok {
						covered[p] = true
					}
				}
			}
		case "allowinterfaces":
			allowList = true
			for _, pat := range f[1:] {
				for _, p := range containerPrefixes {
					if ok, _ := filepath.Match(pat, p+"x"); ok {
						return []finding{{StatusFail, "dhcpcd's allowinterfaces (" + strings.Join(f[1:], " ") + ") includes " + p + " links.", "remove the pattern matching " + p + "* from allowinterfaces in /etc/dhcpcd.conf and restart dhcpcd"}}
					}
				}
			}
		}
	}
	if allowList || len(covered) == len(containerPrefixes) {
		return nil
	}
	return []finding{{
		status: StatusFail,
		detail: "dhcpcd runs and, by default, starts a DHCP client on every interface it sees, including ve-/vz-/vb- links, fighting systemd-networkd over their addresses.",
		remedy: "add the line\n  denyinterfaces ve-* vz-* vb-*\nto /etc/dhcpcd.conf and restart dhcpcd",
	}}
}

func connmanFinding(h HostView) []finding {
	b, _ := h.ReadFile("/etc/connman/main.conf")
	// connman's built-in blacklist, used when main.conf does not set one.
	list := []string{"vmnet", "vboxnet", "virbr", "ifb", "ve-", "vb-"}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == "NetworkInterfaceBlacklist" {
			list = nil
			for _, e := range strings.Split(v, ",") {
				list = append(list, strings.TrimSpace(e))
			}
		}
	}
	var missing []string
	for _, p := range containerPrefixes {
		if !slices.ContainsFunc(list, func(e string) bool { return e != "" && strings.HasPrefix(p, e) }) {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return []finding{{
		status: StatusWarn,
		detail: "connman runs and its NetworkInterfaceBlacklist does not cover " + strings.Join(missing, ", ") + " links.",
		remedy: "set in /etc/connman/main.conf, section [General]:\n  NetworkInterfaceBlacklist = " + strings.Join(appendMissing(list, missing), ",") + "\nthen restart connman",
	}}
}

func appendMissing(list, missing []string) []string {
	out := slices.Clone(list)
	for _, m := range missing {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// checkForwarding checks IPv4 and IPv6 forwarding, which routing the
// containers' traffic (and the port forwards' DNAT) needs. ver is systemd's
// major version (0: unknown): from 256 on networkd sets the global switch
// only from networkd.conf or for a family a link masquerades.
func checkForwarding(h HostView, ver int) []Check {
	type fam struct{ id, family string }
	var out []Check
	for _, f := range []fam{{"forwarding-ipv4", networkd.IPv4}, {"forwarding-ipv6", networkd.IPv6}} {
		key := networkd.ForwardingSysctl(f.family)
		dotted := strings.ReplaceAll(key, "/", ".")
		c := Check{ID: f.id}
		v, err := h.Sysctl(key)
		switch {
		case err != nil:
			out = append(out, skip(c, "cannot read "+dotted+" (IPv6 disabled?)", err))
			continue
		case v == "1":
			c.Status, c.Summary = StatusOK, dotted+" = 1"
		default:
			c.Status, c.Summary = StatusFail, dotted+" = "+v+": containers cannot reach beyond the host and port forwards do not work"
			c.Detail = "systemd-networkd turns forwarding on when it configures a link with IPMasquerade=, so something turned it off again or networkd has not configured a container link yet."
			c.Remedy = "set " + dotted + " = 1 in /etc/sysctl.d/90-nspawnctl.conf (and remove other settings of it), then sysctl --system"
			if ver >= networkd.GlobalForwardingSince {
				dropIn := networkd.ForwardingDropInPath(f.family)
				c.Detail = fmt.Sprintf("systemd %d sets global forwarding only from networkd.conf, or for a family a link's IPMasquerade= names; it ignores IPForward= in .network files. "+
					"nspawnctl writes %s for machines whose masquerade leaves %s out, and sets %s when it creates them.", ver, dropIn, f.family, dotted)
				if m, _ := h.Glob(dropIn); len(m) > 0 {
					c.Remedy = "restart systemd-networkd (it reads " + dropIn + " only when it starts), or sysctl -w " + dotted + "=1"
				} else {
					c.Remedy = "put [Network] " + map[string]string{networkd.IPv4: "IPv4", networkd.IPv6: "IPv6"}[f.family] + "Forwarding=yes into a drop-in in " + networkd.ConfDropInDir + "/ and restart systemd-networkd, or " + c.Remedy
				}
			}
			if src := sysctlSources(h, dotted); len(src) > 0 {
				c.Detail += "\nSet to a value other than 1 in: " + strings.Join(src, ", ")
			}
		}
		out = append(out, c)
	}
	return out
}

// sysctlSources lists the sysctl.d files that set key to something but 1.
func sysctlSources(h HostView, key string) []string {
	slashed := strings.ReplaceAll(key, ".", "/")
	var files []string
	for _, pat := range []string{"/etc/sysctl.conf", "/etc/sysctl.d/*.conf", "/run/sysctl.d/*.conf", "/usr/lib/sysctl.d/*.conf", "/lib/sysctl.d/*.conf"} {
		m, _ := h.Glob(pat)
		files = append(files, m...)
	}
	var out []string
	for _, f := range files {
		b, err := h.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, "=")
			k = strings.TrimLeft(strings.TrimSpace(k), "-")
			if ok && (k == key || k == slashed) && strings.TrimSpace(v) != "1" && !strings.HasPrefix(strings.TrimSpace(line), "#") {
				out = append(out, f)
			}
		}
	}
	return out
}

// checkNSS checks that nss-mymachines resolves machine names on the host.
func checkNSS(h HostView) Check {
	c := Check{ID: "nss-mymachines"}
	b, err := h.ReadFile("/etc/nsswitch.conf")
	if err != nil {
		c.Status, c.Summary = StatusFail, "cannot read /etc/nsswitch.conf"
		c.Detail = err.Error()
		c.Remedy = "create /etc/nsswitch.conf with a hosts: line that includes mymachines (apt-get install libnss-mymachines does it on Debian)"
		return c
	}
	var hosts []string
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "hosts" {
			for _, f := range strings.Fields(v) {
				if !strings.HasPrefix(f, "[") {
					hosts = append(hosts, f)
				}
			}
		}
	}
	libs, _ := h.Glob("/lib/*/libnss_mymachines.so.2")
	for _, pat := range []string{"/usr/lib/*/libnss_mymachines.so.2", "/lib64/libnss_mymachines.so.2", "/usr/lib64/libnss_mymachines.so.2", "/usr/lib/libnss_mymachines.so.2"} {
		m, _ := h.Glob(pat)
		libs = append(libs, m...)
	}
	pos := slices.Index(hosts, "mymachines")
	switch {
	case pos < 0:
		c.Status, c.Summary = StatusFail, "mymachines is not in the hosts: line of /etc/nsswitch.conf"
		c.Detail = "Machine names (ping NAME, curl http://NAME) do not resolve on the host. hosts: " + strings.Join(hosts, " ")
		c.Remedy = "apt-get install libnss-mymachines (Debian adds it to nsswitch.conf), or add mymachines to the hosts: line before resolve and dns"
		return c
	case len(libs) == 0:
		c.Status, c.Summary = StatusFail, "mymachines is in /etc/nsswitch.conf, but libnss_mymachines.so.2 is not installed"
		c.Remedy = "apt-get install libnss-mymachines (or your distribution's package with libnss_mymachines.so.2)"
		return c
	}
	if d := slices.IndexFunc(hosts, func(s string) bool { return s == "dns" || s == "resolve" }); d >= 0 && d < pos {
		c.Status, c.Summary = StatusWarn, "mymachines comes after "+hosts[d]+" in the hosts: line of /etc/nsswitch.conf"
		c.Detail = "A machine name that also exists in DNS resolves to the DNS answer, and every lookup of a machine name waits for DNS first."
		c.Remedy = "move mymachines before " + hosts[d] + " in the hosts: line"
		return c
	}
	if procs, err := h.Processes(); err == nil && slices.ContainsFunc(procs, func(p string) bool { return p == "nscd" || p == "nsncd" }) {
		c.Status, c.Summary = StatusWarn, "nss-mymachines is configured, but lookups go through nscd"
		c.Detail = "nscd's protocol has no IPv6 scope id: a container's fe80:: address resolves but is unreachable without naming the link (ping -6 -I ve-NAME NAME), and cached answers may outlive a container's address."
		c.Remedy = "use IPv4 or a global/ULA IPv6 address to reach containers by name, or disable hosts caching in /etc/nscd.conf (enable-cache hosts no)"
		return c
	}
	c.Status, c.Summary = StatusOK, "nss-mymachines resolves machine names (hosts: "+strings.Join(hosts, " ")+")"
	return c
}

func skip(c Check, summary string, err error) Check {
	c.Status, c.Summary = StatusSkip, summary
	if err != nil {
		c.Detail = err.Error()
	}
	return c
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
