package engine

import (
	"context"
	"errors"
	"net/netip"
	"sort"

	"github.com/nspawnctl/nspawnctl/internal/host"
	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/state"
)

// Status is what list and status show about a machine.
type Status struct {
	Name string `json:"name"`
	// Managed is "imperative", "declarative" or "unmanaged".
	Managed   string       `json:"managed"`
	State     string       `json:"state"` // the unit's ActiveState, or machined's state for unmanaged machines
	Running   bool         `json:"running"`
	Leader    uint32       `json:"leader,omitempty"`
	Addresses []netip.Addr `json:"addresses"`
	Mode      string       `json:"network,omitempty"`
	HostLink  string       `json:"host_link,omitempty"`
	// HostLinkAltName is the full name nspawn gives a shortened link as an altname.
	HostLinkAltName string   `json:"host_link_altname,omitempty"`
	Zone            string   `json:"zone,omitempty"`
	Bridge          string   `json:"bridge,omitempty"`
	Forwards        []string `json:"forwards"`
	Autostart       bool     `json:"autostart"`
	RootDir         string   `json:"root,omitempty"`
	Generation      int      `json:"generation,omitempty"`
	// DelegatedLink is the host link that takes a /64 of the uplink's DHCPv6
	// prefix delegation; DelegatedPrefixes are the /64s it holds now (two
	// for a moment while renumbering, none before the first lease), and
	// GlobalAddresses the machine's addresses in them.
	DelegatedLink     string         `json:"delegated_link,omitempty"`
	DelegatedPrefixes []netip.Prefix `json:"delegated_prefixes,omitempty"`
	GlobalAddresses   []netip.Addr   `json:"global_addresses,omitempty"`
	// Incomplete marks a create that did not finish (killed, or the
	// machine did not start): re-run the create, or remove the machine.
	Incomplete bool `json:"incomplete,omitempty"`
	// Traffic is what the kernel counted (status only; traffic.go).
	Traffic *Traffic `json:"traffic,omitempty"`
}

// List returns the status of every managed machine and of every machine
// machined knows that nspawnctl does not manage.
func (m *Manager) List(ctx context.Context) ([]Status, error) {
	recs, err := m.Store.List()
	if err != nil {
		return nil, err
	}
	running, err := m.Machines.List(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]host.MachineInfo{}
	for _, r := range running {
		byName[r.Name] = r
	}
	out := []Status{} // JSON [] rather than null when there are none
	for _, rec := range recs {
		info, ok := byName[rec.Name]
		delete(byName, rec.Name)
		out = append(out, m.status(ctx, rec, info, ok))
	}
	for _, info := range byName {
		out = append(out, m.status(ctx, nil, info, true))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Status returns one machine's status; host.ErrNoMachine when it is neither
// managed nor known to machined.
func (m *Manager) Status(ctx context.Context, name string) (Status, error) {
	rec, err := m.Store.Load(name)
	if err != nil {
		return Status{}, err
	}
	info, err := m.Machines.Info(ctx, name)
	running := err == nil
	if err != nil && !errors.Is(err, host.ErrNoMachine) {
		return Status{}, err
	}
	if rec == nil && !running {
		return Status{}, err
	}
	s := m.status(ctx, rec, info, running)
	if rec != nil {
		s.Traffic = m.traffic(rec.Name)
	}
	return s, nil
}

func (m *Manager) status(ctx context.Context, rec *state.Record, info host.MachineInfo, running bool) Status {
	s := Status{Name: info.Name, Managed: "unmanaged", Running: running, Leader: info.Leader, Forwards: []string{}, Addresses: []netip.Addr{}}
	if running {
		s.State = info.State
		if addrs, err := m.Machines.Addresses(ctx, info.Name); err == nil {
			s.Addresses = addrs
		}
	}
	if rec == nil {
		return s
	}
	s.Name, s.Managed = rec.Name, rec.Ownership
	s.Mode, s.HostLink, s.Zone, s.Bridge = rec.Mode, rec.HostLink, rec.Zone, rec.Bridge
	if rec.HostLink != "" {
		full := "ve-" + rec.Name
		if rec.Mode != "veth" {
			full = "vb-" + rec.Name
		}
		if full != rec.HostLink {
			s.HostLinkAltName = full
		}
	}
	s.Forwards = append(s.Forwards, rec.Forwards...)
	s.Autostart, s.RootDir, s.Generation, s.Incomplete = rec.Autostart, rec.RootDir, rec.Generation, rec.Incomplete
	if rec.DelegatedLink != "" {
		s.DelegatedLink = rec.DelegatedLink
		s.DelegatedPrefixes, s.GlobalAddresses = m.delegation(rec.DelegatedLink, s.Addresses)
	}
	if state, err := m.Units.ActiveState(ctx, render.UnitName(rec.Name)); err == nil {
		s.State = state
	}
	return s
}
