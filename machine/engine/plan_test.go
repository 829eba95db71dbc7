package engine

import (
	"context"
	"crypto/rand"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/internal/host/hostfake"

	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/nebula"
	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/machine/state"
)

// planEnv is a Manager on a temporary root with fakes, where every machine's
// directory root exists, a fake nebula 1.6.1 is "installed" and a Nebula CA
// is in place for configurations that sign certificates.
type planEnv struct {
	t     *testing.T
	m     *Manager
	units *hostfake.Units
	// refreshed lists the machines whose forwards Apply refreshed.
	refreshed []string
}

func newPlanEnv(t *testing.T) *planEnv {
	t.Helper()
	m, units, _ := testManager(t)
	m.Now = func() time.Time { return time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) }
	m.Nebula = func(context.Context) (string, nebula.Version, error) {
		return "/usr/bin/nebula", nebula.Version{Major: 1, Minor: 6, Patch: 1}, nil
	}
	for _, name := range []string{"web", "db", "mesh"} {
		if err := os.MkdirAll(m.host("/var/lib/machines/"+name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	crt, key, err := nebula.NewCA("corp", 365*24*time.Hour, []netip.Prefix{netip.MustParsePrefix("10.42.0.0/16")}, nil, nil, m.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range map[string][]byte{"/etc/nebula-ca/ca.crt": crt, "/etc/nebula-ca/ca.key": key} {
		if err := os.MkdirAll(filepath.Dir(m.host(p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(m.host(p), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &planEnv{t: t, m: m, units: units}
}

// plan resolves src against the env's state and plans it.
func (e *planEnv) plan(src string, prune, force bool) (*resolve.Resolved, []*MachinePlan) {
	e.t.Helper()
	p := config.NewParser()
	f, diags := p.ParseSource("test.hcl", []byte(src))
	if f == nil {
		e.t.Fatalf("parse: %v", diags)
	}
	cfg := &config.Config{Files: []string{"test.hcl"}}
	cfg.Merge(f, &diags)
	r, vd, err := e.m.Resolve(cfg)
	if err != nil || diags.HasErrors() || vd.HasErrors() {
		e.t.Fatalf("resolve: %v %v %v", err, diags, vd)
	}
	plans, err := e.m.Plan(context.Background(), r, prune, force)
	if err != nil {
		e.t.Fatalf("plan: %v", err)
	}
	return r, plans
}

// apply plans src and applies it, returning the plans and the unit calls
// apply made.
func (e *planEnv) apply(src string, prune, force bool) ([]*MachinePlan, []string) {
	e.t.Helper()
	r, plans := e.plan(src, prune, force)
	e.units.Calls = nil
	err := e.m.Apply(context.Background(), r, plans, ApplyOptions{RefreshNAT: func(name string) error {
		e.refreshed = append(e.refreshed, name)
		return nil
	}})
	if err != nil {
		e.t.Fatalf("apply: %v", err)
	}
	return plans, e.units.Calls
}

// setRunning marks a machine (and a sidecar it may have, which Start waits
// for) as running.
func (e *planEnv) setRunning(name string) {
	e.units.State[render.UnitName(name)] = "active"
	e.units.State[nebula.SidecarInstance(name)] = "active"
}

func planOf(t *testing.T, plans []*MachinePlan, name string) *MachinePlan {
	t.Helper()
	for _, p := range plans {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no plan for %s in %v", name, plans)
	return nil
}

const planWeb = `machine "web" {
  forward_port {
    host_port      = 8181
    container_port = 80
  }
}
`

const planMesh = `machine "mesh" {
  nebula {
    network = "corp"
    ca      = "/etc/nebula-ca/ca.crt"
    ca_key  = "/etc/nebula-ca/ca.key"
    address = "10.42.0.7/16"
    groups  = ["app"]
    outbound {
      host = "any"
    }
  }
}
`

// TestPlanEffects is the table of what a change needs on a running machine
// and what apply then does: after a first apply of base, the next config is
// planned (checked against the wanted action, effect and activation) and
// applied to the running machine (checked against the unit calls made).
func TestPlanEffects(t *testing.T) {
	for _, tt := range []struct {
		name, base, next    string
		action, effect, act string
		calls               []string // unit calls of the second apply, daemon-reload left out
		refreshNAT          bool
		files               []string // substrings of changed paths that must be listed
	}{
		{name: "unchanged", base: planWeb, next: planWeb, action: ActionUnchanged, effect: EffectNone, act: EffectNone},
		{name: "unchanged with a Nebula sidecar", base: planMesh, next: planMesh, action: ActionUnchanged, effect: EffectNone, act: EffectNone},
		{name: "forward changed: reload, NAT refreshed", base: planWeb, next: strings.Replace(planWeb, "8181", "8282", 1),
			action: ActionUpdate, effect: EffectReload, act: EffectReload, refreshNAT: true},
		{name: ".nspawn changed: restart", base: planWeb, next: strings.Replace(planWeb, "machine \"web\" {", "machine \"web\" {\n  bind = [\"/srv/data\"]", 1),
			action: ActionUpdate, effect: EffectRestart, act: EffectRestart, calls: []string{"stop systemd-nspawn@web.service", "start systemd-nspawn@web.service"},
			files: []string{"web.nspawn"}},
		{name: "restart needed, activation reload: no restart", base: planWeb,
			next:   strings.Replace(planWeb, "machine \"web\" {", "machine \"web\" {\n  activation = \"reload\"\n  bind = [\"/srv/data\"]", 1),
			action: ActionUpdate, effect: EffectRestart, act: EffectReload},
		{name: "Nebula groups changed: new certificate, restart", base: planMesh, next: strings.Replace(planMesh, `["app"]`, `["app", "db"]`, 1),
			action: ActionUpdate, effect: EffectRestart, act: EffectRestart, calls: []string{"stop systemd-nspawn@web.service", "start systemd-nspawn@web.service"},
			files: []string{"/etc/nspawnctl/nebula/mesh/host.crt"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newPlanEnv(t)
			first, _ := e.apply(tt.base, false, false)
			name := first[0].Name
			if first[0].Action != ActionCreate {
				t.Fatalf("first plan of %s: %s, want create", name, first[0].Action)
			}
			e.setRunning(name)
			plans, calls := e.apply(tt.next, false, false)
			p := planOf(t, plans, name)
			if p.Action != tt.action || p.Effect != tt.effect || p.Activation != tt.act {
				t.Fatalf("plan of %s = %s/%s/%s, want %s/%s/%s; files %+v nat %v", name, p.Action, p.Effect, p.Activation, tt.action, tt.effect, tt.act, p.Files, p.NAT)
			}
			if tt.action == ActionUnchanged && (len(p.Files) > 0 || len(p.NAT) > 0) {
				t.Errorf("unchanged plan lists changes: %+v %v", p.Files, p.NAT)
			}
			for _, want := range tt.files {
				if !slices.ContainsFunc(p.Files, func(f FileChange) bool { return strings.Contains(f.Path, want) }) {
					t.Errorf("plan does not list %s: %+v", want, p.Files)
				}
			}
			calls = slices.DeleteFunc(calls, func(c string) bool { return c == "daemon-reload" })
			want := slices.Clone(tt.calls)
			for i := range want {
				want[i] = strings.ReplaceAll(want[i], "@web.", "@"+name+".")
			}
			if !slices.Equal(calls, want) {
				t.Errorf("apply made unit calls %v, want %v", calls, want)
			}
			if got := slices.Contains(e.refreshed, name); got != tt.refreshNAT {
				t.Errorf("NAT refreshed = %v, want %v", got, tt.refreshNAT)
			}
			if e.units.State[render.UnitName(name)] != "active" {
				t.Errorf("apply left %s %s", name, e.units.State[render.UnitName(name)])
			}
			// Whatever apply did, planning the same config again shows nothing.
			_, again := e.plan(tt.next, false, false)
			if q := planOf(t, again, name); q.Action != ActionUnchanged {
				t.Errorf("re-plan after apply: %s, files %+v nat %v", q.Action, q.Files, q.NAT)
			}
		})
	}
}

// TestPlanNebulaKeepsKeyAndSecretsOutOfPlans: the sidecar's key and
// certificate are part of the plan (created once, then kept), and the
// content of files only root may read never appears in a plan.
func TestPlanNebulaKeepsKeyAndSecretsOutOfPlans(t *testing.T) {
	e := newPlanEnv(t)
	_, plans := e.plan(planMesh, false, false)
	p := planOf(t, plans, "mesh")
	var paths []string
	for _, f := range p.Files {
		paths = append(paths, f.Path)
		if strings.Contains(f.Diff, "PRIVATE KEY") {
			t.Errorf("plan shows the content of %s", f.Path)
		}
	}
	for _, want := range []string{nebula.ConfigPath("mesh"), nebula.KeyPath("mesh"), nebula.CertPath("mesh"), nebula.SidecarDropInPath(render.SystemDir, "mesh")} {
		if !slices.Contains(paths, want) {
			t.Errorf("create plan of a Nebula machine lacks %s: %v", want, paths)
		}
	}
	e.apply(planMesh, false, false)
	key, err := os.ReadFile(e.m.host(nebula.KeyPath("mesh")))
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(e.m.host(nebula.Dir("mesh")))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("key directory: %v, mode %v; want 0700", err, st.Mode().Perm())
	}
	e.apply(strings.Replace(planMesh, `["app"]`, `["app", "db"]`, 1), false, false)
	if again, _ := os.ReadFile(e.m.host(nebula.KeyPath("mesh"))); string(again) != string(key) {
		t.Error("re-signing replaced the sidecar's key; it must be kept across renewals")
	}
}

// TestPlanPruneAndOwnership: an undeclared machine is kept without --prune
// and removed with it; a machine made by create is left alone without
// --force and taken over with it, even when nothing else changes.
func TestPlanPruneAndOwnership(t *testing.T) {
	e := newPlanEnv(t)
	both := planWeb + strings.ReplaceAll(strings.ReplaceAll(planWeb, "web", "db"), "8181", "8282")
	e.apply(both, false, false)

	_, plans := e.plan(planWeb, false, false)
	if p := planOf(t, plans, "db"); p.Action != ActionKeep || len(p.Files) > 0 {
		t.Errorf("undeclared without prune: %s, files %v; want keep, none", p.Action, p.Files)
	}
	plans, _ = e.apply(planWeb, true, false)
	p := planOf(t, plans, "db")
	if p.Action != ActionRemove || !slices.ContainsFunc(p.Files, func(f FileChange) bool { return f.Path == render.NspawnPath("db") && f.Kind == "delete" }) {
		t.Errorf("undeclared with prune: %s, files %v; want remove of db.nspawn", p.Action, p.Files)
	}
	if slices.ContainsFunc(p.Files, func(f FileChange) bool { return strings.Contains(f.Path, "nat-restore") }) {
		t.Errorf("prune plan deletes the NAT restore unit web still uses: %v", p.Files)
	}
	if rec, _ := e.m.Store.Load("db"); rec != nil {
		t.Error("apply --prune left db's record")
	}
	if _, err := os.Lstat(e.m.host(render.NspawnPath("db"))); err == nil {
		t.Error("apply --prune left db.nspawn")
	}

	// web made imperatively: apply leaves it alone unless forced.
	rec, _ := e.m.Store.Load("web")
	rec.Ownership = state.OwnerImperative
	if err := e.m.Store.Save(rec); err != nil {
		t.Fatal(err)
	}
	_, plans = e.plan(planWeb, false, false)
	if p := planOf(t, plans, "web"); p.Action != ActionKeep || p.Ownership != state.OwnerImperative || !strings.Contains(p.Reason, "--force") {
		t.Errorf("imperative machine without force: %+v", p)
	}
	plans, _ = e.apply(planWeb, false, true)
	if p := planOf(t, plans, "web"); p.Action != ActionUpdate || p.Effect != EffectNone {
		t.Errorf("forced takeover: %s/%s, want update/none", p.Action, p.Effect)
	}
	if rec, _ := e.m.Store.Load("web"); rec.Ownership != state.OwnerDeclarative {
		t.Errorf("after forced apply web is %s, want declarative", rec.Ownership)
	}
}
