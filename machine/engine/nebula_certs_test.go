package engine

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/machine/nebula"
)

// TestRemoveBlocksNebulaCert: removing a machine with a sidecar records its
// certificate in the blocklist state, writes it into the other sidecar of
// its network on the host and restarts that running sidecar; the next plan
// of that machine keeps the blocklist (nothing to change), and a machine
// added later gets it too.
func TestRemoveBlocksNebulaCert(t *testing.T) {
	e := newPlanEnv(t)
	dbMesh := strings.NewReplacer(`"mesh"`, `"db"`, "10.42.0.7/16", "10.42.0.8/16").Replace(planMesh)
	e.apply(planMesh+dbMesh, false, false)
	e.setRunning("mesh")
	e.setRunning("db")
	crt, err := os.ReadFile(e.m.host(nebula.CertPath("db")))
	if err != nil {
		t.Fatal(err)
	}
	hc, err := nebula.ParseHostCert(crt)
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := hc.Fingerprint()

	e.units.Calls = nil
	if err := e.m.Remove(context.Background(), "db", RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	bl, err := nebula.LoadBlocklist(e.m.nebulaBlocklistPath())
	if err != nil {
		t.Fatal(err)
	}
	if got := bl.Fingerprints("corp", e.m.now()); !slices.Equal(got, []string{fp}) {
		t.Errorf("blocklist of corp = %v, want [%s]", got, fp)
	}
	conf, _ := os.ReadFile(e.m.host(nebula.ConfigPath("mesh")))
	if !strings.Contains(string(conf), fp) {
		t.Errorf("mesh's config lacks the removed certificate's fingerprint:\n%s", conf)
	}
	unit := nebula.SidecarInstance("mesh")
	if !slices.Contains(e.units.Calls, "stop "+unit) || !slices.Contains(e.units.Calls, "start "+unit) {
		t.Errorf("mesh's sidecar was not restarted: %v", e.units.Calls)
	}
	_, plans := e.plan(planMesh, false, false)
	if p := planOf(t, plans, "mesh"); p.Action != ActionUnchanged {
		t.Errorf("re-plan of mesh after the remove: %s %+v", p.Action, p)
	}
}
