package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/nat"
)

// rollback runs Rollback of web to generation to, returning its unit calls
// and whether it refreshed web's NAT.
func (e *planEnv) rollback(to int) ([]string, bool) {
	e.t.Helper()
	e.units.Calls, e.refreshed = nil, nil
	err := e.m.Rollback(context.Background(), "web", to, func(name string) error {
		e.refreshed = append(e.refreshed, name)
		return nil
	})
	if err != nil {
		e.t.Fatalf("rollback to %d: %v", to, err)
	}
	return e.units.Calls, slices.Contains(e.refreshed, "web")
}

// TestRollback is the table of rolling a machine back to the generation
// before a change: its files, state record and NAT definition are those of
// that generation again, a running machine gets the effect the change back
// needs (restart, NAT refresh, nothing), a stopped one only its files; a
// second rollback to the same generation and an apply of that
// generation's configuration then change nothing.
func TestRollback(t *testing.T) {
	bind := `bind = ["/srv/data"]`
	otherPort := strings.Replace(planWeb, "8181", "8282", 1)
	hostNet := "machine \"web\" {\n  network {\n    mode = \"host\"\n  }\n}\n"
	restart := []string{"daemon-reload", "stop systemd-nspawn@web.service", "start systemd-nspawn@web.service"}
	for _, tt := range []struct {
		name      string
		first     string // generation 1
		second    string // generation 2, rolled back from
		running   bool
		calls     []string // unit calls of the rollback
		refreshed bool
	}{
		{name: ".nspawn changed, running: restart", first: planWeb, second: withLine(planWeb, bind), running: true, calls: restart},
		{name: ".nspawn changed, stopped: files only", first: planWeb, second: withLine(planWeb, bind), calls: []string{"daemon-reload"}},
		{name: "forward changed, running: NAT refreshed", first: planWeb, second: otherPort, running: true,
			calls: []string{"daemon-reload"}, refreshed: true},
		{name: "forward changed, stopped: state only", first: planWeb, second: otherPort, calls: []string{"daemon-reload"}},
		{name: "NAT and its files came with the change", first: hostNet, second: planWeb, running: true, calls: restart},
		{name: "NAT and its files went with the change", first: planWeb, second: hostNet, running: true, calls: restart},
		{name: "activation reload: no restart", first: withLine(planWeb, `activation = "reload"`),
			second: withLine(withLine(planWeb, `activation = "reload"`), bind), running: true, calls: []string{"daemon-reload"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newPlanEnv(t)
			e.apply(tt.first, false, false)
			gen1 := snapshotHost(t, e.m)
			rec1, _ := e.m.Store.Load("web")
			nat1 := maps.Clone(e.m.NAT.(fakeNATStore))
			e.apply(tt.second, false, false)
			if rec, _ := e.m.Store.Load("web"); rec.Generation != 2 {
				t.Fatalf("after the second apply web is at generation %d, want 2", rec.Generation)
			}
			unit := render.UnitName("web")
			if tt.running {
				e.setRunning("web")
			} else {
				e.units.State[unit] = "inactive"
			}

			calls, refreshed := e.rollback(0)
			if !slices.Equal(calls, tt.calls) {
				t.Errorf("rollback made unit calls %q, want %q", calls, tt.calls)
			}
			if refreshed != tt.refreshed {
				t.Errorf("rollback refreshed the NAT: %v, want %v", refreshed, tt.refreshed)
			}
			if d := diffTrees(gen1, snapshotHost(t, e.m)); len(d) > 0 {
				t.Errorf("after the rollback the files differ from generation 1's: %v", d)
			}
			rec, _ := e.m.Store.Load("web")
			if rec.Generation != 1 {
				t.Errorf("after the rollback web is at generation %d, want 1", rec.Generation)
			}
			if !slices.Equal(natLines(rec), natLines(rec1)) || fmt.Sprint(rec.Artifacts) != fmt.Sprint(rec1.Artifacts) {
				t.Errorf("record after the rollback:\n%+v\ngeneration 1's:\n%+v", rec, rec1)
			}
			if fmt.Sprint(e.m.NAT.(fakeNATStore)) != fmt.Sprint(nat1) {
				t.Errorf("NAT store after the rollback:\n%v\ngeneration 1's:\n%v", e.m.NAT, nat1)
			}
			wantState := map[bool]string{true: "active", false: "inactive"}[tt.running]
			if got := e.units.State[unit]; got != wantState {
				t.Errorf("rollback left web %s, want %s", got, wantState)
			}

			// Again to the same generation: nothing to do.
			before := snapshotHost(t, e.m)
			calls, refreshed = e.rollback(1)
			if slices.ContainsFunc(calls, func(c string) bool { return c != "daemon-reload" }) || refreshed {
				t.Errorf("a second rollback to generation 1 made unit calls %v (NAT refreshed: %v)", calls, refreshed)
			}
			after := snapshotHost(t, e.m)
			if d := diffTrees(before, after); len(d) > 0 {
				t.Errorf("a second rollback changed files: %v", d)
			}
			if r := rewritten(before, after); len(r) > 0 {
				t.Errorf("a second rollback rewrote %v", r)
			}
			// Generation 1's configuration is what the host has now.
			plans, calls := e.apply(tt.first, false, false)
			if p := planOf(t, plans, "web"); p.Action != ActionUnchanged {
				t.Errorf("plan of generation 1's configuration after the rollback: %s, files %+v, nat %v", p.Action, p.Files, p.NAT)
			}
			if len(calls) > 0 {
				t.Errorf("apply of generation 1's configuration after the rollback made unit calls %v", calls)
			}
		})
	}
}

// Rollback names what is missing when there is nothing to roll back to,
// and changes nothing.
func TestRollbackRefusals(t *testing.T) {
	e := newPlanEnv(t)
	err := e.m.Rollback(context.Background(), "web", 0, nil)
	if err == nil || !strings.Contains(err.Error(), "machine web is not managed by nspawnctl") {
		t.Errorf("rollback of an unknown machine: %v", err)
	}
	e.apply(planWeb, false, false)
	before := snapshotHost(t, e.m)
	for _, tt := range []struct {
		to   int
		want string
	}{
		{0, "machine web has no generation before 1 to roll back to (see nspawnctl generations web)"},
		{7, "machine web has no generation 7 (see nspawnctl generations web)"},
	} {
		err := e.m.Rollback(context.Background(), "web", tt.to, nil)
		if err == nil || err.Error() != tt.want {
			t.Errorf("rollback --to %d: %v, want %q", tt.to, err, tt.want)
		}
	}
	if d := diffTrees(before, snapshotHost(t, e.m)); len(d) > 0 {
		t.Errorf("a refused rollback changed files: %v", d)
	}
}

// A rollback that fails part-way (here the NAT store refuses to save or to
// delete a definition) leaves the machine as it was: the files it wrote
// and the stale ones it removed, its record and its NAT definition.
func TestRollbackFailureRestoresTheMachine(t *testing.T) {
	hostNet := "machine \"web\" {\n  network {\n    mode = \"host\"\n  }\n}\n"
	for _, tt := range []struct{ name, first, second, fail string }{
		{name: "saving the NAT definition fails", first: planWeb, second: hostNet, fail: "save"},
		{name: "deleting the NAT definition fails", first: hostNet, second: planWeb, fail: "delete"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newPlanEnv(t)
			e.apply(tt.first, false, false)
			e.apply(tt.second, false, false)
			before := snapshotHost(t, e.m)
			recBefore, _ := e.m.Store.Load("web")
			store := e.m.NAT.(fakeNATStore)
			natBefore := maps.Clone(store)
			e.m.NAT = failingNATStore{store, tt.fail}

			err := e.m.Rollback(context.Background(), "web", 0, nil)
			if err == nil || !strings.Contains(err.Error(), "the NAT store refuses to "+tt.fail) {
				t.Fatalf("rollback: %v, want the NAT store's failure", err)
			}
			if d := diffTrees(before, snapshotHost(t, e.m)); len(d) > 0 {
				t.Errorf("a failed rollback left the files changed: %v", d)
			}
			if rec, _ := e.m.Store.Load("web"); fmt.Sprint(rec) != fmt.Sprint(recBefore) {
				t.Errorf("a failed rollback changed the record:\n%+v\nwas\n%+v", rec, recBefore)
			}
			if fmt.Sprint(store) != fmt.Sprint(natBefore) {
				t.Errorf("a failed rollback changed the NAT store:\n%v\nwas\n%v", store, natBefore)
			}
		})
	}
}

// failingNATStore refuses to save (fail "save") or to delete (fail "delete").
type failingNATStore struct {
	fakeNATStore
	fail string
}

func (f failingNATStore) Save(m nat.Machine) error {
	if f.fail == "save" {
		return errors.New("the NAT store refuses to save")
	}
	return f.fakeNATStore.Save(m)
}

func (f failingNATStore) Delete(name string) error {
	if f.fail == "delete" {
		return errors.New("the NAT store refuses to delete")
	}
	return f.fakeNATStore.Delete(name)
}
