package resolve

import (
	"cmp"
	"slices"
	"strings"

	"github.com/nspawnctl/nspawnctl/internal/diag"
	"github.com/nspawnctl/nspawnctl/nat"
)

// portClaim is one resolved forward as the collision check sees it.
type portClaim struct {
	m     *ResolvedMachine
	spec  *machineSpec // the configuration of m
	f     nat.Forward
	order int // position among all claims: machines in config order, then forwards
	block int // index of the forward_port block it came from
}

// collides reports whether two claims of one protocol and family can
// receive the same packet: overlapping ports, the same (or an unbound) host
// address, and sources that are not disjoint.
func (a portClaim) collides(b portClaim) bool {
	if !rangesOverlap(a.f.HostPorts, b.f.HostPorts) {
		return false
	}
	if a.f.HostAddr.IsValid() && b.f.HostAddr.IsValid() && a.f.HostAddr != b.f.HostAddr {
		return false
	}
	return !disjointSources(a.f.AllowFrom, b.f.AllowFrom)
}

// portCollisions reports forwards of different machines (or of one machine)
// that claim the same protocol, host address and port: once per
// forward_port block, on the block that comes later, naming the first
// forward it collides with.
//
// Claims are grouped by protocol and family and swept in order of their
// first port, keeping only the claims whose range is still open: linear in
// the number of forwards (plus the sort) unless many ranges overlap, instead
// of comparing every pair.
func (v *validator) portCollisions() {
	type group struct {
		proto string
		v4    bool
	}
	groups := map[group][]portClaim{}
	var keys []group
	n := 0
	for _, m := range v.out.Machines {
		n += len(m.Forwards)
	}
	order := 0
	for mi, m := range v.out.Machines {
		for i, f := range m.Forwards {
			g := group{f.Protocol, f.Target.Is4()}
			if _, ok := groups[g]; !ok {
				keys = append(keys, g)
				groups[g] = make([]portClaim, 0, n)
			}
			groups[g] = append(groups[g], portClaim{m: m, spec: &v.specs[mi], f: f, order: order, block: v.forwardBlocks[m][i]})
			order++
		}
	}
	type blockKey struct {
		m     *ResolvedMachine
		block int
	}
	// first is, per block, the pair to report: the earliest claim it
	// collides with (then its own earliest claim).
	first := map[blockKey][2]portClaim{}
	var blocks []blockKey
	for _, g := range keys {
		claims := groups[g]
		slices.SortStableFunc(claims, func(a, b portClaim) int { return cmp.Compare(a.f.HostPorts.First, b.f.HostPorts.First) })
		var open []portClaim
		for _, c := range claims {
			open = slices.DeleteFunc(open, func(o portClaim) bool { return o.f.HostPorts.Last < c.f.HostPorts.First })
			for _, o := range open {
				if !o.collides(c) {
					continue
				}
				a, b := o, c
				if b.order < a.order {
					a, b = b, a
				}
				k := blockKey{b.m, b.block}
				prev, seen := first[k]
				if !seen {
					blocks = append(blocks, k)
				}
				if !seen || a.order < prev[0].order || a.order == prev[0].order && b.order < prev[1].order {
					first[k] = [2]portClaim{a, b}
				}
			}
			open = append(open, c)
		}
	}
	for _, k := range blocks {
		a, b := first[k][0], first[k][1]
		where := "any local address"
		if a.f.HostAddr.IsValid() {
			where = a.f.HostAddr.String()
		}
		fb := &b.spec.forwards[b.block]
		v.errf(diag.Attr(fb.Body, "host_port", fb.DefRange), "Host port already forwarded", "%s port %s on %s is already forwarded to machine %s (%s); one host port can lead to one container only. Choose another host_port, or bind the forwards to different host_address values.", strings.ToUpper(b.f.Protocol), b.f.HostPorts, where, a.m.Name, a.f.HostPorts)
	}
}
