package resolve

import (
	"cmp"
	"maps"
	"net/netip"
	"slices"

	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/nebula"
)

// nebulaSettings is the resolved form of a machine's nebula block: its
// values parsed, the defaults filled in, the pool falling back to the
// defaults' nebula_pool (defaultPool). It reports nothing: the block's
// checks (validator.nebula) report every value that does not parse, and
// Validate returns no result with errors, so such a value is only left out
// here (zero) rather than reported twice.
func nebulaSettings(n *config.Nebula, defaultPool netip.Prefix) *nebula.Settings {
	s := &nebula.Settings{
		Network: n.Network, CA: n.CA, Cert: n.Cert, Key: n.Key, CAKey: n.CAKey,
		Address:         parsedPrefix(n.Address),
		Address6:        parsedPrefix(n.Address6),
		Pool:            cmp.Or(parsedPrefix(n.Pool), defaultPool),
		CertVersion:     nebula.CertVersionOf(n.CertVersion),
		DurationText:    n.Duration,
		RenewBeforeText: n.RenewBefore,
		Groups:          n.Groups,
		Lighthouses:     parsedAddrs(n.Lighthouses),
		AmLighthouse:    n.AmLighthouse,
		Punchy:          n.Punchy == nil || *n.Punchy,
		Device:          cmp.Or(n.Device, nebula.DefaultDevice),
		MTU:             nebula.DefaultMTU,
		Inbound:         nebulaRules(n.Inbound),
		Outbound:        nebulaRules(n.Outbound),
	}
	// Errors are CertProblems', reported at duration and renew_before.
	s.Duration, s.RenewBefore, _ = nebula.ParseLifetime(n.Duration, n.RenewBefore)
	if n.MTU != nil {
		s.MTU = *n.MTU
	}
	switch {
	case n.ListenPort != nil:
		s.ListenPort = *n.ListenPort
	case n.AmLighthouse:
		// Peers need a fixed port to reach a lighthouse.
		s.ListenPort = nebula.DefaultLighthousePort
	}
	// Sorted by the keys' text, so that two spellings of one address
	// (IPv6 in capitals or not) merge in the same order every time.
	for _, k := range slices.Sorted(maps.Keys(n.StaticHostMap)) {
		if a, err := netip.ParseAddr(k); err == nil {
			if s.StaticHostMap == nil {
				s.StaticHostMap = map[netip.Addr][]string{}
			}
			s.StaticHostMap[a] = append(s.StaticHostMap[a], n.StaticHostMap[k]...)
		}
	}
	for _, a := range n.AdvertiseAddrs {
		// An address without a port is reached at the listen port (the
		// checks refuse one when that port is random).
		if ip, err := netip.ParseAddr(a); err == nil {
			s.AdvertiseAddrs = append(s.AdvertiseAddrs, netip.AddrPortFrom(ip, uint16(s.ListenPort)))
		} else if ap, err := netip.ParseAddrPort(a); err == nil {
			s.AdvertiseAddrs = append(s.AdvertiseAddrs, ap)
		}
	}
	if n.AmRelay || n.UseRelays != nil || len(n.Relays) > 0 {
		s.Relay = &nebula.Relay{AmRelay: n.AmRelay, UseRelays: n.UseRelays == nil || *n.UseRelays, Relays: parsedAddrs(n.Relays)}
	}
	return s
}

// nebulaRules are firewall rules with "any" for an unset port or protocol.
func nebulaRules(rs []config.NebulaRule) []nebula.Rule {
	var out []nebula.Rule
	for _, r := range rs {
		out = append(out, nebula.Rule{
			Port: cmp.Or(r.Port, "any"), Proto: cmp.Or(r.Proto, "any"),
			Host: r.Host, Group: r.Group, Groups: r.Groups,
			CIDR:   parsedPrefix(r.CIDR),
			CAName: r.CAName, CASha: r.CASha,
			LocalCIDR: parsedPrefix(r.LocalCIDR),
		})
	}
	return out
}

// parsedPrefix is s as a prefix; invalid when s is empty or not one.
func parsedPrefix(s string) netip.Prefix {
	p, _ := netip.ParsePrefix(s)
	return p
}

// parsedAddrs are the entries of ss that are IP addresses.
func parsedAddrs(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a)
		}
	}
	return out
}
