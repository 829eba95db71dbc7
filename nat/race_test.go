package nat

import (
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/golden"
)

// TestTableCreatedConcurrently: nspawnctl reads the kernel, finds no
// io.systemd.nat table and plans to create it; before its batch arrives,
// systemd (networkd's IPMasquerade= for a link that just came up, as at a
// machine's first start) creates the table with its own layout. The apply
// still succeeds, systemd's objects stay exactly systemd's (no rule twice),
// and the result is what an apply onto systemd's table gives.
func TestTableCreatedConcurrently(t *testing.T) {
	machines := planCases[len(planCases)-1].machines
	refNS, _, ref := systemdBed(t)
	if err := ref.Apply(machines); err != nil {
		t.Fatal(err)
	}

	ns := newNS(t)
	a := newApplier(t, ns)
	sends := 0
	a.beforeSend = func() {
		sends++
		if sends == 1 {
			nftIn(t, ns, systemdReference+systemdElements, "-f", "-")
		}
	}
	if err := a.Apply(machines); err != nil {
		t.Fatalf("apply with systemd creating the table in between: %v", err)
	}
	got := nftIn(t, ns, "", "list", "ruleset")
	if strings.Count(got, "ip saddr @masq_saddr masquerade") != 1 || strings.Count(got, "ip6 saddr @masq_saddr masquerade") != 1 {
		t.Errorf("systemd's postrouting rule is not there exactly once:\n%s", got)
	}
	if want := nftIn(t, refNS, "", "list", "ruleset"); got != want {
		t.Errorf("the result differs from an apply onto systemd's table:\n%s", golden.Diff(want, got))
	}
}
