package nat

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/golden"
	"github.com/vishvananda/netlink"
)

func TestRestoreUnitGolden(t *testing.T) {
	golden.Check(t, "testdata/nspawnctl-nat-restore.service", []byte(RestoreUnit("/usr/bin/nspawnctl")))
	if got := systemdQuote(`/opt/my tools/nspawnctl%`); got != `"/opt/my tools/nspawnctl%%"` {
		t.Errorf("systemdQuote = %s", got)
	}
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

type fakeNetworkd struct{ calls []int }

func (f *fakeNetworkd) ReconfigureLink(i int) error {
	f.calls = append(f.calls, i)
	return errors.New("no system bus in the test")
}

// TestReloadRestore: after "nft flush ruleset" in the host namespace, traffic
// stops; Restore brings every forward back and traffic passes again.
func TestReloadRestore(t *testing.T) {
	tp, a := startTraffic(t)
	st := NewStore(t.TempDir())
	stopped := Machine{Name: "stopped", Link: "ve-stopped", Forwards: []Forward{{Protocol: "tcp", HostPorts: port(4000), Target: a4("10.0.0.5"), TargetPorts: port(80)}}}
	for _, m := range []Machine{trafficMachine, stopped} {
		if err := st.Save(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetUp("web", true); err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(tp.host)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	linkIndex := func(name string) (int, error) {
		l, err := h.LinkByName(name)
		if err != nil {
			return 0, err
		}
		return l.Attrs().Index, nil
	}
	nd := &fakeNetworkd{}
	var warnings []string
	a.Warn = func(f string, args ...any) { warnings = append(warnings, f) }
	if err := Restore(a, st, nd, linkIndex); err != nil {
		t.Fatal(err)
	}
	runProbes(t, tp, trafficProbes)
	nftIn(t, tp.host, "", "flush", "ruleset")
	if _, err := exchange(tp.client, "tcp", netip.Addr{}, netip.MustParseAddrPort("203.0.113.2:8080")); err == nil {
		t.Fatal("forward still answered after nft flush ruleset")
	}
	if err := Restore(a, st, nd, linkIndex); err != nil {
		t.Fatal(err)
	}
	runProbes(t, tp, trafficProbes)
	if len(nd.calls) != 2 || len(warnings) == 0 {
		t.Errorf("networkd calls %v, warnings %q: want one reconfigure of ve-web per restore and a warning for the missing bus", nd.calls, warnings)
	}
	installed, _ := a.Installed()
	if names := installed.Machines(); len(names) != 1 || names[0] != "web" {
		t.Errorf("restore installed machines %v, want only the running one (web)", names)
	}
}
