package networkd

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestUsedSetMatchesNaive grows a UsedSet prefix by prefix (random wide and
// single prefixes, and each allocation in turn) and checks every answer
// against the specification, naiveAllocate over the same taken prefixes,
// until the pool is full.
func TestUsedSetMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, pc := range []struct {
		pool string
		bits int
	}{{"10.117.0.0/22", 28}, {"198.51.100.0/24", 30}, {"fd00:1:2::/56", 64}} {
		a := mustAllocator(t, pc.pool, pc.bits)
		u := a.NewUsedSet()
		var taken []netip.Prefix
		for i := 0; ; i++ {
			if r.IntN(4) == 0 {
				p := randomPrefixIn(r, a.Pool(), a.Pool().Bits()+2, a.Bits())
				u.Add(p)
				taken = append(taken, p)
			}
			probe := randomPrefixIn(r, a.Pool(), a.Pool().Bits()+1, a.Bits())
			naiveOverlap := false
			for _, q := range taken {
				naiveOverlap = naiveOverlap || Overlaps(probe, q)
			}
			if got := u.Overlaps(probe); got != naiveOverlap {
				t.Fatalf("%s step %d: Overlaps(%s) = %v, want %v", pc.pool, i, probe, got, naiveOverlap)
			}
			key := fmt.Sprintf("machine/m%d", i)
			want, ok := naiveAllocate(a, key, taken)
			got, err := u.Allocate(key)
			if !ok {
				if !errors.Is(err, ErrPoolFull) {
					t.Fatalf("%s step %d: Allocate in a full pool = %s, %v; want ErrPoolFull", pc.pool, i, got, err)
				}
				break
			}
			if err != nil || got != want {
				t.Fatalf("%s step %d: Allocate(%q) = %s, %v; want %s", pc.pool, i, key, got, err, want)
			}
			u.Add(got)
			taken = append(taken, got)
		}
	}
}

// Allocate (for tests: the one-call form of UsedSet.Allocate) returns the subnet for key: its home subnet if that overlaps
// none of taken, otherwise the next subnet (in address order, wrapping
// around) that overlaps none of taken. taken holds everything that is not
// free: other keys' subnets, addresses configured explicitly, addresses on
// the host's links; entries outside the pool or of the other family are
// ignored. The error wraps ErrPoolFull when nothing is free.
func (a *Allocator) Allocate(key string, taken []netip.Prefix) (netip.Prefix, error) {
	u := a.NewUsedSet()
	for _, p := range taken {
		u.Add(p)
	}
	return u.Allocate(key)
}
