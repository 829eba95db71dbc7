package resolve

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// naiveOverlaps is the specification of validator.overlaps: every pair of
// prefixes on different segments that overlap, and every repeat of an
// address on one segment against its first use (one report per repeat).
func naiveOverlaps(used []usedPrefix) [][2]int {
	var out [][2]int
	for j := range used {
		dupReported := false
		for i := 0; i < j; i++ {
			a, b := used[i], used[j]
			same := a.seg() == b.seg()
			if same && a.addr.IsValid() && a.addr == b.addr && !dupReported {
				out = append(out, [2]int{i, j})
				dupReported = true
			} else if !same && a.p.Overlaps(b.p) {
				out = append(out, [2]int{i, j})
			}
		}
	}
	return out
}

// TestOverlapsMatchesPairwise checks the sweep against every-pair
// comparison on random prefixes of both families, nested and disjoint,
// shared segments included: the same pairs, each reported once.
func TestOverlapsMatchesPairwise(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for round := 0; round < 300; round++ {
		var used []usedPrefix
		for i := range 2 + r.IntN(30) {
			var a netip.Addr
			bits := 0
			if r.IntN(3) == 0 {
				a = netip.AddrFrom16([16]byte{0xfd, 0, 0, 0, 0, 0, 0, byte(r.IntN(4)), 0, 0, 0, 0, 0, 0, 0, byte(1 + r.IntN(3))})
				bits = 56 + r.IntN(12)
			} else {
				a = netip.AddrFrom4([4]byte{10, byte(r.IntN(2)), byte(r.IntN(4)), byte(1 + r.IntN(3))})
				bits = 14 + r.IntN(14)
			}
			p := netip.PrefixFrom(a, bits)
			rng := &hcl.Range{Filename: "f.hcl", Start: hcl.Pos{Line: i + 1, Byte: i * 10}}
			used = append(used, usedPrefix{p: p.Masked(), owner: fmt.Sprint("o", i), segment: fmt.Sprint("s", r.IntN(4)), addr: a, rng: rng})
		}
		v := &validator{used: used}
		v.overlaps()
		want := naiveOverlaps(used)
		var got, exp []string
		for _, d := range v.diags {
			got = append(got, d.Subject.String()+" "+d.Detail)
		}
		for _, pr := range want {
			w := &validator{used: used}
			w.overlapPair(pr[0], pr[1])
			exp = append(exp, w.diags[0].Subject.String()+" "+w.diags[0].Detail)
		}
		slices.Sort(got)
		slices.Sort(exp)
		if !slices.Equal(got, exp) {
			t.Fatalf("round %d: sweep reported\n%v\nwant (every pair)\n%v", round, got, exp)
		}
	}
}
