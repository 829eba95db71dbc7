package networkd

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/golden"
)

func mustAllocator(t testing.TB, pool string, bits int) *Allocator {
	t.Helper()
	a, err := NewAllocator(netip.MustParsePrefix(pool), bits)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestNewAllocatorErrors(t *testing.T) {
	tests := []struct {
		pool netip.Prefix
		bits int
	}{
		{netip.Prefix{}, 28},
		{netip.MustParsePrefix("10.117.3.0/16"), 28},
		{netip.MustParsePrefix("10.117.0.0/16"), 8},
		{netip.MustParsePrefix("10.117.0.0/16"), 31},
		{netip.MustParsePrefix("fd00::/8"), 127},
		{netip.MustParsePrefix("fd00::/8"), 72},
		{netip.MustParsePrefix("::ffff:10.117.0.0/112"), 124},
	}
	var report strings.Builder
	for _, tt := range tests {
		_, err := NewAllocator(tt.pool, tt.bits)
		if err == nil {
			t.Errorf("NewAllocator(%v, %d) = nil error, want one", tt.pool, tt.bits)
			continue
		}
		fmt.Fprintf(&report, "%v /%d: %v\n", tt.pool, tt.bits, err)
	}
	golden.Check(t, "testdata/alloc_errors.golden", []byte(report.String()))

	for _, ok := range []struct {
		pool string
		bits int
	}{{"10.117.0.0/16", 28}, {"10.117.0.0/16", 16}, {"10.117.0.0/16", 30}, {"fd00::/8", 64}, {"fd12:3456:789a::/48", 64}, {"fd00::/64", 126}} {
		if _, err := NewAllocator(netip.MustParsePrefix(ok.pool), ok.bits); err != nil {
			t.Errorf("NewAllocator(%s, %d): %v", ok.pool, ok.bits, err)
		}
	}
}

func TestAllocateProbing(t *testing.T) {
	a := mustAllocator(t, "10.117.0.0/16", 28)
	if a.Size() != 4096 {
		t.Fatalf("Size() = %d, want 4096", a.Size())
	}
	key := "machine/web"
	home := a.Home(key)
	if !a.Pool().Contains(home.Addr()) || home.Bits() != 28 || home.Masked() != home {
		t.Fatalf("Home(%q) = %s, want a masked /28 of %s", key, home, a.Pool())
	}
	got, err := a.Allocate(key, nil)
	if err != nil || got != home {
		t.Fatalf("Allocate(%q, nil) = %s, %v; want home %s", key, got, err, home)
	}
	next := netip.PrefixFrom(home.Addr().Next().Next().Next().Next().Next().Next().Next().Next().
		Next().Next().Next().Next().Next().Next().Next().Next(), 28)

	tests := []struct {
		name  string
		taken []netip.Prefix
		want  netip.Prefix
	}{
		{"home taken", []netip.Prefix{home}, next},
		{"one address of home in use", []netip.Prefix{netip.PrefixFrom(home.Addr().Next().Next().Next(), 32)}, next},
		{"irrelevant entries ignored", []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("fd00::/8"), {}}, home},
		{"IPv4-mapped entry honoured", []netip.Prefix{netip.PrefixFrom(netip.AddrFrom16(home.Addr().As16()), 96+28)}, next},
	}
	for _, tt := range tests {
		got, err := a.Allocate(key, tt.taken)
		if err != nil || got != tt.want {
			t.Errorf("%s: Allocate = %s, %v; want %s", tt.name, got, err, tt.want)
		}
	}

	// A wider prefix around home is skipped in one step.
	wide := netip.PrefixFrom(home.Addr(), 20).Masked()
	got, err = a.Allocate(key, []netip.Prefix{wide})
	if err != nil || Overlaps(got, wide) {
		t.Errorf("Allocate past %s = %s, %v", wide, got, err)
	}
}

func TestAllocateWrapsAndFills(t *testing.T) {
	a := mustAllocator(t, "198.51.100.0/28", 30) // 4 subnets
	var taken []netip.Prefix
	seen := map[netip.Prefix]bool{}
	for i := range 4 {
		p, err := a.Allocate(fmt.Sprintf("machine/m%d", i), taken)
		if err != nil {
			t.Fatalf("Allocate %d: %v", i, err)
		}
		if seen[p] {
			t.Fatalf("Allocate %d returned %s twice", i, p)
		}
		seen[p] = true
		taken = append(taken, p)
	}
	_, err := a.Allocate("machine/extra", taken)
	if !errors.Is(err, ErrPoolFull) {
		t.Fatalf("Allocate in a full pool: %v, want ErrPoolFull", err)
	}
	golden.Check(t, "testdata/alloc_full_error.golden", []byte(err.Error()+"\n"))
	// Taken as one covering prefix, too.
	if _, err := a.Allocate("machine/x", []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}); !errors.Is(err, ErrPoolFull) {
		t.Errorf("Allocate with the whole pool taken: %v, want ErrPoolFull", err)
	}
	// The last subnet taken, key homed there: wraps to the first.
	last := netip.MustParsePrefix("198.51.100.12/30")
	for i := range 1000 {
		key := fmt.Sprintf("k%d", i)
		if a.Home(key) != last {
			continue
		}
		got, err := a.Allocate(key, []netip.Prefix{last})
		if err != nil || got != netip.MustParsePrefix("198.51.100.0/30") {
			t.Errorf("Allocate(%q) with its home %s taken = %s, %v; want the wrap to 198.51.100.0/30", key, last, got, err)
		}
		return
	}
	t.Fatal("no key homed on the last subnet among 1000")
}

// naiveAllocate is the specification: scan from the home index over every
// subnet, checking each against every taken prefix.
func naiveAllocate(a *Allocator, key string, taken []netip.Prefix) (netip.Prefix, bool) {
	start := a.home(key)
	for i := range a.Size() {
		p := a.subnet((start + i) % a.Size())
		free := true
		for _, t := range taken {
			if Overlaps(p, t) {
				free = false
				break
			}
		}
		if free {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

func randomPrefixIn(r *rand.Rand, pool netip.Prefix, minBits, maxBits int) netip.Prefix {
	off := 128 - pool.Addr().BitLen()
	mask := u128{^uint64(0), ^uint64(0)}.shr(uint(off + pool.Bits()))
	base := u128From(pool.Addr())
	addr := base.or(u128{r.Uint64() & mask.hi, r.Uint64() & mask.lo}).addr(pool.Addr().Is4())
	return netip.PrefixFrom(addr, minBits+r.IntN(maxBits-minBits+1)).Masked()
}

func TestAllocateMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pools := []struct {
		pool string
		bits int
	}{{"10.117.0.0/22", 28}, {"198.51.100.0/24", 30}, {"fd00:1:2::/56", 64}, {"fd00::/120", 124}}
	for _, pc := range pools {
		a := mustAllocator(t, pc.pool, pc.bits)
		for round := range 300 {
			var taken []netip.Prefix
			for range r.IntN(int(a.Size()) + 2) {
				taken = append(taken, randomPrefixIn(r, a.Pool(), a.Pool().Bits()+1, a.Pool().Addr().BitLen()))
			}
			key := fmt.Sprintf("machine/%d", round)
			got, err := a.Allocate(key, taken)
			want, ok := naiveAllocate(a, key, taken)
			if !ok {
				if !errors.Is(err, ErrPoolFull) {
					t.Fatalf("%s: Allocate(%q, %v) = %s, %v; want ErrPoolFull", pc.pool, key, taken, got, err)
				}
				continue
			}
			if err != nil || got != want {
				t.Fatalf("%s: Allocate(%q, %v) = %s, %v; want %s", pc.pool, key, taken, got, err, want)
			}
		}
	}
}

func TestAssignOrderIndependentAndCollisionFree(t *testing.T) {
	a := mustAllocator(t, DefaultIPv4Pool.String(), MachineIPv4Bits)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("machine/m%04d", i)
	}
	reserved := []netip.Prefix{netip.MustParsePrefix("10.117.16.0/20"), netip.MustParsePrefix("10.117.200.7/32")}
	first, err := a.Assign(keys, nil, reserved)
	if err != nil {
		t.Fatal(err)
	}
	checkAssignment(t, a, keys, first, reserved)

	r := rand.New(rand.NewPCG(3, 4))
	for range 5 {
		shuffled := append([]string(nil), keys...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		shuffled = append(shuffled, shuffled[:10]...) // duplicates are ignored
		again, err := a.Assign(shuffled, nil, reserved)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if again[k] != first[k] {
				t.Fatalf("Assign depends on key order: %q got %s, then %s", k, first[k], again[k])
			}
		}
	}
}

func checkAssignment(t *testing.T, a *Allocator, keys []string, got map[string]netip.Prefix, reserved []netip.Prefix) {
	t.Helper()
	owner := map[netip.Prefix]string{}
	for _, k := range keys {
		p, ok := got[k]
		if !ok {
			t.Fatalf("no subnet for %q", k)
		}
		if p.Bits() != a.Bits() || p.Masked() != p || !a.Pool().Contains(p.Addr()) {
			t.Fatalf("%q got %s, not a /%d of %s", k, p, a.Bits(), a.Pool())
		}
		if o, dup := owner[p]; dup && o != k {
			t.Fatalf("%q and %q both got %s", o, k, p)
		}
		owner[p] = k
		for _, r := range reserved {
			if Overlaps(p, r) {
				t.Fatalf("%q got %s, which overlaps reserved %s", k, p, r)
			}
		}
	}
}

func TestAssignKeepsPrevious(t *testing.T) {
	a := mustAllocator(t, "10.117.0.0/22", 28) // 64 subnets: collisions are common
	var keys []string
	for i := range 40 {
		keys = append(keys, fmt.Sprintf("machine/m%d", i))
	}
	prev, err := a.Assign(keys, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Add keys (and drop one): every kept key stays put.
	grown := append(append([]string{"machine/new1", "machine/new2"}, keys[1:]...), "machine/new3")
	next, err := a.Assign(grown, prev, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkAssignment(t, a, grown, next, nil)
	for _, k := range keys[1:] {
		if next[k] != prev[k] {
			t.Errorf("%q moved from %s to %s when keys were added", k, prev[k], next[k])
		}
	}
	if _, ok := next[keys[0]]; ok {
		t.Errorf("dropped key %q still has a subnet", keys[0])
	}

	// Recorded subnets that became invalid are reassigned.
	bad := map[string]netip.Prefix{
		"machine/m1": netip.MustParsePrefix("10.117.9.0/28"),   // outside the pool
		"machine/m2": netip.MustParsePrefix("10.117.0.0/27"),   // wrong size
		"machine/m3": netip.MustParsePrefix("10.117.0.17/28"),  // not masked
		"machine/m4": netip.MustParsePrefix("10.117.0.32/28"),  // reserved below
		"machine/m5": netip.MustParsePrefix("10.117.0.48/28"),  // same as m6: m5 keeps it
		"machine/m6": netip.MustParsePrefix("10.117.0.48/28"),  //
		"machine/m7": netip.MustParsePrefix("fd00::/64"),       // wrong family
		"machine/m8": netip.MustParsePrefix("10.117.0.128/28"), // fine
	}
	reserved := []netip.Prefix{netip.MustParsePrefix("10.117.0.40/29")}
	ks := []string{"machine/m1", "machine/m2", "machine/m3", "machine/m4", "machine/m5", "machine/m6", "machine/m7", "machine/m8"}
	got, err := a.Assign(ks, bad, reserved)
	if err != nil {
		t.Fatal(err)
	}
	checkAssignment(t, a, ks, got, reserved)
	if got["machine/m5"] != bad["machine/m5"] || got["machine/m8"] != bad["machine/m8"] {
		t.Errorf("valid recorded subnets not kept: m5 %s, m8 %s", got["machine/m5"], got["machine/m8"])
	}
	for _, k := range []string{"machine/m1", "machine/m2", "machine/m4", "machine/m6", "machine/m7"} {
		if got[k] == bad[k] {
			t.Errorf("%q kept the invalid recorded subnet %s", k, bad[k])
		}
	}
}

func TestAssignTieBreak(t *testing.T) {
	a := mustAllocator(t, "198.51.100.0/24", 28) // 16 subnets
	byHome := map[uint64][]string{}
	var k1, k2 string
	for i := 0; k1 == ""; i++ {
		k := fmt.Sprintf("machine/t%d", i)
		h := a.home(k)
		if len(byHome[h]) == 1 {
			k1, k2 = byHome[h][0], k
		}
		byHome[h] = append(byHome[h], k)
	}
	lo, hi := min(k1, k2), max(k1, k2)
	for _, order := range [][]string{{k1, k2}, {k2, k1}} {
		got, err := a.Assign(order, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got[lo] != a.Home(lo) || got[hi] == a.Home(hi) {
			t.Errorf("keys %q and %q share home %s: got %s and %s; want the smaller key at home", lo, hi, a.Home(lo), got[lo], got[hi])
		}
	}
}

func TestAssignFull(t *testing.T) {
	a := mustAllocator(t, "198.51.100.0/28", 30)
	_, err := a.Assign([]string{"a", "b", "c", "d", "e"}, nil, nil)
	if !errors.Is(err, ErrPoolFull) {
		t.Errorf("Assign of 5 keys into 4 subnets: %v, want ErrPoolFull", err)
	}
}

func TestHostAndContainerAddress(t *testing.T) {
	tests := []struct{ subnet, host, container string }{
		{"10.117.3.16/28", "10.117.3.17/28", "10.117.3.18/28"},
		{"10.118.7.0/24", "10.118.7.1/24", "10.118.7.2/24"},
		{"fd6c:244c:eb92:12::/64", "fd6c:244c:eb92:12::1/64", "fd6c:244c:eb92:12::2/64"},
		{"10.117.3.20/28", "10.117.3.17/28", "10.117.3.18/28"}, // unmasked input
	}
	for _, tt := range tests {
		s := netip.MustParsePrefix(tt.subnet)
		if got := HostAddress(s).String(); got != tt.host {
			t.Errorf("HostAddress(%s) = %s, want %s", s, got, tt.host)
		}
		if got := ContainerAddress(s).String(); got != tt.container {
			t.Errorf("ContainerAddress(%s) = %s, want %s", s, got, tt.container)
		}
	}
}

func TestOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"10.117.0.0/16", "10.117.3.16/28", true},
		{"10.117.3.16/28", "10.117.3.32/28", false},
		{"10.117.3.16/28", "10.117.3.31/32", true},
		{"10.117.3.20/28", "10.117.3.16/28", true}, // unmasked
		{"10.0.0.0/8", "fd00::/8", false},
		{"::ffff:10.117.3.16/124", "10.117.3.17/32", true},
		{"fd00::/8", "fd6c:244c:eb92::/48", true},
		{"fd00::/64", "fd00:0:0:1::/64", false},
	}
	for _, tt := range tests {
		a, b := netip.MustParsePrefix(tt.a), netip.MustParsePrefix(tt.b)
		if got := Overlaps(a, b); got != tt.want {
			t.Errorf("Overlaps(%s, %s) = %v, want %v", a, b, got, tt.want)
		}
		if got := Overlaps(b, a); got != tt.want {
			t.Errorf("Overlaps(%s, %s) = %v, want %v", b, a, got, tt.want)
		}
	}
	if Overlaps(netip.Prefix{}, netip.MustParsePrefix("10.0.0.0/8")) {
		t.Error("Overlaps with an invalid prefix = true")
	}
}

func TestIPv6Pools(t *testing.T) {
	ula := netip.MustParsePrefix("fd6c:244c:eb92::/48")
	if got := MachineIPv6Pool(ula).String(); got != "fd6c:244c:eb92::/49" {
		t.Errorf("MachineIPv6Pool = %s", got)
	}
	if got := ZoneIPv6Pool(ula).String(); got != "fd6c:244c:eb92:8000::/49" {
		t.Errorf("ZoneIPv6Pool = %s", got)
	}
	if got := ZoneIPv6Pool(netip.MustParsePrefix("10.117.0.0/16")).String(); got != "10.117.128.0/17" {
		t.Errorf("ZoneIPv6Pool of an IPv4 /16 = %s, want its upper half", got)
	}
}

// TestAddressPlan records the default plan for a few machines and zones on
// the host whose machine id the MAC vectors use.
func TestAddressPlan(t *testing.T) {
	ula := ULAPrefix(macHostID)
	m4 := mustAllocator(t, DefaultIPv4Pool.String(), MachineIPv4Bits)
	m6 := mustAllocator(t, MachineIPv6Pool(ula).String(), IPv6SubnetBits)
	z4 := mustAllocator(t, DefaultZoneIPv4Pool.String(), ZoneIPv4Bits)
	z6 := mustAllocator(t, ZoneIPv6Pool(ula).String(), IPv6SubnetBits)
	machines := []string{"machine/web", "machine/db", "machine/cache", "machine/verylongmachinename"}
	zones := []string{"zone/lan", "zone/dmz"}
	var out strings.Builder
	fmt.Fprintf(&out, "ULA %s\n", ula)
	for _, set := range []struct {
		keys   []string
		v4, v6 *Allocator
	}{{machines, m4, m6}, {zones, z4, z6}} {
		g4, err := set.v4.Assign(set.keys, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		g6, err := set.v6.Assign(set.keys, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range set.keys {
			fmt.Fprintf(&out, "%-28s %-16s host %-16s container %-16s %s host %s container %s\n", k,
				g4[k], HostAddress(g4[k]).Addr(), ContainerAddress(g4[k]).Addr(),
				g6[k], HostAddress(g6[k]).Addr(), ContainerAddress(g6[k]).Addr())
		}
	}
	golden.Check(t, "testdata/alloc_plan.golden", []byte(out.String()))
}

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("machine/m%04d", i)
	}
	return keys
}

// BenchmarkAssign1000IPv4 assigns /28s to 1,000 machines from the default
// /16 (4,096 subnets, so about a quarter full) with nothing recorded.
func BenchmarkAssign1000IPv4(b *testing.B) {
	a := mustAllocator(b, DefaultIPv4Pool.String(), MachineIPv4Bits)
	keys := benchKeys(1000)
	reserved := []netip.Prefix{netip.MustParsePrefix("10.117.16.0/20")}
	for b.Loop() {
		if _, err := a.Assign(keys, nil, reserved); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAssign1000IPv6 assigns /64s to 1,000 machines from half a ULA /48.
func BenchmarkAssign1000IPv6(b *testing.B) {
	a := mustAllocator(b, MachineIPv6Pool(netip.MustParsePrefix("fd6c:244c:eb92::/48")).String(), IPv6SubnetBits)
	keys := benchKeys(1000)
	for b.Loop() {
		if _, err := a.Assign(keys, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAssign1000Recorded re-assigns 1,000 machines that all have a
// recorded subnet: the steady state of every apply.
func BenchmarkAssign1000Recorded(b *testing.B) {
	a := mustAllocator(b, DefaultIPv4Pool.String(), MachineIPv4Bits)
	keys := benchKeys(1000)
	prev, err := a.Assign(keys, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := a.Assign(keys, prev, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAllocate1000Sequential allocates 1,000 machines one by one, each
// call passing every earlier result as taken (the naive way to use
// Allocate).
func BenchmarkAllocate1000Sequential(b *testing.B) {
	a := mustAllocator(b, DefaultIPv4Pool.String(), MachineIPv4Bits)
	keys := benchKeys(1000)
	for b.Loop() {
		taken := make([]netip.Prefix, 0, len(keys))
		for _, k := range keys {
			p, err := a.Allocate(k, taken)
			if err != nil {
				b.Fatal(err)
			}
			taken = append(taken, p)
		}
	}
}

// FuzzAllocate checks Allocate against the naive specification on small
// pools, with taken prefixes built from the fuzzer's bytes.
func FuzzAllocate(f *testing.F) {
	f.Add(uint8(24), uint8(28), "machine/web", []byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Add(uint8(56), uint8(64), "zone/lan", []byte{255, 255, 255, 255})
	f.Add(uint8(28), uint8(30), "", []byte{})
	f.Fuzz(func(t *testing.T, poolBits, subnetBits uint8, key string, takenSeed []byte) {
		var pool netip.Prefix
		var width int
		if poolBits < 64 {
			pb := 20 + int(poolBits)%11 // /20../30
			pool = netip.PrefixFrom(netip.MustParseAddr("10.117.0.0"), pb).Masked()
			width = 32
		} else {
			pb := 48 + int(poolBits)%17 // /48../64 of a ULA
			pool = netip.PrefixFrom(netip.MustParseAddr("fd6c:244c:eb92::"), pb).Masked()
			width = 128
		}
		// At most 2^10 subnets keep the naive scan fast.
		maxBits := min(pool.Bits()+10, map[int]int{32: 30, 128: 126}[width])
		bits := pool.Bits() + int(subnetBits)%(maxBits-pool.Bits()+1)
		a, err := NewAllocator(pool, bits)
		if err != nil {
			t.Fatalf("NewAllocator(%s, %d): %v", pool, bits, err)
		}
		r := rand.New(rand.NewPCG(uint64(len(takenSeed)), 7))
		var taken []netip.Prefix
		for _, c := range takenSeed {
			r2 := rand.New(rand.NewPCG(uint64(c), r.Uint64()))
			taken = append(taken, randomPrefixIn(r2, pool, pool.Bits(), width))
		}
		got, err := a.Allocate(key, taken)
		want, ok := naiveAllocate(a, key, taken)
		if !ok {
			if !errors.Is(err, ErrPoolFull) {
				t.Fatalf("Allocate(%q) in %s /%d = %s, %v; want ErrPoolFull", key, pool, bits, got, err)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("Allocate(%q) in %s /%d with %v = %s, %v; want %s", key, pool, bits, taken, got, err, want)
		}
	})
}
