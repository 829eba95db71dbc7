package doctor

import (
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// DelegationView is the optional probe of the prefixes the host holds by
// DHCPv6 prefix delegation. A separate interface, so that views without it
// (older fakes) still satisfy HostView; the check then skips.
type DelegationView interface {
	// DelegatedPrefixes lists the prefixes delegated to the host's uplinks.
	DelegatedPrefixes() ([]netip.Prefix, error)
}

// DelegatedPrefixes implements DelegationView: networkd installs an
// unreachable route (protocol dhcp) for every prefix delegated to an
// uplink, so that traffic to its unused subnets does not loop back to the
// upstream router (RFC 7084 WPD-5). Those routes name the delegations.
func (s *System) DelegatedPrefixes() ([]netip.Prefix, error) {
	routes, err := netlink.RouteListFiltered(unix.AF_INET6, &netlink.Route{Type: unix.RTN_UNREACHABLE, Protocol: unix.RTPROT_DHCP},
		netlink.RT_FILTER_TYPE|netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("listing IPv6 routes: %w", err)
	}
	var out []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		a, ok := netip.AddrFromSlice(r.Dst.IP)
		bits, _ := r.Dst.Mask.Size()
		if ok && bits <= 64 {
			out = append(out, netip.PrefixFrom(a, bits).Masked())
		}
	}
	return out, nil
}

// pdRequest is one host-side link that asks for a /64 of a delegation.
type pdRequest struct {
	who      string // "machine NAME" or "zone NAME"
	uplink   string
	subnetID string // as configured; "" lets networkd pick
}

func pdRequests(cfg *resolve.Resolved) []pdRequest {
	var out []pdRequest
	add := func(who string, pd *networkd.PrefixDelegation) {
		if pd != nil {
			out = append(out, pdRequest{who: who, uplink: pd.Uplink, subnetID: pd.SubnetID})
		}
	}
	for _, m := range cfg.Machines {
		if m.Mode == networkd.ModeVeth {
			add("machine "+m.Name, m.HostSide.PrefixDelegation)
		}
	}
	for _, z := range cfg.Zones {
		add("zone "+z.Name, z.PrefixDelegation)
	}
	return out
}

// uplinkFile is what the user's uplink .network must say, for remedies.
const uplinkFile = "in the uplink's own .network file: [Network] DHCP=ipv6 (or yes); in [DHCPv6] PrefixDelegationHint=::/56 (the size to ask for) and, if the upstream router sends no router advertisements, WithoutRA=solicit; then networkctl reload"

// checkPrefixDelegation checks that the uplink holds a delegation and that it
// is large enough for the links that ask for a /64 of it: every subnet id
// fits, no two links ask for the same subnet, and a /64 delegation (which
// has a single subnet) is not shared. Nothing when no link asks.
func checkPrefixDelegation(h HostView, cfg *resolve.Resolved) []Check {
	if cfg == nil {
		return nil
	}
	reqs := pdRequests(cfg)
	if len(reqs) == 0 {
		return nil
	}
	c := Check{ID: "prefix-delegation"}
	uplinks := uplinkNames(reqs)
	dv, ok := h.(DelegationView)
	if !ok {
		c.Status, c.Summary = StatusSkip, "cannot read the host's delegated prefixes"
		return []Check{c}
	}
	pfx, err := dv.DelegatedPrefixes()
	if err != nil {
		c.Status, c.Summary = StatusWarn, "could not read the host's delegated prefixes"
		c.Detail = err.Error()
		c.Remedy = "Check by hand with: networkctl status " + uplinks + " (a delegated prefix is listed under DHCPv6)."
		return []Check{c}
	}
	if len(pfx) == 0 {
		c.Status = StatusFail
		c.Summary = fmt.Sprintf("%s asked for a delegated /64, but %s holds no DHCPv6 prefix delegation", whoList(reqs), uplinks)
		c.Detail = "Without a delegation networkd gives these links no global IPv6 prefix, so their containers have no global IPv6 address."
		c.Remedy = "Ask the upstream router for one, " + uplinkFile + ". Check with: networkctl status " + uplinks + "."
		return []Check{c}
	}
	// The largest delegation is the one that can serve the most links.
	sort.Slice(pfx, func(i, j int) bool { return pfx[i].Bits() < pfx[j].Bits() })
	best := pfx[0]
	problems := pdProblems(best, reqs)
	if len(problems) == 0 {
		c.Status = StatusOK
		c.Summary = fmt.Sprintf("delegated %s is large enough for %s", best, whoList(reqs))
		return []Check{c}
	}
	c.Status = StatusFail
	c.Summary = fmt.Sprintf("delegated %s does not fit the links that ask for a /64 of it", best)
	c.Detail = strings.Join(problems, "\n")
	c.Remedy = fmt.Sprintf("Give each link a distinct subnet_id below 0x%x, or ask the upstream router for a shorter prefix %s.", subnetCount(best), uplinkFile)
	return []Check{c}
}

func subnetCount(p netip.Prefix) *big.Int {
	return new(big.Int).Lsh(big.NewInt(1), uint(64-p.Bits()))
}

// pdProblems lists why delegation p cannot serve reqs.
func pdProblems(p netip.Prefix, reqs []pdRequest) []string {
	n := subnetCount(p)
	var out []string
	if p.Bits() == 64 && len(reqs) > 1 {
		out = append(out, fmt.Sprintf("%s is a single /64, shared by %s: only one link can have it", p, whoList(reqs)))
		return out
	}
	if big.NewInt(int64(len(reqs))).Cmp(n) > 0 {
		out = append(out, fmt.Sprintf("%s has %s subnets of /64 for %d links", p, n, len(reqs)))
	}
	seen := map[uint64]string{}
	for _, r := range reqs {
		if r.subnetID == "" {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(r.subnetID), "0x"), 16, 64)
		if err != nil {
			continue // validation reported it
		}
		if new(big.Int).SetUint64(id).Cmp(n) >= 0 {
			out = append(out, fmt.Sprintf("%s: subnet_id %s does not fit %s, whose subnet ids go from 0x0 to 0x%x", r.who, r.subnetID, p, new(big.Int).Sub(n, big.NewInt(1))))
		}
		if prev, dup := seen[id]; dup {
			out = append(out, fmt.Sprintf("%s and %s both ask for subnet_id %s", prev, r.who, r.subnetID))
		}
		seen[id] = r.who
	}
	return out
}

func whoList(reqs []pdRequest) string {
	var ws []string
	for _, r := range reqs {
		ws = append(ws, r.who)
	}
	return strings.Join(ws, ", ")
}

func uplinkNames(reqs []pdRequest) string {
	var us []string
	for _, r := range reqs {
		u := r.uplink
		if u == "" || strings.HasPrefix(u, ":") {
			u = "UPLINK"
		}
		if !slices.Contains(us, u) {
			us = append(us, u)
		}
	}
	return strings.Join(us, " ")
}
