package resolve_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
)

// benchConfig writes a configuration of n veth machines with one forward
// each (distinct host ports) and returns its path: the shape of the
// issue's measurement of `nspawnctl validate`.
func benchConfig(b *testing.B, n int) string {
	b.Helper()
	var sb strings.Builder
	// Pools wide enough that 10,000 machines fill a small part of them, as
	// 1,000 do of the defaults: a /8 of /28s holds a million machines (the
	// default /16 only 4096), a /40 ULA half a million /64s per half (the
	// default /48's halves 32,768, which 10,000 would fill to 30%, making
	// the search for a free subnet longer for reasons of occupancy, not of
	// the algorithm).
	sb.WriteString("defaults {\n  ipv4_pool  = \"10.0.0.0/8\"\n  ula_prefix = \"fd00::/40\"\n}\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "machine \"m%d\" {\n  forward_port {\n    host_port      = %d\n    container_port = 80\n  }\n}\n", i, 10000+i)
	}
	path := filepath.Join(b.TempDir(), "bench.hcl")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// benchSizes are the machine counts the validation benchmarks run at: the
// growth from the first to the last is the figure issue 12 asks to stay
// linear (under 12x for 10x the machines).
var benchSizes = []int{1000, 2000, 4000, 10000}

// reportPerMachine adds ns/machine, the figure that stays flat when the
// work is linear in the number of machines, so benchstat compares sizes
// directly.
func reportPerMachine(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/machine")
}

// BenchmarkValidate validates n decoded machines: the resolution (checks,
// allocation, forward collisions) the issue asks to be linear.
func BenchmarkValidate(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			p := config.NewParser()
			cfg, diags := p.Load([]string{benchConfig(b, n)})
			if diags.HasErrors() {
				b.Fatal(diags)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, diags := resolve.Validate(cfg, testFacts); diags.HasErrors() {
					b.Fatal(diags)
				}
			}
			reportPerMachine(b, n)
		})
	}
}

// BenchmarkLoadValidate loads and validates n machines from one file, as
// nspawnctl validate does (HCL parsing and decoding included).
func BenchmarkLoadValidate(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			path := benchConfig(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := config.NewParser()
				cfg, diags := p.Load([]string{path})
				if diags.HasErrors() {
					b.Fatal(diags)
				}
				if _, diags := resolve.Validate(cfg, testFacts); diags.HasErrors() {
					b.Fatal(diags)
				}
			}
			reportPerMachine(b, n)
		})
	}
}
