package engine

import (
	"testing"

	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
)

// TestActivationEveryStrategyAndEffect: what each activation strategy makes
// of each effect a change needs. Reload never restarts, restart never
// merely reloads, none only writes files, and nothing is ever done for a
// change that needs nothing.
func TestActivationEveryStrategyAndEffect(t *testing.T) {
	want := map[resolve.Activation]map[string]string{
		resolve.ActivateAuto:    {EffectNone: EffectNone, EffectReload: EffectReload, EffectRestart: EffectRestart},
		resolve.ActivateRestart: {EffectNone: EffectNone, EffectReload: EffectRestart, EffectRestart: EffectRestart},
		resolve.ActivateReload:  {EffectNone: EffectNone, EffectReload: EffectReload, EffectRestart: EffectReload},
		resolve.ActivateNone:    {EffectNone: EffectNone, EffectReload: EffectNone, EffectRestart: EffectNone},
	}
	for strategy, effects := range want {
		for effect, act := range effects {
			if got := activation(strategy, effect); got != act {
				t.Errorf("activation(%s, %s) = %s, want %s", strategy, effect, got, act)
			}
		}
	}
	for _, a := range []string{EffectNone, EffectReload, EffectRestart} {
		for _, b := range []string{EffectNone, EffectReload, EffectRestart} {
			got, rank := strongest(a, b), map[string]int{EffectNone: 0, EffectReload: 1, EffectRestart: 2}
			if rank[got] < rank[a] || rank[got] < rank[b] || (got != a && got != b) {
				t.Errorf("strongest(%s, %s) = %s", a, b, got)
			}
		}
	}
}

// TestEffectOfEachArtefact: which effect a change of each kind of artefact
// needs. networkd files are reloaded, the autostart link needs nothing, the
// drop-in needs a restart unless only its NAT hook lines changed, and
// everything else (the .nspawn file) needs a restart.
func TestEffectOfEachArtefact(t *testing.T) {
	dropIn := render.DropInPath(render.SystemDir, "web")
	for _, tt := range []struct {
		path, diff, want string
	}{
		{path: render.NetworkDir + "/20-ve-web.network", want: EffectReload},
		{path: render.SystemDir + "/machines.target.wants/" + render.UnitName("web"), want: EffectNone},
		{path: render.NspawnPath("web"), want: EffectRestart},
		{path: dropIn, diff: "- ExecStartPost=/bin/nspawnctl nat up web\n+ ExecStartPost=/usr/bin/nspawnctl nat up web", want: EffectReload},
		{path: dropIn, diff: "  [Service]\n- MemoryMax=1G\n+ MemoryMax=2G", want: EffectRestart},
	} {
		got := effectOf(render.Artifact{Path: tt.path}, FileChange{Kind: "modify", Diff: tt.diff})
		if got != tt.want {
			t.Errorf("effect of changing %s (%q) = %s, want %s", tt.path, tt.diff, got, tt.want)
		}
	}
}
