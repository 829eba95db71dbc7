package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nspawnctl/nspawnctl/internal/atomicfile"
	"github.com/nspawnctl/nspawnctl/internal/filelock"
)

// Ownership says which path of nspawnctl manages a machine. Neither path
// changes the other's machines without --force.
const (
	OwnerImperative  = "imperative"  // made by nspawnctl create
	OwnerDeclarative = "declarative" // made by nspawnctl apply
)

// Record is what nspawnctl remembers about a machine it manages: exactly
// what it made, so that remove deletes that and nothing else.
type Record struct {
	Name      string    `json:"name"`
	Ownership string    `json:"ownership"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
	// ConfigFiles are the configuration files the machine was created from.
	ConfigFiles []string `json:"config_files,omitempty"`
	// Artifacts are the files and links nspawnctl wrote for the machine.
	Artifacts []ArtifactRecord `json:"artifacts"`
	// Allocations are the subnets allocated to the machine, by allocation key.
	Allocations map[string]netip.Prefix `json:"allocations,omitempty"`
	// RootDir is the machine's root; RootCreated says nspawnctl made it
	// (imported or bootstrapped), so remove may delete it.
	RootDir     string `json:"root_dir"`
	RootCreated bool   `json:"root_created,omitempty"`
	// HostLink, Zone, Bridge and Mode describe the network, for list and status.
	Mode     string `json:"mode"`
	HostLink string `json:"host_link,omitempty"`
	Zone     string `json:"zone,omitempty"`
	Bridge   string `json:"bridge,omitempty"`
	// DelegatedLink is the host-side link (ve-NAME or vz-ZONE) that takes a
	// /64 of an uplink's DHCPv6 prefix delegation, for status.
	DelegatedLink string `json:"delegated_link,omitempty"`
	// Forwards are the machine's forwards, as nat shows them ("tcp *:8181 -> 10.0.0.2:80").
	Forwards []string `json:"forwards,omitempty"`
	// Masquerade lists the machine's outbound NAT as plan shows it
	// ("outbound NAT of 10.0.0.0/28 via ve-web", see natLines).
	Masquerade []string `json:"masquerade,omitempty"`
	// Exposure describes the machine's protections (ExposureLines), so
	// that plan shows, and apply makes, a change of direct_routing or isolated.
	Exposure  []string `json:"exposure,omitempty"`
	Autostart bool     `json:"autostart,omitempty"`
	// Activation is the machine's activation strategy (auto, restart, reload, none).
	Activation string `json:"activation,omitempty"`
	// Sidecar says the machine has a Nebula sidecar, whose start Start waits for.
	Sidecar bool `json:"sidecar,omitempty"`
	// Generation counts applied configurations (see generations).
	Generation int `json:"generation"`
	// Incomplete marks a create that has not finished (it was killed, or
	// the machine did not start): the record lists everything the create
	// may have made, so the next create finishes it and remove deletes it.
	Incomplete bool `json:"incomplete,omitempty"`
}

// CopyArtifacts returns a copy of the record's artefacts; a nil record has none.
func (r *Record) CopyArtifacts() []ArtifactRecord {
	if r == nil {
		return nil
	}
	return append([]ArtifactRecord(nil), r.Artifacts...)
}

// Has reports whether the record lists an artefact at path; a nil record has none.
func (r *Record) Has(path string) bool {
	if r == nil {
		return false
	}
	for _, a := range r.Artifacts {
		if a.Path == path {
			return true
		}
	}
	return false
}

// ArtifactRecord is one file or link nspawnctl wrote.
type ArtifactRecord struct {
	Path    string `json:"path"`
	Symlink string `json:"symlink,omitempty"`
	InRoot  bool   `json:"in_root,omitempty"`
}

// Store keeps records under DIR/machines/NAME.json. Every change happens
// under the lock DIR/lock, which also serialises address allocation.
type Store struct {
	Dir string
}

func (s *Store) machinesDir() string { return filepath.Join(s.Dir, "machines") }

func (s *Store) path(name string) string { return filepath.Join(s.machinesDir(), name+".json") }

// Lock takes the state lock, waiting up to timeout for another nspawnctl to
// release it. The returned function releases it.
func (s *Store) Lock(timeout time.Duration) (unlock func(), err error) {
	return filelock.Acquire(filepath.Join(s.Dir, "lock"), timeout)
}

// Load returns the record of machine name, or (nil, nil) if there is none.
func (s *Store) Load(name string) (*Record, error) {
	b, err := os.ReadFile(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state of machine %s: %w", name, err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("state file %s is corrupt (%v); move it away and re-create the machine", s.path(name), err)
	}
	return &r, nil
}

// Save writes rec atomically. The caller holds the state lock, so a
// temporary file next to the record is a killed writer's, and goes.
func (s *Store) Save(rec *Record) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.RemoveLeftovers(s.path(rec.Name)); err != nil {
		return err
	}
	_, err = atomicfile.Write(s.path(rec.Name), append(b, '\n'), 0o644)
	return err
}

// Delete removes the record of machine name; a missing record is no error.
func (s *Store) Delete(name string) error {
	if err := os.Remove(s.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing state of machine %s: %w", name, err)
	}
	return atomicfile.RemoveLeftovers(s.path(name))
}

// List returns every record, sorted by name.
func (s *Store) List() ([]*Record, error) {
	entries, err := os.ReadDir(s.machinesDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing state directory %s: %w", s.machinesDir(), err)
	}
	var out []*Record
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		r, err := s.Load(name)
		if err != nil {
			return nil, err
		}
		if r != nil {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Allocations returns every recorded allocation except those of the
// machines in skip: Pinned for machines being (re)created, Taken for others.
// A zone's subnets (keys "zone/NAME/...", recorded by each member) are always
// pinned: they belong to the zone, not to the member that recorded them, and
// the next member must join the zone where it is, not move it.
func Allocations(recs []*Record, skip map[string]bool) (pinned map[string]netip.Prefix, taken []netip.Prefix) {
	pinned = map[string]netip.Prefix{}
	for _, r := range recs {
		for k, p := range r.Allocations {
			if skip[r.Name] || strings.HasPrefix(k, "zone/") {
				pinned[k] = p
			} else {
				taken = append(taken, p)
			}
		}
	}
	return pinned, taken
}
