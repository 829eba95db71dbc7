// Package config is the HCL schema of a machine configuration and its
// parser: files are decoded into File, merged into Config, with HCL
// diagnostics (file:line:col) for syntax and type errors. Semantic checks,
// defaults and address allocation are machine/resolve's.
package config

import (
	"github.com/hashicorp/hcl/v2"
)

// File is the schema of one configuration file. A configuration is one or
// more files merged: machines, zones and bridges from all of them, and at most
// one defaults block.
type File struct {
	Defaults *Defaults `hcl:"defaults,block"`
	Machines []Machine `hcl:"machine,block"`
	Zones    []Zone    `hcl:"zone,block"`
	Bridges  []Bridge  `hcl:"bridge,block"`
}

// Defaults is the global `defaults` block.
type Defaults struct {
	// StateDir is where nspawnctl keeps allocations and ownership (default /var/lib/nspawnctl).
	StateDir string `hcl:"state_dir,optional"`
	// MachinesDir is where machine roots live (default /var/lib/machines).
	MachinesDir string `hcl:"machines_dir,optional"`
	// UnitDir is where unit drop-ins and autostart links are written (default
	// /etc/systemd/system; /run/systemd/system where /etc is read-only, as on NixOS).
	UnitDir string `hcl:"unit_dir,optional"`
	// IPv4Pool is the pool per-machine /28s come from.
	IPv4Pool string `hcl:"ipv4_pool,optional"`
	// ZoneIPv4Pool is the pool per-zone /24s come from.
	ZoneIPv4Pool string `hcl:"zone_ipv4_pool,optional"`
	// ULAPrefix overrides the ULA /48 derived from the host's machine-id.
	ULAPrefix string `hcl:"ula_prefix,optional"`
	// NebulaPool is the default overlay pool for nebula blocks that sign certificates.
	NebulaPool string `hcl:"nebula_pool,optional"`

	Body     hcl.Body  `hcl:",body"`
	DefRange hcl.Range `hcl:",def_range"`
}

// Machine is a `machine "NAME"` block: one container.
type Machine struct {
	Name string `hcl:"name,label"`

	// Root says where the root file system comes from.
	Root *Root `hcl:"root,block"`

	// Boot runs an init system in the container (default true; false for a NixOS system, which boots through Parameters).
	Boot *bool `hcl:"boot,optional"`
	// Command is the command line to run (Boot=false) or the init's arguments (Boot=true).
	Command []string `hcl:"command,optional"`
	// Ephemeral runs the machine on a throw-away snapshot of its root.
	Ephemeral bool `hcl:"ephemeral,optional"`
	// PrivateUsers is nspawn's PrivateUsers= (no, yes, pick, identity, or a UID base). Default no.
	PrivateUsers string `hcl:"private_users,optional"`
	// Bind and BindReadOnly are bind mounts "host:container[:options]" (a single path binds to the same path).
	Bind         []string `hcl:"bind,optional"`
	BindReadOnly []string `hcl:"bind_ro,optional"`
	// TemporaryFileSystems are tmpfs mounts "PATH[:OPTIONS]" in the container.
	TemporaryFileSystems []string `hcl:"tmpfs,optional"`
	// Environment is set for the container's init or command.
	Environment map[string]string `hcl:"environment,optional"`
	// Capabilities are added to and DropCapabilities removed from the container's bounding set.
	Capabilities     []string `hcl:"capabilities,optional"`
	DropCapabilities []string `hcl:"drop_capabilities,optional"`
	// SystemCallFilter is nspawn's SystemCallFilter= (space-separated groups or calls).
	SystemCallFilter []string `hcl:"system_call_filter,optional"`
	// Limits are resource limits applied to the container's unit.
	Limits *Limits `hcl:"limits,block"`
	// Autostart starts the machine at boot (machines.target).
	Autostart bool `hcl:"autostart,optional"`
	// TimeoutStart and TimeoutStop are systemd time spans (e.g. "90s", "2min").
	TimeoutStart string `hcl:"timeout_start,optional"`
	TimeoutStop  string `hcl:"timeout_stop,optional"`
	// Activation is how an apply takes effect on a running machine: auto, restart, reload or none.
	Activation string `hcl:"activation,optional"`

	Network  *Network      `hcl:"network,block"`
	Forwards []ForwardPort `hcl:"forward_port,block"`
	Nebula   *Nebula       `hcl:"nebula,block"`

	Body       hcl.Body  `hcl:",body"`
	DefRange   hcl.Range `hcl:",def_range"`
	LabelRange hcl.Range `hcl:"name,label_range"`
}

// Root is a machine's `root` block. Exactly one source is set.
type Root struct {
	// Directory is an existing directory (default /var/lib/machines/NAME).
	Directory string `hcl:"directory,optional"`
	// Image is an existing disk image (.raw) under /var/lib/machines.
	Image string `hcl:"image,optional"`
	// Tarball is a .tar[.gz|.xz|.zst] imported into /var/lib/machines/NAME on create.
	Tarball string `hcl:"tarball,optional"`
	// Bootstrap builds a Debian-family root with mmdebstrap on create.
	Bootstrap *Bootstrap `hcl:"bootstrap,block"`
	// NixOSSystem is a NixOS system closure (/nix/store/...); the machine boots its init with /nix/store read-only.
	NixOSSystem string `hcl:"nixos_system,optional"`

	Body     hcl.Body  `hcl:",body"`
	DefRange hcl.Range `hcl:",def_range"`
}

// Bootstrap is a `bootstrap` block: an mmdebstrap run.
type Bootstrap struct {
	// Suite is the distribution release (default bookworm).
	Suite string `hcl:"suite,optional"`
	// Mirror is the archive URL (default: mmdebstrap's, i.e. the host's apt sources).
	Mirror string `hcl:"mirror,optional"`
	// Variant is mmdebstrap's variant (default minbase).
	Variant string `hcl:"variant,optional"`
	// Packages are installed in addition to systemd, dbus and the variant's set.
	Packages []string `hcl:"packages,optional"`

	Body     hcl.Body  `hcl:",body"`
	DefRange hcl.Range `hcl:",def_range"`
}

// Limits is a machine's `limits` block, rendered into its unit drop-in.
type Limits struct {
	MemoryMax string `hcl:"memory_max,optional"` // e.g. "2G"
	CPUQuota  string `hcl:"cpu_quota,optional"`  // e.g. "150%"
	TasksMax  *int   `hcl:"tasks_max,optional"`
	NoFile    *int   `hcl:"nofile,optional"` // RLIMIT_NOFILE for the container's processes

	Body     hcl.Body  `hcl:",body"`
	DefRange hcl.Range `hcl:",def_range"`
}

// ForwardPort is a `forward_port` block (forwardPorts in NixOS).
type ForwardPort struct {
	// Protocol is tcp (default) or udp.
	Protocol string `hcl:"protocol,optional"`
	// HostPort is a port ("8080") or range ("8000-8010") on the host.
	HostPort string `hcl:"host_port"`
	// ContainerPort is a port or range of the same length (default: HostPort).
	ContainerPort string `hcl:"container_port,optional"`
	// HostAddress binds the forward to one host address (IPv4 or IPv6); empty: every local address.
	HostAddress string `hcl:"host_address,optional"`
	// AllowFrom restricts the forward to these source prefixes.
	AllowFrom []string `hcl:"allow_from,optional"`

	Body     hcl.Body  `hcl:",body"`
	DefRange hcl.Range `hcl:",def_range"`
}
