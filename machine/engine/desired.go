package engine

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/nspawnctl/nspawnctl/machine/nebula"
	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/machine/state"
)

// desiredState is everything nspawnctl makes for one machine: its own
// artefacts, its zone's or bridge's, the NAT restore unit when it has
// forwards, and its Nebula sidecar's files and units. Plan, Create and
// Apply all take it from desired, so what plan shows is what apply writes.
type desiredState struct {
	arts []render.Artifact
	// overlay is the Nebula overlay address (in the certificate), to record.
	overlay netip.Prefix
}

// desired computes a machine's desired state. It reads the host but changes
// nothing: time and randomness (certificate serials, new keys) come from
// the Manager's clock and from what an earlier apply wrote, which Nebula
// keeps while it still fits, so a re-plan right after an apply finds every
// artefact as planned. prev is the machine's record, or nil.
func (m *Manager) desired(ctx context.Context, r *resolve.Resolved, rm *resolve.ResolvedMachine, prev *state.Record) (*desiredState, error) {
	arts, err := m.machineArtifacts(ctx, r, rm)
	if err != nil {
		return nil, err
	}
	ds := &desiredState{arts: arts}
	if rm.Nebula != nil {
		nebulaArts, addr, err := m.nebulaArtifacts(ctx, r, rm, prev)
		if err != nil {
			return nil, fmt.Errorf("preparing the Nebula sidecar of %s: %w", rm.Name, err)
		}
		ds.arts, ds.overlay = append(ds.arts, nebulaArts...), addr
	}
	return ds, nil
}

// nebulaBinary returns the host's nebula and its version.
func (m *Manager) nebulaBinary(ctx context.Context) (string, nebula.Version, error) {
	if m.Nebula != nil {
		return m.Nebula(ctx)
	}
	bin, err := nebula.FindBinary()
	if err != nil {
		return "", nebula.Version{}, err
	}
	v, err := nebula.DetectVersion(ctx, bin)
	return bin, v, err
}
