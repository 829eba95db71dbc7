package nat

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/golden"
)

func TestRestoreUnitGolden(t *testing.T) {
	unit, err := RestoreUnit("/usr/bin/nspawnctl")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/nspawnctl-nat-restore.service", unit)
}

func TestStore(t *testing.T) {
	st := NewStore(t.TempDir())
	if ms, err := st.List(); err != nil || len(ms) != 0 {
		t.Fatalf("empty store: %v %v", ms, err)
	}
	web := trafficMachine
	db := Machine{Name: "db", Link: "vz-zone", Forwards: []Forward{{Protocol: "tcp", HostAddr: a4("127.0.0.1"), HostPorts: port(5432), Target: a4("10.0.1.2"), TargetPorts: port(5432)}}}
	for _, m := range []Machine{web, db} {
		if err := st.Save(m); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.Load("web")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := Plan([]Machine{web})
	b, _ := Plan([]Machine{got})
	if a.Text() != b.Text() {
		t.Errorf("Load(Save(m)) differs:\n%s", golden.Diff(a.Text(), b.Text()))
	}
	ms, _ := st.List()
	if len(ms) != 2 || ms[0].Name != "db" || ms[1].Name != "web" {
		t.Errorf("List = %v", ms)
	}
	if act, _ := st.Active(); len(act) != 0 {
		t.Errorf("no machine is up, Active = %v", act)
	}
	if err := st.SetUp("db", true); err != nil {
		t.Fatal(err)
	}
	if act, _ := st.Active(); len(act) != 1 || act[0].Name != "db" {
		t.Errorf("Active = %v, want db", act)
	}
	// The up marker holds what was installed: nothing when down, unknown
	// when an earlier version left it empty.
	if got := st.InstalledDef("web"); got == nil || got.Name != "web" || len(got.Forwards) != 0 {
		t.Errorf("InstalledDef of a machine that is down = %+v, want only its name", got)
	}
	if err := st.MarkUp(web); err != nil {
		t.Fatal(err)
	}
	if got := st.InstalledDef("web"); got == nil || len(got.Forwards) != len(web.Forwards) || !st.IsUp("web") {
		t.Errorf("InstalledDef after MarkUp = %+v", got)
	}
	if got := st.InstalledDef("db"); got != nil {
		t.Errorf("InstalledDef of an empty marker = %+v, want nil (unknown)", got)
	}
	if err := st.Delete("db"); err != nil {
		t.Fatal(err)
	}
	if st.IsUp("db") {
		t.Error("Delete left the up marker")
	}
	if _, err := st.Load("db"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load after Delete: %v", err)
	}
	if _, err := st.Load("../etc/passwd"); err == nil {
		t.Error("Load accepted a path as a name")
	}
	leftovers, _ := filepath.Glob(filepath.Join(st.Dir, ".tmp-*"))
	if len(leftovers) > 0 {
		t.Errorf("temp files left: %v", leftovers)
	}
	if err := os.WriteFile(filepath.Join(st.Dir, "web.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Load("web"); err == nil {
		t.Error("corrupt record loaded")
	}
}

// TestReloadRestore: after "nft flush ruleset" in the host namespace,
// forwards stop and the container's outbound connections leave with its own
// address; Restore brings both back, also for a machine without forwards,
// and never a stopped machine.
func TestReloadRestore(t *testing.T) {
	tp, a := startTraffic(t)
	serve(t, tp.client, []uint16{4444}, nil)
	st := NewStore(t.TempDir())
	web := trafficMachine
	web.Masquerade = []netip.Prefix{pfx("10.0.0.0/28"), pfx("fd00::/64")}
	quiet := Machine{Name: "quiet", Link: "ve-quiet", Masquerade: []netip.Prefix{pfx("10.0.0.16/28")}}
	stopped := Machine{Name: "stopped", Link: "ve-stopped", Forwards: []Forward{{Protocol: "tcp", HostPorts: port(4000), Target: a4("10.0.0.5"), TargetPorts: port(80)}}}
	for _, m := range []Machine{web, quiet, stopped} {
		if err := st.Save(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"web", "quiet"} {
		if err := st.SetUp(name, true); err != nil {
			t.Fatal(err)
		}
	}
	// want lists the answers allowed: masquerade picks either of the host's
	// IPv6 addresses on the client's link.
	outbound := func(dst string, want ...string) {
		t.Helper()
		got, err := exchange(tp.ctr, "tcp", netip.Addr{}, netip.MustParseAddrPort(dst))
		if err != nil || !slices.Contains(want, got) {
			t.Errorf("container to %s: got %q (%v), want one of %q", dst, got, err, want)
		}
	}
	if err := Restore(a, st); err != nil {
		t.Fatal(err)
	}
	runProbes(t, tp, trafficProbes)
	outbound("203.0.113.10:4444", "4444 203.0.113.2")
	outbound("[2001:db8::10]:4444", "4444 2001:db8::2", "4444 2001:db8::3")
	nftIn(t, tp.host, "", "flush", "ruleset")
	if _, err := exchange(tp.client, "tcp", netip.Addr{}, netip.MustParseAddrPort("203.0.113.2:8080")); err == nil {
		t.Fatal("forward still answered after nft flush ruleset")
	}
	// The client routes back to the container here, so without NAT the
	// connection works but shows the container's own address.
	outbound("203.0.113.10:4444", "4444 10.0.0.2")
	if err := Restore(a, st); err != nil {
		t.Fatal(err)
	}
	runProbes(t, tp, trafficProbes)
	outbound("203.0.113.10:4444", "4444 203.0.113.2")
	outbound("[2001:db8::10]:4444", "4444 2001:db8::2", "4444 2001:db8::3")
	installed, _ := a.Installed()
	if names := installed.Machines(); !slices.Equal(names, []string{"quiet", "web"}) {
		t.Errorf("restore installed machines %v, want the running ones (quiet, web)", names)
	}
	if got := st.InstalledDef("web"); got == nil || len(got.Masquerade) != 2 {
		t.Errorf("restore did not record web as installed: %+v", got)
	}

	// A record that conflicts with an earlier one (by name; here web's port 8080) is left
	// out and named; the others still come back.
	clash := Machine{Name: "xclash", Link: "ve-xclash", Forwards: []Forward{{Protocol: "tcp", HostPorts: port(8080), Target: a4("10.0.0.40"), TargetPorts: port(80)}}}
	if err := st.Save(clash); err != nil {
		t.Fatal(err)
	}
	if err := st.SetUp("xclash", true); err != nil {
		t.Fatal(err)
	}
	nftIn(t, tp.host, "", "flush", "ruleset")
	err := Restore(a, st)
	if err == nil || !strings.Contains(err.Error(), "restored 2 machine(s), left out") || !strings.Contains(err.Error(), `"xclash"`) {
		t.Errorf("restore with a conflicting record: err = %v", err)
	}
	runProbes(t, tp, trafficProbes)
	outbound("203.0.113.10:4444", "4444 203.0.113.2")
}
