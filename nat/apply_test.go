package nat

import (
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/golden"
)

// TestApplyReadBack applies every golden case to an empty namespace, checks
// that the kernel lists exactly the golden text, that a second apply sends
// nothing, and that removing everything leaves systemd's bare layout.
func TestApplyReadBack(t *testing.T) {
	requireKernel(t)
	for _, c := range planCases {
		t.Run(c.name, func(t *testing.T) {
			ns := newNS(t)
			a := newApplier(t, ns)
			if err := a.Apply(c.machines); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "testdata/"+c.name+".nft", []byte(nftIn(t, ns, "", "list", "ruleset")))
			if err := a.Apply(c.machines); err != nil {
				t.Fatal(err)
			}
			if a.Batches != 1 {
				t.Errorf("second apply of the same state sent a batch (%d batches in all)", a.Batches)
			}
			got, err := a.Installed()
			if err != nil {
				t.Fatal(err)
			}
			want, _ := Plan(c.machines)
			if got.Text() != want.Text() {
				t.Errorf("Installed() differs from the plan:\n%s", golden.Diff(want.Text(), got.Text()))
			}
			if err := a.Apply(nil); err != nil {
				t.Fatal(err)
			}
			listing := nftIn(t, ns, "", "list", "ruleset")
			var wantTeardown strings.Builder
			for _, fam := range Families {
				if want.Tables[fam].Active() {
					wantTeardown.WriteString(SystemdText(fam))
				}
			}
			if listing != wantTeardown.String() {
				t.Errorf("after removing every machine:\n%s", golden.Diff(wantTeardown.String(), listing))
			}
		})
	}
}
