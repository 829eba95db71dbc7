package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/state"
)

// hostTree is the host's files outside the state directory, each as its
// mode and content (or link target), and with its inode, which tells a file
// left alone from one written again with the same bytes.
type hostTree struct {
	files  map[string]string
	inodes map[string]uint64
}

func snapshotHost(t *testing.T, m *Manager) hostTree {
	t.Helper()
	tree := hostTree{files: map[string]string{}, inodes: map[string]uint64{}}
	stateDir, _ := filepath.Rel(m.FSRoot, m.Store.Dir)
	err := filepath.WalkDir(m.FSRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(m.FSRoot, p)
		if rel == stateDir {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			tree.files[rel] = "-> " + target
		} else {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tree.files[rel] = fmt.Sprintf("%v %s", st.Mode().Perm(), b)
		}
		tree.inodes[rel] = st.Sys().(*syscall.Stat_t).Ino
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// diffTrees names the paths whose content differs between two snapshots.
func diffTrees(a, b hostTree) []string {
	var out []string
	for p, v := range a.files {
		if w, ok := b.files[p]; !ok {
			out = append(out, "- "+p)
		} else if v != w {
			out = append(out, "~ "+p)
		}
	}
	for p := range b.files {
		if _, ok := a.files[p]; !ok {
			out = append(out, "+ "+p)
		}
	}
	slices.Sort(out)
	return out
}

// rewritten names the paths that both snapshots have but that were
// replaced in between, even with the same content.
func rewritten(a, b hostTree) []string {
	var out []string
	for p, ino := range a.inodes {
		if other, ok := b.inodes[p]; ok && other != ino {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// withLine puts line into planWeb's machine block, after its first line.
func withLine(src, line string) string {
	return strings.Replace(src, "{\n", "{\n  "+line+"\n", 1)
}

// TestApplyEffects is the table of what Apply does to a machine already
// applied once: nothing at all when nothing changed, running or not; on a
// running machine a restart or a NAT refresh as the change and the
// activation strategy say; on a stopped one only its files, which the next
// start picks up.
func TestApplyEffects(t *testing.T) {
	bind := `bind = ["/srv/data"]`
	otherPort := strings.Replace(planWeb, "8181", "8282", 1)
	for _, tt := range []struct {
		name      string
		base      string // applied first
		next      string // the apply under test
		running   bool
		calls     []string // every unit call of the second apply
		refreshed bool     // whether the NAT of web was refreshed
		unchanged bool     // nothing may be written, not even the state
		files     bool     // whether files on the host change (forwards live in the NAT store)
	}{
		{name: "unchanged, running: untouched", base: planWeb, next: planWeb, running: true, unchanged: true},
		{name: "unchanged, stopped: untouched", base: planWeb, next: planWeb, unchanged: true},
		{name: "forward changed, running: reload refreshes NAT", base: planWeb, next: otherPort, running: true,
			calls: []string{"daemon-reload"}, refreshed: true},
		{name: "forward changed, stopped: state only", base: planWeb, next: otherPort,
			calls: []string{"daemon-reload"}},
		{name: ".nspawn changed, running: restart", base: planWeb, next: withLine(planWeb, bind), running: true,
			calls: []string{"daemon-reload", "stop systemd-nspawn@web.service", "start systemd-nspawn@web.service"}, files: true},
		{name: ".nspawn changed, stopped: not started", base: planWeb, next: withLine(planWeb, bind),
			calls: []string{"daemon-reload"}, files: true},
		{name: "activation none, running: files only", base: withLine(planWeb, `activation = "none"`),
			next: withLine(withLine(otherPort, `activation = "none"`), bind), running: true,
			calls: []string{"daemon-reload"}, files: true},
		{name: "activation restart, forward changed, running: restart instead of a refresh",
			base: withLine(planWeb, `activation = "restart"`), next: withLine(otherPort, `activation = "restart"`), running: true,
			calls: []string{"daemon-reload", "stop systemd-nspawn@web.service", "start systemd-nspawn@web.service"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newPlanEnv(t)
			e.apply(tt.base, false, false)
			unit := render.UnitName("web")
			if tt.running {
				e.setRunning("web")
			} else {
				e.units.State[unit] = "inactive"
			}
			before := snapshotHost(t, e.m)
			gensBefore, _ := e.m.Store.Generations("web")
			recordFile := filepath.Join(e.m.Store.Dir, "machines", "web.json")
			recBefore, _ := os.Stat(recordFile)

			_, calls := e.apply(tt.next, false, false)
			after := snapshotHost(t, e.m)

			if !slices.Equal(calls, tt.calls) {
				t.Errorf("unit calls %q, want %q", calls, tt.calls)
			}
			if got := slices.Contains(e.refreshed, "web"); got != tt.refreshed {
				t.Errorf("NAT refreshed = %v, want %v", got, tt.refreshed)
			}
			changed := diffTrees(before, after)
			if (len(changed) > 0) != tt.files {
				t.Errorf("files changed: %v, want changes %v", changed, tt.files)
			}
			if !tt.files {
				if r := rewritten(before, after); len(r) > 0 {
					t.Errorf("apply rewrote %v, which it did not change", r)
				}
			}
			gens, _ := e.m.Store.Generations("web")
			if tt.unchanged {
				if len(gens) != len(gensBefore) {
					t.Errorf("an unchanged apply added a generation: %d, was %d", len(gens), len(gensBefore))
				}
				if recAfter, err := os.Stat(recordFile); err != nil || !os.SameFile(recBefore, recAfter) {
					t.Errorf("an unchanged apply saved the state record again (%v)", err)
				}
			} else if len(gens) != len(gensBefore)+1 {
				t.Errorf("%d generations after a changing apply, want %d", len(gens), len(gensBefore)+1)
			}
			wantState := map[bool]string{true: "active", false: "inactive"}[tt.running]
			if got := e.units.State[unit]; got != wantState {
				t.Errorf("apply left web %s, want %s", got, wantState)
			}
			// Whatever apply did, the same configuration plans no change.
			if _, again := e.plan(tt.next, false, false); planOf(t, again, "web").Action != ActionUnchanged {
				t.Errorf("re-plan after apply: %+v", planOf(t, again, "web"))
			}
		})
	}
}

// A new machine is started by apply only when it says autostart.
func TestApplyCreateStartsOnlyAutostart(t *testing.T) {
	for _, autostart := range []bool{false, true} {
		t.Run(fmt.Sprint("autostart=", autostart), func(t *testing.T) {
			e := newPlanEnv(t)
			_, calls := e.apply(withLine(planWeb, fmt.Sprintf("autostart = %v", autostart)), false, false)
			started := slices.Contains(calls, "start systemd-nspawn@web.service")
			if started != autostart {
				t.Errorf("unit calls %v: started = %v, want %v", calls, started, autostart)
			}
		})
	}
}

// apply --prune removes the declaratively created machines that are no
// longer declared, stopping a running one first, and nothing else: not a
// machine made by nspawnctl create, not a machine nspawnctl does not
// manage, not the declared machine.
func TestApplyPruneRemovesOnlyOwnedMachines(t *testing.T) {
	e := newPlanEnv(t)
	db := strings.ReplaceAll(strings.ReplaceAll(planWeb, "web", "db"), "8181", "8282")
	e.apply(planWeb+db, false, false)
	e.setRunning("db")

	// mesh is made imperatively; "other" is a machine nspawnctl never made.
	cli := strings.ReplaceAll(strings.ReplaceAll(planWeb, "web", "mesh"), "8181", "8383")
	if err := e.m.Create(context.Background(), resolveSource(t, cli), "mesh", CreateOptions{Ownership: state.OwnerImperative}); err != nil {
		t.Fatal(err)
	}
	other := e.m.host(render.NspawnPath("other"))
	if err := os.WriteFile(other, []byte("[Exec]\nBoot=yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshotHost(t, e.m)

	plans, calls := e.apply(planWeb, true, false)
	if p := planOf(t, plans, "db"); p.Action != ActionRemove {
		t.Fatalf("plan of db: %s, want remove", p.Action)
	}
	for _, p := range plans {
		if p.Name != "web" && p.Name != "db" {
			t.Errorf("prune planned %s for %s, which apply does not own", p.Action, p.Name)
		}
	}
	if !slices.Contains(calls, "stop systemd-nspawn@db.service") {
		t.Errorf("the running db was not stopped before its removal: %v", calls)
	}
	for _, c := range calls {
		if strings.Contains(c, "@web.") || strings.Contains(c, "@mesh.") {
			t.Errorf("prune touched a kept machine's unit: %v", calls)
		}
	}
	if rec, _ := e.m.Store.Load("db"); rec != nil {
		t.Error("db's record survived the prune")
	}
	for _, name := range []string{"web", "mesh"} {
		if rec, _ := e.m.Store.Load(name); rec == nil {
			t.Errorf("prune removed %s's record", name)
		}
	}
	after := snapshotHost(t, e.m)
	for _, d := range diffTrees(before, after) {
		if !strings.HasPrefix(d, "- ") || !strings.Contains(d, "db") {
			t.Errorf("prune changed %s; only db's files may go", d)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("prune removed the unmanaged machine's file: %v", err)
	}
	if _, ok := e.m.NAT.(fakeNATStore)["mesh"]; !ok {
		t.Error("prune deleted the NAT definition of the imperative machine")
	}
	if _, ok := e.m.NAT.(fakeNATStore)["db"]; ok {
		t.Error("prune kept db's NAT definition")
	}
}

// An apply that fails part-way through a machine (here systemd refuses the
// daemon-reload after the files are written) leaves the machine as it was:
// every file, the ones written and the ones removed as stale, its state
// record, its NAT definition and its generations.
func TestApplyFailureRestoresTheMachine(t *testing.T) {
	for _, tt := range []struct{ name, base, next string }{
		{name: "files modified", base: planWeb, next: withLine(strings.Replace(planWeb, "8181", "8282", 1), `bind = ["/srv/data"]`)},
		// Without its forward web needs no NAT: the restore unit's files
		// are stale and its NAT definition goes.
		{name: "files and NAT removed", base: planWeb, next: "machine \"web\" {\n  network {\n    mode = \"host\"\n  }\n}\n"},
		{name: "files added", base: "machine \"web\" {\n  network {\n    mode = \"host\"\n  }\n}\n", next: planWeb},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newPlanEnv(t)
			e.apply(tt.base, false, false)
			e.setRunning("web")
			before := snapshotHost(t, e.m)
			recBefore, _ := e.m.Store.Load("web")
			natBefore := maps.Clone(e.m.NAT.(fakeNATStore))
			gensBefore, _ := e.m.Store.Generations("web")

			r, plans := e.plan(tt.next, false, false)
			if p := planOf(t, plans, "web"); p.Action != ActionUpdate {
				t.Fatalf("plan: %s, want update", p.Action)
			}
			e.units.ReloadErr = errors.New("systemd is gone")
			err := e.m.Apply(context.Background(), r, plans, ApplyOptions{})
			if err == nil || !strings.Contains(err.Error(), "systemd is gone") {
				t.Fatalf("apply: %v, want the reload's failure", err)
			}
			if d := diffTrees(before, snapshotHost(t, e.m)); len(d) > 0 {
				t.Errorf("a failed apply left the files changed: %v", d)
			}
			rec, _ := e.m.Store.Load("web")
			if fmt.Sprint(rec) != fmt.Sprint(recBefore) {
				t.Errorf("a failed apply changed the record:\n%+v\nwas\n%+v", rec, recBefore)
			}
			if fmt.Sprint(e.m.NAT.(fakeNATStore)) != fmt.Sprint(natBefore) {
				t.Errorf("a failed apply changed the NAT store:\n%+v\nwas\n%+v", e.m.NAT, natBefore)
			}
			if gens, _ := e.m.Store.Generations("web"); len(gens) != len(gensBefore) {
				t.Errorf("a failed apply left %d generations, was %d", len(gens), len(gensBefore))
			}
			if slices.ContainsFunc(e.units.Calls, func(c string) bool { return strings.HasPrefix(c, "stop ") }) {
				t.Errorf("a failed apply stopped the machine: %v", e.units.Calls)
			}
			// Once systemd is back, the same apply goes through.
			e.units.ReloadErr = nil
			e.apply(tt.next, false, false)
			if _, again := e.plan(tt.next, false, false); planOf(t, again, "web").Action != ActionUnchanged {
				t.Errorf("re-plan after the retried apply: %+v", planOf(t, again, "web"))
			}
		})
	}
}
