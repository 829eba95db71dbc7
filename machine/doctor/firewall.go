package doctor

import (
	"slices"
	"strings"

	"github.com/nspawnctl/nspawnctl/machine/doctor/nfteval"
)

// firewallProbes are the packets the guide says the host must accept from
// container links: DNS, DHCPv4, DHCPv6, LLMNR, and mDNS where used.
func firewallProbes(mdns bool) []nfteval.Packet {
	ps := []nfteval.Packet{
		{Family: "ip", Proto: "udp", DPort: 53},
		{Family: "ip", Proto: "udp", DPort: 67},
		{Family: "ip", Proto: "udp", DPort: 68},
		{Family: "ip", Proto: "udp", DPort: 5355},
		{Family: "ip", Proto: "tcp", DPort: 5355},
		{Family: "ip6", Proto: "udp", DPort: 53},
		{Family: "ip6", Proto: "udp", DPort: 546},
		{Family: "ip6", Proto: "udp", DPort: 547},
		{Family: "ip6", Proto: "udp", DPort: 5355},
		{Family: "ip6", Proto: "tcp", DPort: 5355},
	}
	if mdns {
		ps = append(ps, nfteval.Packet{Family: "ip", Proto: "udp", DPort: 5353}, nfteval.Packet{Family: "ip6", Proto: "udp", DPort: 5353})
	}
	return ps
}

// checkFirewall decides whether the host's input firewall lets the
// container links reach the services networkd and resolved run for them.
// vb- links are not probed: a vb- port is enslaved to a bridge, and the host
// receives its traffic on the bridge (vz- or the user's bridge).
func checkFirewall(h HostView, mdns bool) Check {
	c := Check{ID: "firewall"}
	var legacy []string
	for _, f := range []string{"/proc/net/ip_tables_names", "/proc/net/ip6_tables_names"} {
		if b, err := h.ReadFile(f); err == nil && strings.Contains(string(b), "filter") {
			legacy = append(legacy, f)
		}
	}
	legacyNote := ""
	if len(legacy) > 0 {
		legacyNote = "Legacy iptables filter tables exist (" + strings.Join(legacy, ", ") + "); nft cannot show their rules: check them with iptables-legacy -S INPUT and ip6tables-legacy -S INPUT."
	}
	raw, err := h.Ruleset()
	if err != nil {
		c.Status, c.Summary = StatusWarn, "cannot read the nftables ruleset, so the host firewall was not checked"
		c.Detail = strings.TrimSpace(err.Error() + "\n" + legacyNote)
		c.Remedy = "check by hand that traffic arriving on ve-* and vz-* is accepted (or at least UDP 53, 67, 68, 546, 547 and TCP+UDP 5355)"
		return c
	}
	rs, err := nfteval.Parse(raw)
	if err != nil {
		c.Status, c.Summary = StatusWarn, "cannot parse the nftables ruleset, so the host firewall was not checked"
		c.Detail = err.Error()
		c.Remedy = "check by hand that traffic arriving on ve-* and vz-* is accepted (or at least UDP 53, 67, 68, 546, 547 and TCP+UDP 5355)"
		return c
	}
	names := map[string][]string{"ve-": nil, "vz-": nil}
	if links, err := h.Links(); err == nil {
		for _, l := range links {
			for p := range names {
				if strings.HasPrefix(l.Name, p) {
					names[p] = append(names[p], l.Name)
				}
			}
		}
	}
	// Each prefix is probed with a name no rule can know about, standing for
	// the next container's link, and with the links that exist now.
	type probeLink struct{ name, label string }
	var ifnames []probeLink
	for _, p := range []string{"ve-", "vz-"} {
		ifnames = append(ifnames, probeLink{p + "new", p + "* (any new link)"})
		for _, n := range names[p] {
			ifnames = append(ifnames, probeLink{n, n})
		}
	}
	// Links with the same result are reported on one line.
	group := func(byResult map[string][]string, order []string) []string {
		var out []string
		for _, res := range order {
			out = append(out, strings.Join(byResult[res], ", ")+": "+res)
		}
		return out
	}
	droppedBy, unsureBy := map[string][]string{}, map[string][]string{}
	var droppedOrder, unsureOrder []string
	uncertain, droppers := map[string]bool{}, map[string]bool{}
	for _, l := range ifnames {
		var d, u []string
		for _, p := range firewallProbes(mdns) {
			p.IIFName = l.name
			v := nfteval.Evaluate(rs, p)
			switch v.Outcome {
			case nfteval.Accepted:
				continue
			case nfteval.Dropped:
				d = append(d, p.String())
			default:
				u = append(u, p.String())
				for _, k := range v.Uncertain {
					uncertain[k] = true
				}
			}
			for _, k := range v.DroppedBy {
				droppers[k] = true
			}
		}
		if len(d) > 0 {
			key := strings.Join(d, ", ")
			if droppedBy[key] == nil {
				droppedOrder = append(droppedOrder, key)
			}
			droppedBy[key] = append(droppedBy[key], l.label)
		}
		if len(u) > 0 {
			key := strings.Join(u, ", ")
			if unsureBy[key] == nil {
				unsureOrder = append(unsureOrder, key)
			}
			unsureBy[key] = append(unsureBy[key], l.label)
		}
	}
	dropped, unsure := group(droppedBy, droppedOrder), group(unsureBy, unsureOrder)
	chains := slices.Sorted(func(yield func(string) bool) {
		for k := range droppers {
			if !yield(k) {
				return
			}
		}
	})
	why := slices.Sorted(func(yield func(string) bool) {
		for k := range uncertain {
			if !yield(k) {
				return
			}
		}
	})
	ports := "UDP 53 (DNS), 67+68 (DHCPv4), 546+547 (DHCPv6), TCP+UDP 5355 (LLMNR)"
	if mdns {
		ports += ", UDP 5353 (mDNS)"
	}
	// Name the chain that drops, so that the command works as printed; the
	// conventional inet filter input when no single chain is to blame.
	chain := "inet filter input"
	if len(chains) == 1 {
		chain = chains[0]
	}
	remedy := "trust the container links: nft insert rule " + chain + " iifname { \"ve-*\", \"vz-*\" } accept\n" +
		"(make it permanent in /etc/nftables.conf; on NixOS networking.firewall.trustedInterfaces = [ \"ve-+\" \"vz-+\" \"vb-+\" ]),\n" +
		"or accept at least " + ports + " from them"
	switch {
	case len(dropped) > 0:
		c.Status = StatusFail
		c.Summary = "the host firewall drops traffic from container links that DNS, DHCP or LLMNR need"
		c.Detail = "Dropped:\n  " + strings.Join(dropped, "\n  ")
		if len(chains) > 0 {
			c.Detail += "\nBy the input chain(s): " + strings.Join(chains, "; ")
		}
		if len(unsure) > 0 {
			c.Detail += "\nUndecided:\n  " + strings.Join(unsure, "\n  ")
		}
		c.Detail = strings.TrimSpace(c.Detail + "\n" + legacyNote)
		c.Remedy = remedy
	case len(unsure) > 0:
		c.Status = StatusWarn
		c.Summary = "cannot tell whether the host firewall accepts traffic from container links"
		c.Detail = "Undecided:\n  " + strings.Join(unsure, "\n  ") + "\nRules doctor cannot evaluate:\n  " + strings.Join(why, "\n  ")
		c.Detail = strings.TrimSpace(c.Detail + "\n" + legacyNote)
		c.Remedy = "check those rules by hand (nft -a list ruleset); if they may drop, " + remedy
	case legacyNote != "":
		c.Status = StatusWarn
		c.Summary = "nftables accepts traffic from container links, but legacy iptables rules were not checked"
		c.Detail = legacyNote
		c.Remedy = "make sure the legacy INPUT chains accept ve-+ and vz-+ (iptables-legacy -I INPUT -i ve-+ -j ACCEPT), or move the firewall to nftables"
	default:
		c.Status = StatusOK
		c.Summary = "the host firewall accepts DNS, DHCP and LLMNR from ve-* and vz-* links"
		if len(rs.InputChains("ip"))+len(rs.InputChains("ip6")) == 0 {
			c.Summary = "no nftables input filter: traffic from container links is accepted"
		}
	}
	return c
}
