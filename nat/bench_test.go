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

// BenchmarkAddOne measures ApplyMachine of one new machine with one forward
// while K forwards are installed (it reads nspawnctl's elements back to find
// what to change, then sends a batch with only the new elements).
func BenchmarkAddOne(b *testing.B) {
	requireKernel(b)
	for _, k := range benchKs {
		b.Run(fmt.Sprintf("K=%d", k), func(b *testing.B) {
			a := newApplier(b, newNS(b))
			a.Links = nil
			if err := a.Apply(benchMachines(k)); err != nil {
				b.Fatal(err)
			}
			extra := Machine{Name: "extra", Link: "ve-extra", Forwards: []Forward{{Protocol: "udp", HostPorts: port(5000), Target: a4("10.255.0.2"), TargetPorts: port(53)}}}
			b.ResetTimer()
			for range b.N {
				if err := a.ApplyMachine(extra); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := a.RemoveMachine("extra"); err != nil {
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
