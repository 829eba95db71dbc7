package resolve

import (
	"cmp"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/nspawnctl/nspawnctl/internal/diag"
	"github.com/nspawnctl/nspawnctl/internal/unitfile"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// Default values of the defaults block.
const (
	DefaultStateDir    = "/var/lib/nspawnctl"
	DefaultMachinesDir = "/var/lib/machines"
)

// HostFacts are the facts about the host that resolution depends on. They are
// passed in so that Validate stays a pure function.
type HostFacts struct {
	// MachineID is the host's /etc/machine-id; the ULA /48 is derived from it.
	MachineID [16]byte
	// Taken are prefixes the allocator must avoid: addresses on the host's
	// links and allocations of machines that are not in this configuration.
	Taken []netip.Prefix
	// Pinned are earlier allocations by key ("machine/NAME/ipv4", "zone/NAME/ipv6", ...),
	// reused so that a machine keeps its addresses across runs.
	Pinned map[string]netip.Prefix
}

// validator accumulates diagnostics while it resolves a configuration.
type validator struct {
	cfg   *config.Config
	host  HostFacts
	diags hcl.Diagnostics
	out   *Resolved
	// used lists explicitly configured prefixes with where they were written, for overlap checks.
	used []usedPrefix
	// pools are the used-sets of the pools allocated from so far.
	pools map[poolKey]*poolSet
	// containerUsed is every container address so far (see containerAddrs).
	containerUsed map[netip.Addr]bool
	// specs and zoneSpecs are the configuration blocks behind each machine
	// and zone, index for index with out.Machines and out.Zones until
	// Validate sorts those; the later passes (allocation, forwards,
	// collisions) read them for settings and diagnostic ranges, which the
	// resolved model does not carry.
	specs     []machineSpec
	zoneSpecs []*config.Zone
	// forwardBlocks maps each machine's resolved forwards to the index of
	// the forward_port block each came from.
	forwardBlocks map[*ResolvedMachine][]int
	// zonesByName and bridgesByName index the declared zones and bridges
	// (built on first use, after zones() and bridges()).
	zonesByName   map[string]*ResolvedZone
	bridgesByName map[string]*ResolvedBridge
}

// machineSpec is a machine's configuration as validation sees it.
type machineSpec struct {
	cfg *config.Machine
	// forwards are the machine's forward_port blocks and those nspawnctl
	// adds (nebulaForwards), clipped so that an added one goes into a new
	// array and validating leaves the configuration as it was decoded.
	forwards []config.ForwardPort
}

// poolKey names one pool and the size of the subnets taken from it.
type poolKey struct {
	pool netip.Prefix
	bits int
}

// poolSet is a pool's used-set and how many entries of validator.used it
// holds already.
type poolSet struct {
	set  *networkd.UsedSet
	seen int
}

type usedPrefix struct {
	p     netip.Prefix
	owner string
	// segment names the link the prefix is on ("machine NAME" for both ends
	// of a veth link, "zone NAME", "bridge NAME", "lan IFACE"): prefixes on
	// one segment are meant to share a subnet; empty means owner.
	segment string
	// addr is the configured interface address, for duplicate checks within a segment.
	addr netip.Addr
	rng  *hcl.Range
}

func (u usedPrefix) seg() string {
	if u.segment != "" {
		return u.segment
	}
	return u.owner
}

func (v *validator) errf(r *hcl.Range, summary, detail string, args ...any) {
	v.diags = append(v.diags, diag.Errorf(r, summary, detail, args...))
}

func (v *validator) warnf(r *hcl.Range, summary, detail string, args ...any) {
	v.diags = append(v.diags, diag.Warnf(r, summary, detail, args...))
}

// Validate checks a decoded configuration and resolves it: defaults filled
// in, interface names computed, addresses allocated, forwards typed. When the
// diagnostics contain an error the result is nil: nothing may be rendered
// from a configuration with errors.
func Validate(cfg *config.Config, host HostFacts) (*Resolved, hcl.Diagnostics) {
	v := &validator{cfg: cfg, host: host, out: &Resolved{}}
	// Most machines take an IPv4 and an IPv6 subnet; sizing the list once
	// keeps appends from copying it over and over for large configurations.
	v.used = make([]usedPrefix, 0, 2*len(cfg.Machines)+2*len(cfg.Zones))
	v.specs = make([]machineSpec, 0, len(cfg.Machines))
	v.zoneSpecs = make([]*config.Zone, 0, len(cfg.Zones))
	v.defaults()
	v.names()
	if v.diags.HasErrors() {
		// Without unique, valid names the cross-references below would only repeat errors.
		diag.Sort(v.diags)
		return nil, v.diags
	}
	v.bridges()
	v.zones()
	for _, m := range cfg.Machines {
		v.machine(m)
	}
	v.overlaps()
	v.allocate()
	v.nebulaForwards()
	v.forwards()
	v.portCollisions()
	diag.Sort(v.diags)
	if v.diags.HasErrors() {
		return nil, v.diags
	}
	v.containerDHCP()
	for _, z := range v.out.Zones {
		sort.Strings(z.Members)
	}
	for _, b := range v.out.Bridges {
		sort.Strings(b.Members)
	}
	sort.Slice(v.out.Machines, func(i, j int) bool { return v.out.Machines[i].Name < v.out.Machines[j].Name })
	sort.Slice(v.out.Zones, func(i, j int) bool { return v.out.Zones[i].Name < v.out.Zones[j].Name })
	sort.Slice(v.out.Bridges, func(i, j int) bool { return v.out.Bridges[i].Name < v.out.Bridges[j].Name })
	return v.out, v.diags
}

func (v *validator) defaults() {
	v.out.StateDir = DefaultStateDir
	v.out.MachinesDir = DefaultMachinesDir
	v.out.UnitDir = DefaultUnitDir
	v.out.IPv4Pool = networkd.DefaultIPv4Pool
	v.out.ZoneIPv4Pool = networkd.DefaultZoneIPv4Pool
	v.out.ULA = networkd.ULAPrefix(v.host.MachineID)
	d := v.cfg.Defaults
	if d == nil {
		return
	}
	if d.StateDir != "" {
		if msg := absPathProblem(d.StateDir); msg != "" {
			v.errf(diag.Attr(d.Body, "state_dir", d.DefRange), "Invalid state directory", "state_dir %q: %s.", d.StateDir, msg)
		}
		v.out.StateDir = d.StateDir
	}
	if d.MachinesDir != "" {
		if msg := cmdlinePathProblem(d.MachinesDir); msg != "" {
			v.errf(diag.Attr(d.Body, "machines_dir", d.DefRange), "Invalid machines directory", "machines_dir %q: %s.", d.MachinesDir, msg)
		}
		v.out.MachinesDir = d.MachinesDir
	}
	if d.UnitDir != "" {
		if msg := absPathProblem(d.UnitDir); msg != "" {
			v.errf(diag.Attr(d.Body, "unit_dir", d.DefRange), "Invalid unit directory", "unit_dir %q: %s.", d.UnitDir, msg)
		} else if msg := oneOf(d.UnitDir, "/etc/systemd/system", "/run/systemd/system"); msg != "" {
			v.errf(diag.Attr(d.Body, "unit_dir", d.DefRange), "Invalid unit directory", "unit_dir: %s; systemd reads drop-ins there for system units.", msg)
		}
		v.out.UnitDir = d.UnitDir
	}
	if d.IPv4Pool != "" {
		if p, ok := v.pool(d.Body, "ipv4_pool", d.IPv4Pool, d.DefRange, 28); ok {
			v.out.IPv4Pool = p
		}
	}
	if d.ZoneIPv4Pool != "" {
		if p, ok := v.pool(d.Body, "zone_ipv4_pool", d.ZoneIPv4Pool, d.DefRange, 24); ok {
			v.out.ZoneIPv4Pool = p
		}
	}
	if d.ULAPrefix != "" {
		p, msg := parseNetwork(d.ULAPrefix)
		switch {
		case msg != "":
			v.errf(diag.Attr(d.Body, "ula_prefix", d.DefRange), "Invalid ULA prefix", "ula_prefix: %s.", msg)
		case !p.Addr().Is6() || p.Bits() > 48 || !netip.MustParsePrefix("fc00::/7").Contains(p.Addr()):
			v.errf(diag.Attr(d.Body, "ula_prefix", d.DefRange), "Invalid ULA prefix", "ula_prefix %s must be a unique local prefix inside fc00::/7 of /48 or shorter (normally a /48 in fd00::/8).", p)
		default:
			v.out.ULA = p
		}
	}
	if d.NebulaPool != "" {
		if p, msg := parseNetwork(d.NebulaPool); msg != "" || !p.Addr().Is4() {
			if msg == "" {
				msg = "Nebula 1.6 overlays are IPv4-only; give an IPv4 prefix"
			}
			v.errf(diag.Attr(d.Body, "nebula_pool", d.DefRange), "Invalid Nebula pool", "nebula_pool: %s.", msg)
		} else {
			v.out.NebulaPool = p
		}
	}
}

// names checks machine, zone and bridge names and their uniqueness.
func (v *validator) names() {
	seen := map[string]hcl.Range{}
	for _, m := range v.cfg.Machines {
		if msg := hostnameProblem(m.Name); msg != "" {
			v.errf(m.LabelRange.Ptr(), "Invalid machine name", "Machine name %q is not a valid hostname: %s. systemd-nspawn and machined require machine names to be valid hostnames.", m.Name, msg)
			continue
		}
		if prev, dup := seen[m.Name]; dup {
			v.errf(m.LabelRange.Ptr(), "Duplicate machine", "Machine %q is already declared at %s. Rename one of them or remove the duplicate.", m.Name, prev)
			continue
		}
		seen[m.Name] = m.LabelRange
	}
	seenZone := map[string]hcl.Range{}
	for _, z := range v.cfg.Zones {
		if _, err := networkd.ZoneLinkName(z.Name); err != nil || hostnameProblem(z.Name) != "" || strings.Contains(z.Name, ".") {
			v.errf(z.LabelRange.Ptr(), "Invalid zone name", "Zone name %q is not valid: zone names are 1 to %d letters, digits or '-', because nspawn names the zone's bridge \"vz-\" plus the zone and never shortens it.", z.Name, networkd.MaxZoneNameLen)
			continue
		}
		if prev, dup := seenZone[z.Name]; dup {
			v.errf(z.LabelRange.Ptr(), "Duplicate zone", "Zone %q is already declared at %s. Remove the duplicate.", z.Name, prev)
			continue
		}
		seenZone[z.Name] = z.LabelRange
	}
	seenBridge := map[string]hcl.Range{}
	for _, b := range v.cfg.Bridges {
		if err := networkd.ValidIfname(b.Name); err != nil {
			v.errf(b.LabelRange.Ptr(), "Invalid bridge name", "Bridge name %q is not a valid interface name: %v.", b.Name, err)
			continue
		}
		if strings.HasPrefix(b.Name, "vz-") || strings.HasPrefix(b.Name, "ve-") || strings.HasPrefix(b.Name, "vb-") {
			v.errf(b.LabelRange.Ptr(), "Reserved bridge name", "Bridge name %q uses a prefix systemd-nspawn reserves for its own links (ve-, vb-, vz-). Choose another name, e.g. br-%s.", b.Name, strings.TrimPrefix(b.Name[3:], "-"))
			continue
		}
		if prev, dup := seenBridge[b.Name]; dup {
			v.errf(b.LabelRange.Ptr(), "Duplicate bridge", "Bridge %q is already declared at %s. Remove the duplicate.", b.Name, prev)
			continue
		}
		seenBridge[b.Name] = b.LabelRange
	}
}

// checkString reports an unsafe string attribute value.
func (v *validator) checkString(body hcl.Body, attr, val string, fallback hcl.Range) bool {
	if msg := unsafeValueProblem(val); msg != "" {
		v.errf(diag.Attr(body, attr, fallback), "Value cannot be rendered safely", "The value of %s cannot go into a unit file: %s. Remove it.", attr, msg)
		return false
	}
	return true
}

// checkList reports unsafe elements of a list attribute.
func (v *validator) checkList(body hcl.Body, attr string, vals []string, fallback hcl.Range) bool {
	ok := true
	for i, s := range vals {
		if msg := unsafeValueProblem(s); msg != "" {
			v.errf(diag.Elem(body, attr, i, fallback), "Value cannot be rendered safely", "Element %d of %s cannot go into a unit file: %s. Remove it.", i+1, attr, msg)
			ok = false
		}
	}
	return ok
}

// addresses parses a list of interface addresses of owner on link segment.
func (v *validator) addresses(body hcl.Body, attr string, vals []string, fallback hcl.Range, owner, segment string) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range vals {
		rng := diag.Elem(body, attr, i, fallback)
		p, msg := parseCIDR(s)
		if msg != "" {
			v.errf(rng, "Invalid address", "%s: %s.", attr, msg)
			continue
		}
		if p.Addr().IsUnspecified() {
			v.errf(rng, "Unspecified address", "%s: %s is the unspecified address. Leave %s out to have nspawnctl allocate addresses, or give a concrete one.", attr, s, attr)
			continue
		}
		// A container's IPv6 /128 is fine: its default route comes from the
		// host's router advertisements, via the host's link-local address
		// (the proxy NDP setup: one address of the uplink's /64).
		single6 := p.Addr().Is6() && p.Bits() == 128 && strings.HasSuffix(owner, "(container)")
		if (p.Addr().Is4() && p.Bits() > 30 || p.Addr().Is6() && p.Bits() > 126) && !single6 {
			v.errf(rng, "Prefix too long", "%s: %s leaves no room for a second address on the link; use /30 or shorter for IPv4, /126 or shorter for IPv6.", attr, s)
			continue
		}
		out = append(out, p)
		v.used = append(v.used, usedPrefix{p: p.Masked(), owner: owner, segment: segment, addr: p.Addr(), rng: rng})
	}
	return out
}

// extra parses a raw pass-through value: { Section = { Key = value or [values] } }.
func (v *validator) extra(body hcl.Body, attr string, val cty.Value, fallback hcl.Range) []unitfile.Option {
	if val.IsNull() || !val.IsKnown() {
		return nil
	}
	rng := diag.Attr(body, attr, fallback)
	opts, err := unitfile.ExtraOptions(val)
	if err != nil {
		v.errf(rng, "Invalid raw networkd settings", "%s: %v. Write it as { Section = { Key = \"value\" } }, with a list for repeated keys.", attr, err)
		return nil
	}
	return opts
}

// overlaps reports explicitly configured prefixes that overlap across link
// segments, and addresses configured twice on one segment. Each problem is
// reported at whichever of the two comes later in the sources.
//
// Two prefixes overlap only when one contains the other, so the prefixes
// are sorted by family, address and length and swept with the stack of
// those that contain the current one: linear in the number of prefixes
// (plus the sort) unless prefixes nest deeply, instead of comparing every
// pair. Duplicate addresses are found by one map.
func (v *validator) overlaps() {
	type key struct {
		seg  string
		addr netip.Addr
	}
	firstAddr := map[key]int{}
	order := make([]int, 0, len(v.used))
	for i, u := range v.used {
		order = append(order, i)
		if !u.addr.IsValid() {
			continue
		}
		k := key{u.seg(), u.addr}
		if j, dup := firstAddr[k]; dup {
			v.overlapPair(j, i)
		} else {
			firstAddr[k] = i
		}
	}
	slices.SortStableFunc(order, func(i, j int) int {
		a, b := v.used[i].p, v.used[j].p
		if c := cmp.Compare(a.Addr().BitLen(), b.Addr().BitLen()); c != 0 {
			return c
		}
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Bits(), b.Bits())
	})
	var open []int
	for _, i := range order {
		p := v.used[i].p
		for len(open) > 0 && !containsPrefix(v.used[open[len(open)-1]].p, p) {
			open = open[:len(open)-1]
		}
		for _, j := range open {
			if v.used[i].seg() != v.used[j].seg() {
				v.overlapPair(j, i)
			}
		}
		open = append(open, i)
	}
}

// overlapPair reports v.used[i] and v.used[j] (overlapping, or one address
// twice on a segment) on whichever comes later in the sources.
func (v *validator) overlapPair(i, j int) {
	a, b := v.used[i], v.used[j]
	if later(a.rng, b.rng) {
		a, b = b, a
	}
	if a.seg() == b.seg() {
		v.errf(b.rng, "Duplicate address", "%s of %s is already the address of %s (at %s). Give every interface on a link its own address.", b.addr, b.owner, a.owner, a.rng)
		return
	}
	v.errf(b.rng, "Overlapping addresses", "%s of %s overlaps %s of %s (at %s). Each machine, zone and bridge needs its own subnet; change one of them.", b.p, b.owner, a.p, a.owner, a.rng)
}

// containsPrefix reports whether outer contains all of inner (both masked,
// of one family).
func containsPrefix(outer, inner netip.Prefix) bool {
	return outer.Addr().BitLen() == inner.Addr().BitLen() && outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// later reports whether range a starts after range b in the sources (by
// file name, then offset), so that a diagnostic lands on the second one.
func later(a, b *hcl.Range) bool {
	if a == nil || b == nil {
		return b == nil && a != nil
	}
	if a.Filename != b.Filename {
		return a.Filename > b.Filename
	}
	return a.Start.Byte > b.Start.Byte
}
