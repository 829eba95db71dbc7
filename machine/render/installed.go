package render

import (
	"fmt"
	"path"

	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/nat"
	"github.com/nspawnctl/nspawnctl/networkd"
	"github.com/nspawnctl/nspawnctl/networkd/renumber"
)

// MachineArtifacts is everything create and apply install for machine m
// apart from its Nebula sidecar: its own artefacts (RenderMachine), its
// zone's or bridge's (shared with the other members), the NAT restore unit
// when it needs io.systemd.nat, the renumbering unit when its link takes a
// delegated prefix, and the networkd.conf forwarding drop-ins systemd 256
// and later need (opts.SystemdVersion). Shared artefacts are recorded by
// every machine that needs them and go with the last of them.
func MachineArtifacts(r *resolve.Resolved, m *resolve.ResolvedMachine, opts RenderOptions) ([]Artifact, error) {
	if opts.Binary == "" {
		opts.Binary = DefaultBinary
	}
	owner := "machine/" + m.Name
	arts, err := RenderMachine(r, m, opts)
	if err != nil {
		return nil, err
	}
	for _, z := range r.Zones {
		if z.Name == m.Zone {
			a, err := RenderZone(z)
			if err != nil {
				return nil, err
			}
			arts = append(arts, a)
		}
	}
	for _, b := range r.Bridges {
		if b.Name == m.Bridge {
			as, err := RenderBridge(b)
			if err != nil {
				return nil, err
			}
			arts = append(arts, as...)
		}
	}
	if NeedsNAT(NATMachine(r, m)) {
		restore, err := natRestoreArtifacts(r.UnitDir, opts.Binary, owner)
		if err != nil {
			return nil, err
		}
		arts = append(arts, restore...)
	}
	if DelegatedLink(r, m) != "" {
		unit, err := renumber.Unit(opts.Binary)
		if err != nil {
			return nil, fmt.Errorf("rendering %s: %w", renumber.UnitTemplate, err)
		}
		arts = append(arts, Artifact{Path: path.Join(r.UnitDir, renumber.UnitTemplate), Content: unit, Mode: 0o644, Owner: owner})
	}
	if opts.SystemdVersion >= networkd.GlobalForwardingSince {
		for _, f := range ForwardingFamilies(r, m) {
			b, err := networkd.RenderForwardingDropIn(f)
			if err != nil {
				return nil, err
			}
			arts = append(arts, Artifact{Path: networkd.ForwardingDropInPath(f), Content: b, Mode: 0o644, Owner: owner})
		}
	}
	return arts, nil
}

// natRestoreArtifacts installs and enables nspawnctl-nat-restore.service,
// which brings the forwards and outbound NAT back after nftables.service
// flushed the ruleset.
func natRestoreArtifacts(unitDir, binary, owner string) ([]Artifact, error) {
	unit := path.Join(unitDir, nat.RestoreUnitName)
	content, err := nat.RestoreUnit(binary)
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", nat.RestoreUnitName, err)
	}
	return []Artifact{
		{Path: unit, Content: content, Mode: 0o644, Owner: owner},
		{Path: path.Join(unitDir, "nftables.service.wants", nat.RestoreUnitName), Symlink: unit, Owner: owner},
		{Path: path.Join(unitDir, "multi-user.target.wants", nat.RestoreUnitName), Symlink: unit, Owner: owner},
	}, nil
}

// ForwardingFamilies are the families whose global forwarding machine m's
// host-side link needs although its masquerade does not turn it on: what
// IPForward=yes in its (or its zone's or bridge's) .network file means on
// systemd 252 (networkd.ForwardingFamilies).
func ForwardingFamilies(r *resolve.Resolved, m *resolve.ResolvedMachine) []string {
	switch {
	case m.Zone != "":
		for _, z := range r.Zones {
			if z.Name == m.Zone {
				return networkd.ForwardingFamilies(z.Masquerade)
			}
		}
	case m.Bridge != "":
		for _, b := range r.Bridges {
			// Only a bridge with an address is its members' gateway.
			if b.Name == m.Bridge && len(b.Addrs) > 0 {
				return networkd.ForwardingFamilies(b.Masquerade)
			}
		}
	case m.Mode == networkd.ModeVeth:
		return networkd.ForwardingFamilies(m.HostSide.Masquerade)
	}
	return nil
}
