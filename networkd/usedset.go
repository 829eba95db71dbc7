package networkd

import "net/netip"

// UsedSet is what is taken in one Allocator's pool, kept across
// allocations, so that allocating for the thousandth key costs no more than
// for the first (validation keeps one per pool instead of rebuilding the
// pool's view from every taken prefix for each key).
type UsedSet struct {
	a *Allocator
	// wide holds prefixes of more than one subnet (pools, host networks);
	// single the subnets taken one by one, which most allocations are and
	// which a map adds in O(1) instead of shifting a sorted list.
	wide   occupancy
	single map[uint64]bool
}

// NewUsedSet returns an empty UsedSet of a's pool.
func (a *Allocator) NewUsedSet() *UsedSet {
	return &UsedSet{a: a, single: map[uint64]bool{}}
}

// Add marks p as taken. Prefixes outside the pool or of the other family
// are ignored.
func (u *UsedSet) Add(p netip.Prefix) {
	lo, hi, ok := u.a.slots(p)
	switch {
	case !ok:
	case lo == hi:
		u.single[lo] = true
	default:
		u.wide.add(lo, hi)
	}
}

// Overlaps reports whether p overlaps anything taken.
func (u *UsedSet) Overlaps(p netip.Prefix) bool {
	lo, hi, ok := u.a.slots(p)
	if !ok {
		return false
	}
	if i := u.wide.find(lo); i < len(u.wide.spans) && u.wide.spans[i].lo <= hi {
		return true
	}
	if hi-lo < uint64(len(u.single)) {
		for s := lo; s <= hi; s++ {
			if u.single[s] {
				return true
			}
		}
		return false
	}
	for s := range u.single {
		if s >= lo && s <= hi {
			return true
		}
	}
	return false
}

// Allocate returns the subnet for key: its home subnet (Allocator.Home) if
// that overlaps nothing taken, otherwise the next free subnet in address
// order, wrapping around at the end of the pool. The error wraps
// ErrPoolFull when nothing is free. It does not mark the subnet taken; Add
// does.
func (u *UsedSet) Allocate(key string) (netip.Prefix, error) {
	size := u.a.Size()
	s := u.a.home(key)
	// Each round either finds a free subnet or passes one single taken
	// subnet, in address order from home; so len(single)+1 rounds find a
	// free subnet if there is one.
	for range len(u.single) + 1 {
		f, ok := u.wide.firstFree(s, size)
		if !ok {
			break
		}
		if !u.single[f] {
			return u.a.subnet(f), nil
		}
		if s = f + 1; s >= size {
			s = 0
		}
	}
	return netip.Prefix{}, u.a.fullError(key)
}
