package nat

import (
	"fmt"

	"github.com/google/nftables"
)

// ReplaceMachine changes one machine's elements from old (what was last
// installed for it; a Machine with only the name when nothing was) to m.
// Unlike ApplyMachine it does not read every element back: it reads the
// tables' structure, looks up the elements with old's and m's keys, and
// reads whole only the address-bound and source-restricted maps, and only
// when m has forwards in that family (those forwards conflict with another
// machine's on the same port whatever their key). So with thousands of
// wildcard forwards installed, adding or removing one machine costs about
// what it costs with none (BenchmarkAddOne).
//
// It falls back to ApplyMachine when old is nil (unknown), when a table or
// nspawnctl's objects are missing or laid out by another version, or when
// the kernel holds an element that neither old nor m explains.
func (a *Applier) ReplaceMachine(old *Machine, m Machine) error {
	if old == nil || old.Name != m.Name || sharesProtectedLink(*old) || sharesProtectedLink(m) {
		return a.ApplyMachine(m)
	}
	mine, err := Plan([]Machine{m})
	if err != nil {
		return err
	}
	prev, err := Plan([]Machine{*old})
	if err != nil {
		return a.ApplyMachine(m)
	}
	var kts [2]*kernelTable
	for _, fam := range Families {
		k, err := readStructure(a.Conn, fam)
		if err != nil {
			return fmt.Errorf("read %s %s: %w (is nf_tables available and are you root?)", fam, TableName, err)
		}
		if (mine.Tables[fam].Active() || k.hasOurs()) && (k.table == nil || !k.structureMatches(fam)) {
			return a.ApplyMachine(m)
		}
		kts[fam] = k
	}
	q, err := newElemQuery(a.Conn.NetNS)
	if err != nil {
		a.warnf("machine %q: %v; reading every element instead", m.Name, err)
		return a.ApplyMachine(m)
	}
	defer q.close()
	others := newRuleset()
	for _, fam := range Families {
		if !kts[fam].hasOurs() {
			continue
		}
		ok, err := a.readRelevant(q, fam, m.Name, &prev.Tables[fam], &mine.Tables[fam], kts[fam], &others.Tables[fam])
		if err != nil {
			// Say, a kernel without single-element lookups: the full
			// read still works.
			a.warnf("machine %q: %v; reading every element instead", m.Name, err)
		}
		if err != nil || !ok {
			return a.ApplyMachine(m)
		}
	}
	if err := checkConflicts(others.merge(mine)); err != nil {
		return err
	}
	err = a.send(mine, kts, linksNeedingLocalnet([]Machine{m}), "machine "+m.Name+"'s objects", func(fam Family) (bool, error) {
		want, k := &mine.Tables[fam], kts[fam]
		if !k.hasOurs() {
			return false, nil
		}
		if !want.Active() && k.own.Active() {
			// The machine leaves this family: if it was the last one
			// there, all of nspawnctl's objects go, as with Apply.
			rest, err := a.othersInstalled(q, fam, m.Name)
			if err != nil {
				return false, err
			}
			if !rest {
				a.deleteOurs(&nftables.Table{Family: fams[fam].tableFam, Name: TableName}, k)
				return true, nil
			}
		}
		return a.diffElements(fam, want, k)
	})
	if err != nil {
		return err
	}
	a.dropShadowed(m.Forwards)
	return nil
}

// readRelevant fills k.own with the machine's installed elements that have
// the keys of prev or want, others with other machines' elements that could
// conflict with want, and k.systemdPorts with systemd's keys on want's ports.
// It reports false when the kernel holds something these keys do not explain
// (the caller then reads everything).
func (a *Applier) readRelevant(q *elemQuery, fam Family, owner string, prev, want *Table, k *kernelTable, others *Table) (bool, error) {
	seen := map[SetKind]map[Element]bool{}
	keep := func(kind SetKind, e Element) {
		if seen[kind] == nil {
			seen[kind] = map[Element]bool{}
		}
		if seen[kind][e.key()] {
			return
		}
		seen[kind][e.key()] = true
		if e.Machine == owner {
			k.own.Sets[kind] = append(k.own.Sets[kind], e)
		} else {
			others.Sets[kind] = append(others.Sets[kind], e)
		}
	}
	for _, kind := range setKinds {
		if !kind.inFamily(fam) {
			continue
		}
		for _, e := range append(append([]Element{}, prev.Sets[kind]...), want.Sets[kind]...) {
			got, ok, err := q.get(fam, kind.Name(), encodeElement(kind, e))
			if err != nil {
				return false, err
			}
			if !ok {
				continue
			}
			ke, err := decodeElement(fam, kind, got)
			if err != nil || ke.key() != e.key() {
				return false, nil
			}
			keep(kind, ke)
		}
	}
	dnat := false
	for _, kind := range []SetKind{SetDNATAny, SetDNATAddr, SetDNATSrc} {
		dnat = dnat || len(want.Sets[kind]) > 0
	}
	if !dnat {
		return true, nil
	}
	// Claims on the same port with another key: a wildcard forward of
	// another machine on one of want's ports...
	ports := map[[2]uint16]bool{}
	for _, kind := range []SetKind{SetDNATAny, SetDNATAddr, SetDNATSrc} {
		for _, e := range want.Sets[kind] {
			p := [2]uint16{uint16(e.Proto), e.Port}
			if ports[p] {
				continue
			}
			ports[p] = true
			probe := Element{Proto: e.Proto, Port: e.Port}
			got, ok, err := q.get(fam, SetDNATAny.Name(), encodeElement(SetDNATAny, probe))
			if err != nil {
				return false, err
			}
			if ok {
				ke, err := decodeElement(fam, SetDNATAny, got)
				if err != nil {
					return false, nil
				}
				keep(SetDNATAny, ke)
			}
			// ...and nspawn's Port= on the same port.
			if _, ok := k.sets["map_port_ipport"]; ok {
				_, taken, err := q.get(fam, "map_port_ipport", encodeElement(SetDNATAny, probe))
				if err != nil {
					return false, err
				}
				if taken {
					k.systemdPorts = append(k.systemdPorts, SystemdPort{fam, e.Proto, e.Port})
				}
			}
		}
	}
	// ...and address-bound and source-restricted forwards, whatever their
	// address: these two maps are read whole.
	for _, kind := range []SetKind{SetDNATAddr, SetDNATSrc} {
		elems, err := a.Conn.GetSetElements(k.sets[kind.Name()])
		if err != nil {
			return false, fmt.Errorf("list the elements of %s in %s %s: %w", kind.Name(), fam, TableName, err)
		}
		for _, el := range elems {
			e, err := decodeElement(fam, kind, el)
			if err != nil {
				return false, nil
			}
			if ports[[2]uint16{uint16(e.Proto), e.Port}] {
				keep(kind, e)
			}
		}
	}
	return true, nil
}

// othersInstalled reports whether any of nspawnctl's sets in the family
// holds an element of a machine other than name.
func (a *Applier) othersInstalled(q *elemQuery, fam Family, name string) (bool, error) {
	for _, kind := range setKinds {
		if !kind.inFamily(fam) {
			continue
		}
		other, err := q.anyOther(fam, kind.Name(), name)
		if err != nil || other {
			return other, err
		}
	}
	return false, nil
}
