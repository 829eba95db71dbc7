package nat

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
)

// Count is what one nft counter holds.
type Count struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

func (c *Count) add(o Count) { c.Packets += o.Packets; c.Bytes += o.Bytes }

// countKey identifies one element of nspawnctl_counts.
type countKey struct {
	proto  uint8
	target netip.Addr
	port   uint16
}

// Counters are the kernel's counters of nspawnctl's objects, read by
// [Applier.Counters].
type Counters struct {
	// Installed reports per family whether nspawnctl's protection chains
	// exist (doctor's check): false after "nft flush ruleset" until the
	// next restore.
	Installed [2]bool
	drops     map[string]Count // by rule comment, both families
	forwards  map[countKey]Count
	links     map[string]Count // drops of new connections to or from a link, by name
}

// LinkDropped returns how many packets of new connections to the machines
// on link (unpublished ports, isolation) or from them (isolation) were
// dropped. A zone's members share their link's count.
func (c *Counters) LinkDropped(link string) Count { return c.links[link] }

// Dropped returns how many packets the rule with this comment (one of the
// Comment* constants) dropped, summed over both families.
func (c *Counters) Dropped(comment string) Count { return c.drops[comment] }

// DroppedTotal sums all protection drops.
func (c *Counters) DroppedTotal() Count {
	var t Count
	for _, d := range c.drops {
		t.add(d)
	}
	return t
}

// Forward returns the packets and bytes, both directions, that the
// forward's connections carried. Counters are kept per target address and
// port, so forwards sharing a target port share their counts.
func (c *Counters) Forward(f Forward) Count {
	var t Count
	proto := protoNumber[f.Protocol]
	for p := range f.TargetPorts.Len() {
		t.add(c.forwards[countKey{proto, f.Target, f.TargetPorts.First + uint16(p)}])
	}
	return t
}

// dropChains are the chains whose counted rules are protections.
var dropChains = []string{chainRaw, chainForward}

// Counters reads the protection drops and the forward counts.
func (a *Applier) Counters() (*Counters, error) {
	c := &Counters{drops: map[string]Count{}, forwards: map[countKey]Count{}, links: map[string]Count{}}
	for _, fam := range Families {
		f := fams[fam]
		table := &nftables.Table{Family: f.tableFam, Name: TableName}
		chains, err := a.Conn.ListChainsOfTableFamily(f.tableFam)
		if err != nil {
			return nil, fmt.Errorf("list the chains of %s %s: %w", fam, TableName, err)
		}
		have := map[string]*nftables.Chain{}
		for _, ch := range chains {
			if ch.Table.Name == TableName {
				have[ch.Name] = ch
			}
		}
		c.Installed[fam] = have[chainForward] != nil && (fam == IPv6 || have[chainRaw] != nil)
		for _, name := range dropChains {
			ch := have[name]
			if ch == nil {
				continue
			}
			rules, err := a.Conn.GetRules(table, ch)
			if err != nil {
				return nil, fmt.Errorf("list the rules of %s in %s %s: %w", name, fam, TableName, err)
			}
			for _, r := range rules {
				comment, _ := userdata.GetString(r.UserData, userdata.TypeComment)
				for _, e := range r.Exprs {
					if ce, ok := e.(*expr.Counter); ok {
						d := c.drops[comment]
						d.add(Count{ce.Packets, ce.Bytes})
						c.drops[comment] = d
					}
				}
			}
		}
		if !c.Installed[fam] {
			continue
		}
		for _, kind := range []SetKind{SetCounts, SetProtectedLinks, SetIsolatedLinks} {
			set, err := a.Conn.GetSetByName(table, kind.Name())
			if err != nil {
				continue // an older layout without counters: nothing to show
			}
			elems, err := a.Conn.GetSetElements(set)
			if err != nil {
				return nil, fmt.Errorf("list the elements of %s in %s %s: %w", set.Name, fam, TableName, err)
			}
			for _, el := range elems {
				e, err := decodeElement(fam, kind, el)
				if err != nil || el.Counter == nil {
					continue
				}
				n := Count{el.Counter.Packets, el.Counter.Bytes}
				if kind == SetCounts {
					c.forwards[countKey{e.Proto, e.Addr, e.Port}] = n
					continue
				}
				d := c.links[e.Link]
				d.add(n)
				c.links[e.Link] = d
			}
		}
	}
	return c, nil
}

// HostTraffic is what status reads a machine's traffic from on the host
// (machine.TrafficSource): the store's definitions and the counters of the
// host's nft objects. It takes no lock: reading counters changes nothing.
type HostTraffic struct{ *Store }

// Counters reads the host's counters of nspawnctl's nft objects.
func (t HostTraffic) Counters() (*Counters, error) {
	conn, err := NewConn(-1)
	if err != nil {
		return nil, fmt.Errorf("open an nftables connection: %w", err)
	}
	defer conn.CloseLasting()
	return (&Applier{Conn: conn}).Counters()
}
