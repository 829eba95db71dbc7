package nat

import (
	"fmt"
	"net/netip"
	"testing"
)

// benchMachines returns k forwards spread over machines of up to 100
// forwards each, each machine with its own target address and link.
func benchMachines(k int) []Machine {
	var ms []Machine
	for i := 0; i < k; i += 100 {
		n := min(100, k-i)
		m := Machine{Name: fmt.Sprintf("m%05d", i/100), Link: fmt.Sprintf("ve-m%05d", i/100)}
		target := netip.AddrFrom4([4]byte{10, byte(i / 100 >> 8), byte(i / 100), 2})
		for j := 0; j < n; j++ {
			m.Forwards = append(m.Forwards, Forward{Protocol: "tcp", HostPorts: port(uint16(10000 + i + j)), Target: target, TargetPorts: port(80)})
		}
		ms = append(ms, m)
	}
	return ms
}

var benchKs = []int{1, 100, 1000, 10000}

// BenchmarkInstall measures installing K forwards into an empty namespace
// (one batch, including creating the table with systemd's layout).
func BenchmarkInstall(b *testing.B) {
	requireKernel(b)
	for _, k := range benchKs {
		b.Run(fmt.Sprintf("K=%d", k), func(b *testing.B) {
			ms := benchMachines(k)
			a := newApplier(b, newNS(b))
			a.Links = nil
			b.ResetTimer()
			for range b.N {
				if err := a.Apply(ms); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := a.Flush(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// benchExtra is the machine BenchmarkAddOne and BenchmarkRemoveOne add and
// remove: one forward and outbound NAT.
var benchExtra = Machine{Name: "extra", Link: "ve-extra", Masquerade: []netip.Prefix{netip.MustParsePrefix("10.255.0.0/28")},
	Forwards: []Forward{{Protocol: "udp", HostPorts: port(5000), Target: netip.MustParseAddr("10.255.0.2"), TargetPorts: port(53)}}}

// BenchmarkAddOne measures adding one machine while K forwards are
// installed, as "nat up" does it: ReplaceMachine reads the tables'
// structure and the elements with the machine's keys, nothing else.
func BenchmarkAddOne(b *testing.B) {
	benchOne(b, true, func(a *Applier, m Machine) error { return a.ReplaceMachine(&Machine{Name: m.Name}, m) },
		func(a *Applier, m Machine) error { return a.ReplaceMachine(&m, Machine{Name: m.Name}) })
}

// BenchmarkRemoveOne measures removing it again, as "nat down" does.
func BenchmarkRemoveOne(b *testing.B) {
	benchOne(b, false, func(a *Applier, m Machine) error { return a.ReplaceMachine(&Machine{Name: m.Name}, m) },
		func(a *Applier, m Machine) error { return a.ReplaceMachine(&m, Machine{Name: m.Name}) })
}

// BenchmarkAddOneFullRead is BenchmarkAddOne through ApplyMachine, which
// reads every element back (what "nat up" did before ReplaceMachine, and
// what it still does when it does not know what was installed).
func BenchmarkAddOneFullRead(b *testing.B) {
	benchOne(b, true, func(a *Applier, m Machine) error { return a.ApplyMachine(m) },
		func(a *Applier, m Machine) error { return a.RemoveMachine(m.Name) })
}

// benchOne times add (timeAdd) or remove of benchExtra with K forwards
// installed; the other operation runs untimed between iterations.
func benchOne(b *testing.B, timeAdd bool, add, remove func(*Applier, Machine) error) {
	requireKernel(b)
	for _, k := range benchKs {
		b.Run(fmt.Sprintf("K=%d", k), func(b *testing.B) {
			a := newApplier(b, newNS(b))
			a.Links = nil
			if err := a.Apply(benchMachines(k)); err != nil {
				b.Fatal(err)
			}
			for range b.N {
				b.StopTimer()
				if !timeAdd {
					if err := add(a, benchExtra); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if err := remove(a, benchExtra); err != nil {
						b.Fatal(err)
					}
					continue
				}
				b.StartTimer()
				if err := add(a, benchExtra); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := remove(a, benchExtra); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkPlan measures the pure planning of K forwards.
func BenchmarkPlan(b *testing.B) {
	ms := benchMachines(10000)
	for range b.N {
		if _, err := Plan(ms); err != nil {
			b.Fatal(err)
		}
	}
}
