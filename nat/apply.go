package nat

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// LinkConfig changes per-link settings in the namespace the Applier's
// connection is bound to.
type LinkConfig interface {
	// EnableRouteLocalnet sets net.ipv4.conf.LINK.route_localnet=1, which
	// lets packets from 127.0.0.0/8 be routed out of LINK: without it the
	// kernel drops a DNAT-ed connection from the host's localhost before the
	// masquerade can rewrite its source.
	EnableRouteLocalnet(link string) error
}

// Applier reconciles the kernel's io.systemd.nat tables with a Ruleset. It
// only ever creates, changes or deletes objects named "nspawnctl...", plus a
// missing table that it creates with systemd's exact layout.
type Applier struct {
	// Conn is the nftables connection; production: NewConn(-1), tests:
	// NewConn(fd of a throwaway namespace).
	Conn *nftables.Conn
	// Links sets route_localnet for forwards usable from 127.0.0.1; nil
	// skips it (those forwards then do not work from localhost).
	Links LinkConfig
	// Conntrack drops the entries that would bypass new UDP forwards (see
	// conntrack.go); nil skips it.
	Conntrack Conntrack
	// Warn receives non-fatal problems; nil discards them.
	Warn func(format string, args ...any)
	// Batches counts the batches sent, so tests can see that a no-op apply
	// sends nothing.
	Batches int
	// creating is set while the batch being built creates a table.
	creating bool
	// beforeSend, when set, runs between reading the kernel and sending
	// the batch: fault injection for tests (another writer in between).
	beforeSend func()
}

func (a *Applier) warnf(format string, args ...any) {
	if a.Warn != nil {
		a.Warn(format, args...)
	}
}

// Apply makes nspawnctl's objects match exactly these machines: forwards of
// machines not listed are removed. One batch; nothing is sent when the kernel
// already matches.
func (a *Applier) Apply(machines []Machine) error {
	rs, err := Plan(machines)
	if err != nil {
		return err
	}
	if err := a.ApplyRuleset(rs, linksNeedingLocalnet(machines)); err != nil {
		return err
	}
	var fs []Forward
	for _, m := range machines {
		fs = append(fs, m.Forwards...)
	}
	a.dropShadowed(fs)
	return nil
}

// ApplyMachine installs one machine's forwards and leaves every other
// machine's elements as they are in the kernel: only elements whose comment
// names this machine are added or deleted. A machine without forwards is
// removed.
func (a *Applier) ApplyMachine(m Machine) error {
	err := a.retryRaced(func() error {
		rs, kts, err := a.planWithInstalled(m)
		if err != nil {
			return err
		}
		return a.reconcile(rs, kts, linksNeedingLocalnet([]Machine{m}))
	})
	if err != nil {
		return err
	}
	a.dropShadowed(m.Forwards)
	return nil
}

// errTableRaced says that a batch creating a table failed because the
// table appeared after the kernel was read: systemd (networkd's
// IPMasquerade=, nspawn's Port=) creates it when a machine's link comes up,
// which is when a machine's start hook runs too.
var errTableRaced = errors.New("the table was created by someone else meanwhile")

// tableRaceAttempts bounds the re-reads after errTableRaced. One is enough
// (the table exists from then on and is never created again), the rest
// covers a flush ruleset in between.
const tableRaceAttempts = 3

// retryRaced runs one read-plan-send pass, and again from a fresh read of
// the kernel when it lost the race to create a table. The batch that lost
// changed nothing (it is atomic, and its table creation is exclusive), so
// the next pass plans from the table as the other writer made it.
func (a *Applier) retryRaced(pass func() error) error {
	var err error
	for i := 0; i < tableRaceAttempts; i++ {
		if err = pass(); !errors.Is(err, errTableRaced) {
			return err
		}
		a.warnf("%v; read it again", err)
	}
	return err
}

// dropShadowed removes the conntrack entries that would keep the forwards
// from applying; failing that, the forwards still work for new peers, so it
// is a warning.
func (a *Applier) dropShadowed(fs []Forward) {
	if a.Conntrack == nil {
		return
	}
	if _, err := a.Conntrack.DropShadowed(fs); err != nil {
		a.warnf("%v; a peer already sending to a forwarded UDP port reaches the container once it pauses for 30 s", err)
	}
}

// RemoveMachine deletes one machine's elements, and all of nspawnctl's
// objects of a family when it was the last machine there.
func (a *Applier) RemoveMachine(name string) error {
	return a.ApplyMachine(Machine{Name: name})
}

// Flush removes all of nspawnctl's objects, never systemd's.
func (a *Applier) Flush() error { return a.ApplyRuleset(newRuleset(), nil) }

// Installed reads nspawnctl's elements from the kernel.
func (a *Applier) Installed() (*Ruleset, error) {
	kts, err := a.read()
	if err != nil {
		return nil, err
	}
	rs := newRuleset()
	for _, fam := range Families {
		rs.Tables[fam] = kts[fam].own
	}
	return rs, nil
}

// ApplyRuleset makes the kernel match rs (as planned by Plan) and sets
// route_localnet on the given links first.
func (a *Applier) ApplyRuleset(rs *Ruleset, localnetLinks []string) error {
	return a.retryRaced(func() error {
		kts, err := a.read()
		if err != nil {
			return err
		}
		return a.reconcile(rs, kts, localnetLinks)
	})
}

func (a *Applier) read() ([2]*kernelTable, error) {
	var kts [2]*kernelTable
	for _, fam := range Families {
		k, err := readTable(a.Conn, fam)
		if err != nil {
			return kts, fmt.Errorf("read %s %s: %w (is nf_tables available and are you root?)", fam, TableName, err)
		}
		kts[fam] = k
	}
	return kts, nil
}

// linksNeedingLocalnet lists the links of machines with an IPv4 forward
// usable from 127.0.0.1.
func linksNeedingLocalnet(ms []Machine) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range sortedMachines(ms) {
		for _, f := range m.Forwards {
			if f.Target.Is4() && (!f.HostAddr.IsValid() || f.HostAddr.IsLoopback()) && !seen[m.Link] {
				seen[m.Link] = true
				out = append(out, m.Link)
			}
		}
	}
	return out
}

func (a *Applier) reconcile(rs *Ruleset, kts [2]*kernelTable, localnetLinks []string) error {
	return a.send(rs, kts, localnetLinks, "nspawnctl's objects", func(fam Family) (bool, error) {
		return a.planFamily(fam, &rs.Tables[fam], kts[fam])
	})
}

// send refuses rs when systemd maps one of its ports (kts holds systemd's
// keys), sets route_localnet on the links, queues each family's messages
// with planFam and sends them as one batch, if any were queued. what names
// the objects for the error.
func (a *Applier) send(rs *Ruleset, kts [2]*kernelTable, localnetLinks []string, what string, planFam func(Family) (bool, error)) error {
	var systemd []SystemdPort
	for _, fam := range Families {
		systemd = append(systemd, kts[fam].systemdPorts...)
	}
	if err := CheckSystemd(rs, systemd); err != nil {
		return err
	}
	a.enableLocalnet(localnetLinks)
	changed := false
	a.creating = false
	for _, fam := range Families {
		c, err := planFam(fam)
		if err != nil {
			return err
		}
		changed = changed || c
	}
	if !changed {
		return nil
	}
	if a.beforeSend != nil {
		a.beforeSend()
	}
	a.Batches++
	if err := a.Conn.Flush(); err != nil {
		if a.creating && errors.Is(err, unix.EEXIST) {
			err = fmt.Errorf("%w (%v)", errTableRaced, err)
		}
		return fmt.Errorf("apply %s in %s (one batch, nothing was changed): %w", what, TableName, err)
	}
	return nil
}

// enableLocalnet sets route_localnet on the links (see LinkConfig).
func (a *Applier) enableLocalnet(links []string) {
	if a.Links == nil {
		return
	}
	for _, l := range links {
		if err := a.Links.EnableRouteLocalnet(l); err != nil {
			// The link may not exist yet (machine not started): the
			// forward still works from other hosts, so warn only.
			a.warnf("forwards from 127.0.0.1 through %s will not work: %v", l, err)
		}
	}
}

// planFamily queues the messages that make one family's table match want
// and reports whether it queued any.
func (a *Applier) planFamily(fam Family, want *Table, k *kernelTable) (bool, error) {
	f := fams[fam]
	table := &nftables.Table{Family: f.tableFam, Name: TableName}
	switch {
	case !want.Active():
		if !k.hasOurs() {
			return false, nil
		}
		a.deleteOurs(table, k)
		return true, nil
	case k.table == nil:
		// systemd creates the table with NLM_F_EXCL and adopts whatever
		// exists, so the table must get systemd's exact layout first.
		// Exclusive here too: if systemd created it since the read, the
		// whole batch fails (EEXIST) instead of adding systemd's rules to
		// its chains a second time, and retryRaced reads again.
		a.Conn.CreateTable(table)
		a.creating = true
		sets, err := a.addSets(table, systemdSets(fam), nil)
		if err != nil {
			return false, err
		}
		a.addChains(table, systemdChains(fam), sets)
		return true, a.addOurs(fam, table, want, sets)
	case k.structureMatches(fam):
		return a.diffElements(fam, want, k)
	default:
		if k.hasOurs() {
			a.deleteOurs(table, k)
		}
		sets := map[string]*nftables.Set{}
		for n, s := range k.sets {
			sets[n] = s
		}
		return true, a.addOurs(fam, table, want, sets)
	}
}

// deleteOurs deletes our chains (base chains first, so the jumps into
// nspawnctl_dnat go before it does) and then our sets.
func (a *Applier) deleteOurs(table *nftables.Table, k *kernelTable) {
	for _, name := range []string{chainPrerouting, chainOutput, chainPostrouting, chainDNAT} {
		if _, ok := k.chains[name]; ok {
			a.Conn.DelChain(&nftables.Chain{Table: table, Name: name})
		}
	}
	for name := range k.chains {
		if strings.HasPrefix(name, "nspawnctl") && !isOurChain(name) {
			a.Conn.DelChain(&nftables.Chain{Table: table, Name: name})
		}
	}
	for name := range k.sets {
		if strings.HasPrefix(name, "nspawnctl") {
			a.Conn.DelSet(&nftables.Set{Table: table, Name: name})
		}
	}
}

func isOurChain(name string) bool {
	return name == chainPrerouting || name == chainOutput || name == chainPostrouting || name == chainDNAT
}

func (a *Applier) addOurs(fam Family, table *nftables.Table, want *Table, sets map[string]*nftables.Set) error {
	defs := ourSets(fam)
	elems := map[string][]Element{}
	for _, d := range defs {
		elems[d.name] = want.Sets[kindByName(d.name)]
	}
	ours, err := a.addSets(table, defs, elems)
	if err != nil {
		return err
	}
	for n, s := range ours {
		sets[n] = s
	}
	a.addChains(table, ourChains(fam), sets)
	return nil
}

func (a *Applier) addSets(table *nftables.Table, defs []setDef, elems map[string][]Element) (map[string]*nftables.Set, error) {
	out := map[string]*nftables.Set{}
	for _, d := range defs {
		s := &nftables.Set{Table: table, Name: d.name, KeyType: concat(d.key...), Interval: d.interval, Counter: d.counter, Comment: d.comment}
		if len(d.key) == 1 && d.key[0].Name == nftables.TypeIFName.Name {
			// nft reads a plain string key as host-endian, and prints
			// it empty unless the set says so (nft's own userdata).
			s.KeyByteOrder = binaryutil.NativeEndian
		}
		if d.interval && len(d.key) > 1 {
			s.Concatenation = true // pipapo: needs the field lengths
		}
		if d.data != nil {
			s.IsMap = true
			s.DataType = concat(d.data...)
		}
		var vals []nftables.SetElement
		if list := elems[d.name]; len(list) > 0 {
			kind := kindByName(d.name)
			for _, e := range list {
				vals = append(vals, encodeElement(kind, e))
			}
		}
		if err := a.Conn.AddSet(s, nil); err != nil {
			return nil, fmt.Errorf("prepare set %s in %s: %w", d.name, TableName, err)
		}
		if err := a.addElements(s, vals); err != nil {
			return nil, err
		}
		out[d.name] = s
	}
	return out, nil
}

// elementsPerMessage keeps each message's element list below 64 KiB: the
// list is one netlink attribute, whose length field has 16 bits. The
// messages still go in one batch, so the change stays atomic.
const elementsPerMessage = 400

func (a *Applier) addElements(s *nftables.Set, vals []nftables.SetElement) error {
	for chunk := range slices.Chunk(vals, elementsPerMessage) {
		if err := a.Conn.SetAddElements(s, chunk); err != nil {
			return fmt.Errorf("prepare adding %d elements to %s in %s: %w", len(vals), s.Name, TableName, err)
		}
	}
	return nil
}

func (a *Applier) addChains(table *nftables.Table, defs []chainDef, sets map[string]*nftables.Set) {
	setOf := func(name string) *nftables.Set { return sets[name] }
	for _, d := range defs {
		c := &nftables.Chain{Table: table, Name: d.name}
		if d.hook != nil {
			prio := nftables.ChainPriority(d.prio)
			c.Type, c.Hooknum, c.Priority = nftables.ChainTypeNAT, d.hook, &prio
			if d.filter {
				c.Type = nftables.ChainTypeFilter
			}
		}
		a.Conn.AddChain(c)
		for _, r := range d.rules {
			rule := &nftables.Rule{Table: table, Chain: c, Exprs: r.exprs(setOf)}
			if r.comment != "" {
				rule.UserData = userdata.AppendString(nil, userdata.TypeComment, r.comment)
			}
			a.Conn.AddRule(rule)
		}
	}
}

// diffElements queues the element changes of one family: deletions of
// elements not wanted (or wanted with other data or owner) and additions of
// missing ones. Deletion goes by key, so a changed element is deleted and
// re-added in the same batch, atomically.
func (a *Applier) diffElements(fam Family, want *Table, k *kernelTable) (bool, error) {
	changed := false
	for _, kind := range setKinds {
		if !kind.inFamily(fam) {
			continue
		}
		have := map[Element]Element{}
		for _, e := range k.own.Sets[kind] {
			have[e.key()] = e
		}
		wantByKey := map[Element]Element{}
		var add []nftables.SetElement
		for _, e := range want.Sets[kind] {
			wantByKey[e.key()] = e
			if h, ok := have[e.key()]; !ok || h != e {
				add = append(add, encodeElement(kind, e))
			}
		}
		var del []nftables.SetElement
		for key, h := range have {
			if w, ok := wantByKey[key]; !ok || w != h {
				del = append(del, encodeElement(kind, h))
			}
		}
		set := k.sets[kind.Name()]
		for chunk := range slices.Chunk(del, elementsPerMessage) {
			if err := a.Conn.SetDeleteElements(set, chunk); err != nil {
				return false, fmt.Errorf("prepare deleting %d elements of %s in %s %s: %w", len(del), set.Name, fam, TableName, err)
			}
			changed = true
		}
		if err := a.addElements(set, add); err != nil {
			return false, err
		}
		changed = changed || len(add) > 0
	}
	return changed, nil
}
