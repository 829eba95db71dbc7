package networkd

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// Default address plan. Machines and zones get their IPv4 subnets from two
// separate /16s, so neither kind fragments the other's pool.
//
// Why 10.117.0.0/16 and 10.118.0.0/16: networkd's own pool picks random
// subnets of 192.168/16, 172.16/12 and 10/8, and the usual neighbours of a
// container host sit in well-known places: home routers in 192.168/16 and
// 10.0-10.1/16; Docker in 172.17-172.31 and 192.168/16; AWS default VPCs in
// 172.31/16; Azure in 10.0/16; GCP auto-mode VPCs in 10.128/9; OpenVPN in
// 10.8/24; Podman in 10.88-10.89/16; Kubernetes in 10.42-10.43/16 (k3s),
// 10.96/12 and 10.244/16; EKS in 10.100/16; CGNAT and Tailscale in
// 100.64/10. 10.117 and 10.118 are in none of those, below 10.128 and not
// round numbers that people pick by hand. A /16 of /28s holds 4096 machines,
// one of /24s 256 zones. Both can be overridden in the configuration.
var (
	// DefaultIPv4Pool is the default pool of per-machine IPv4 subnets.
	DefaultIPv4Pool = netip.MustParsePrefix("10.117.0.0/16")
	// DefaultZoneIPv4Pool is the default pool of per-zone IPv4 subnets.
	DefaultZoneIPv4Pool = netip.MustParsePrefix("10.118.0.0/16")
)

const (
	// MachineIPv4Bits is the prefix length of a machine's IPv4 subnet
	// (the same /28 as systemd's 80-container-ve.network).
	MachineIPv4Bits = 28
	// ZoneIPv4Bits is the prefix length of a zone's IPv4 subnet (the same
	// /24 as systemd's 80-container-vz.network).
	ZoneIPv4Bits = 24
	// IPv6SubnetBits is the prefix length of a machine's or zone's IPv6
	// subnet: SLAAC needs a /64.
	IPv6SubnetBits = 64
)

// MachineIPv6Pool returns the half of the host's ULA /48 (see ULAPrefix)
// that machines' /64s come from: its lower /49 (subnet ids 0000-7fff).
func MachineIPv6Pool(ula netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(ula.Masked().Addr(), ula.Bits()+1)
}

// ZoneIPv6Pool returns the half of the host's ULA /48 that zones' /64s come
// from: its upper /49 (subnet ids 8000-ffff).
func ZoneIPv6Pool(ula netip.Prefix) netip.Prefix {
	// Set the first bit after the /48: counted from the top of the 128-bit
	// form, it is bit off+Bits (off is 96 for IPv4, whose bits sit last).
	off := 128 - ula.Addr().BitLen()
	upper := u128From(ula.Masked().Addr()).or(u128{0, 1}.shl(uint(127 - off - ula.Bits())))
	return netip.PrefixFrom(upper.addr(ula.Addr().Is4()), ula.Bits()+1)
}

// ErrPoolFull is wrapped by the errors of UsedSet.Allocate and Assign when no
// subnet of the pool is free.
var ErrPoolFull = errors.New("address pool is full")

// allocKey keys the hash that picks a key's home subnet (the ASCII bytes of
// "nspawnctl/alloc1"). It is part of the
// address plan: changing it would move every machine that has no recorded
// allocation.
var allocKey = [16]byte{0x6e, 0x73, 0x70, 0x61, 0x77, 0x6e, 0x63, 0x74, 0x6c, 0x2f, 0x61, 0x6c, 0x6c, 0x6f, 0x63, 0x31}

// Allocator hands out subnets of one size from a pool, deterministically:
// each key (e.g. "machine/web" or "zone/lan") has a home subnet chosen by a
// keyed hash, and takes the first free subnet from there on, wrapping around
// at the end of the pool. It has no state; callers keep the allocations
// (and pass them back to Assign) so that they do not move.
type Allocator struct {
	pool     netip.Prefix
	bits     int  // prefix length of the subnets handed out
	off      int  // 96 for IPv4 (bits are counted in the IPv4-mapped 128-bit form), else 0
	slotBits uint // bits - pool.Bits(): the pool holds 1<<slotBits subnets
}

// NewAllocator returns an allocator of /bits subnets from pool. The pool
// must be a masked prefix, and bits must leave room for the network, host,
// container and (IPv4) broadcast addresses: at most 30 for IPv4 and 126 for
// IPv6. The pool may hold at most 2^62 subnets.
func NewAllocator(pool netip.Prefix, bits int) (*Allocator, error) {
	if !pool.IsValid() {
		return nil, fmt.Errorf("address pool is not set or not a valid prefix; give it as ADDRESS/LENGTH, e.g. %s", DefaultIPv4Pool)
	}
	if pool.Addr().Is4In6() {
		return nil, fmt.Errorf("address pool %s is an IPv4-mapped IPv6 prefix; write it as IPv4", pool)
	}
	if pool.Masked() != pool {
		return nil, fmt.Errorf("address pool %s has bits set after the prefix length; did you mean %s?", pool, pool.Masked())
	}
	longest := 126
	if pool.Addr().Is4() {
		longest = 30
	}
	if bits < pool.Bits() || bits > longest {
		return nil, fmt.Errorf("subnets of /%d cannot come from pool %s: the size must be between /%d and /%d", bits, pool, pool.Bits(), longest)
	}
	if bits-pool.Bits() > 62 {
		return nil, fmt.Errorf("pool %s holds 2^%d subnets of /%d, more than the 2^62 supported; use a longer pool prefix", pool, bits-pool.Bits(), bits)
	}
	a := &Allocator{pool: pool, bits: bits, slotBits: uint(bits - pool.Bits())}
	if pool.Addr().Is4() {
		a.off = 96
	}
	return a, nil
}

// Pool returns the pool the allocator hands subnets out of.
func (a *Allocator) Pool() netip.Prefix { return a.pool }

// Bits returns the prefix length of the subnets the allocator hands out.
func (a *Allocator) Bits() int { return a.bits }

// Size returns how many subnets the pool holds.
func (a *Allocator) Size() uint64 { return 1 << a.slotBits }

// Home returns the subnet key gets when it is free: the one at index
// SipHash-2-4(key) mod Size().
func (a *Allocator) Home(key string) netip.Prefix {
	return a.subnet(a.home(key))
}

func (a *Allocator) home(key string) uint64 {
	return siphash24(allocKey, []byte(key)) & (a.Size() - 1)
}

// subnet returns the subnet at index slot of the pool.
func (a *Allocator) subnet(slot uint64) netip.Prefix {
	base := u128From(a.pool.Addr())
	addr := base.or(u128{0, slot}.shl(uint(128 - a.off - a.bits)))
	return netip.PrefixFrom(addr.addr(a.pool.Addr().Is4()), a.bits)
}

// slotOf returns the index of the subnet holding addr, which must be in the
// pool.
func (a *Allocator) slotOf(addr netip.Addr) uint64 {
	return u128From(addr).shr(uint(128-a.off-a.bits)).lo & (a.Size() - 1)
}

// slots returns the range of subnet indexes p overlaps, and false when p
// does not overlap the pool at all.
func (a *Allocator) slots(p netip.Prefix) (lo, hi uint64, ok bool) {
	p = normalize(p)
	if !p.IsValid() || !p.Overlaps(a.pool) {
		return 0, 0, false
	}
	if p.Bits() <= a.pool.Bits() {
		return 0, a.Size() - 1, true
	}
	first := p.Masked().Addr()
	lastU := u128From(first).or(u128{^uint64(0), ^uint64(0)}.shr(uint(a.off + p.Bits())))
	last := lastU.addr(first.Is4())
	return a.slotOf(first), a.slotOf(last), true
}

func (a *Allocator) fullError(key string) error {
	return fmt.Errorf("allocate a /%d for %q: all %d subnets of pool %s are taken or overlap addresses in use: %w; remove machines, configure addresses explicitly or use a larger pool",
		a.bits, key, a.Size(), a.pool, ErrPoolFull)
}

// Assign returns a subnet for each of keys, deterministically whatever the
// order of keys:
//
//   - A key whose subnet in prev (the allocations recorded earlier) is still
//     a /Bits() subnet of the pool and overlaps neither reserved nor an
//     earlier kept subnet keeps it. Conflicting recorded subnets are kept in
//     the order of their keys (byte-wise), the later ones are reassigned.
//     So, given the previous result, adding or removing keys never moves the
//     others.
//   - The other keys are placed in the order of (home index, key) by the
//     rule of UsedSet.Allocate. Two keys with the same home index are the only case
//     where that order matters: the byte-wise smaller key gets the home
//     subnet, the other the next free one.
//
// reserved are prefixes that are not free (addresses configured explicitly
// or in use on the host). prev entries for keys not in keys are ignored: their
// subnets become free. The error wraps ErrPoolFull when the pool runs out.
func (a *Allocator) Assign(keys []string, prev map[string]netip.Prefix, reserved []netip.Prefix) (map[string]netip.Prefix, error) {
	var occ occupancy
	for _, p := range reserved {
		if lo, hi, ok := a.slots(p); ok {
			occ.add(lo, hi)
		}
	}
	uniq := make([]string, 0, len(keys))
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, k)
		}
	}
	slices.Sort(uniq)

	out := make(map[string]netip.Prefix, len(uniq))
	var todo []string
	for _, k := range uniq {
		p, ok := prev[k]
		if ok && a.keepable(p, &occ) {
			s := a.slotOf(p.Addr())
			occ.add(s, s)
			out[k] = a.subnet(s)
			continue
		}
		todo = append(todo, k)
	}

	type pending struct {
		key  string
		home uint64
	}
	queue := make([]pending, len(todo))
	for i, k := range todo {
		queue[i] = pending{k, a.home(k)}
	}
	slices.SortFunc(queue, func(x, y pending) int {
		if c := cmp.Compare(x.home, y.home); c != 0 {
			return c
		}
		return strings.Compare(x.key, y.key)
	})
	for _, p := range queue {
		s, ok := occ.firstFree(p.home, a.Size())
		if !ok {
			return nil, a.fullError(p.key)
		}
		occ.add(s, s)
		out[p.key] = a.subnet(s)
	}
	return out, nil
}

// keepable reports whether a recorded subnet can stay: it is exactly one
// subnet of the pool and that subnet is free.
func (a *Allocator) keepable(p netip.Prefix, occ *occupancy) bool {
	p = normalize(p)
	if !p.IsValid() || p.Bits() != a.bits || p.Masked() != p || !a.pool.Contains(p.Addr()) {
		return false
	}
	return !occ.taken(a.slotOf(p.Addr()))
}

// HostAddress returns the host side address of subnet with its prefix
// length: the first address after the network address (.1, ::1), as in
// Address=10.117.3.17/28.
func HostAddress(subnet netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(subnet.Masked().Addr().Next(), subnet.Bits())
}

// ContainerAddress returns the container side address of subnet with its
// prefix length: the second address after the network address (.2, ::2).
func ContainerAddress(subnet netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(subnet.Masked().Addr().Next().Next(), subnet.Bits())
}

// Overlaps reports whether a and b share any address. IPv4-mapped IPv6
// prefixes are compared as IPv4; prefixes of different families never
// overlap.
func Overlaps(a, b netip.Prefix) bool {
	a, b = normalize(a), normalize(b)
	return a.IsValid() && b.IsValid() && a.Overlaps(b)
}

// normalize turns an IPv4-mapped IPv6 prefix (as some sources report host
// addresses) into its IPv4 form, and masks it.
func normalize(p netip.Prefix) netip.Prefix {
	if !p.IsValid() {
		return p
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			// Wider than the mapped range: compare as IPv6.
			return p.Masked()
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked()
	}
	return p.Masked()
}

// occupancy is a sorted list of disjoint, non-adjacent ranges of taken
// subnet indexes; finding a free index costs one binary search per range
// skipped, so a dense pool stays fast.
type occupancy struct {
	spans []span
}

type span struct{ lo, hi uint64 } // inclusive

// find returns the index of the first span with hi >= s.
func (o *occupancy) find(s uint64) int {
	return sort.Search(len(o.spans), func(i int) bool { return o.spans[i].hi >= s })
}

func (o *occupancy) taken(s uint64) bool {
	i := o.find(s)
	return i < len(o.spans) && o.spans[i].lo <= s
}

// add marks lo..hi as taken, merging it with overlapping or adjacent spans.
func (o *occupancy) add(lo, hi uint64) {
	// First span that could merge: hi >= lo-1.
	start := 0
	if lo > 0 {
		start = o.find(lo - 1)
	}
	end := start
	// Indexes are below 2^62, so hi+1 cannot overflow.
	for end < len(o.spans) && o.spans[end].lo <= hi+1 {
		lo = min(lo, o.spans[end].lo)
		hi = max(hi, o.spans[end].hi)
		end++
	}
	o.spans = slices.Replace(o.spans, start, end, span{lo, hi})
}

// firstFree returns the first index at or after from (wrapping at size)
// that is not taken, and false when all size indexes are.
func (o *occupancy) firstFree(from, size uint64) (uint64, bool) {
	if len(o.spans) == 1 && o.spans[0].lo == 0 && o.spans[0].hi >= size-1 {
		return 0, false
	}
	s := from
	// Spans are merged and never adjacent, so the index after a span is
	// free unless the search wraps onto a span starting at 0; the bound is
	// only a guard.
	for range len(o.spans) + 2 {
		i := o.find(s)
		if i == len(o.spans) || o.spans[i].lo > s {
			return s, true
		}
		s = o.spans[i].hi + 1
		if s >= size {
			s = 0
		}
	}
	return 0, false
}

// u128 is a 128-bit address as two big-endian halves.
type u128 struct{ hi, lo uint64 }

func u128From(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (u u128) addr(is4 bool) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], u.hi)
	binary.BigEndian.PutUint64(b[8:], u.lo)
	a := netip.AddrFrom16(b)
	if is4 {
		return a.Unmap()
	}
	return a
}

func (u u128) or(v u128) u128 { return u128{u.hi | v.hi, u.lo | v.lo} }

func (u u128) shl(n uint) u128 {
	switch {
	case n >= 128:
		return u128{}
	case n >= 64:
		return u128{u.lo << (n - 64), 0}
	case n == 0:
		return u
	}
	return u128{u.hi<<n | u.lo>>(64-n), u.lo << n}
}

func (u u128) shr(n uint) u128 {
	switch {
	case n >= 128:
		return u128{}
	case n >= 64:
		return u128{0, u.hi >> (n - 64)}
	case n == 0:
		return u
	}
	return u128{u.hi >> n, u.lo>>n | u.hi<<(64-n)}
}
