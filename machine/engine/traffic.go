package engine

import (
	"github.com/nspawnctl/nspawnctl/nat"
)

// TrafficSource is where status reads what the kernel counted for a
// machine: its NAT definition and the counters of nspawnctl's nft objects.
type TrafficSource interface {
	Load(name string) (nat.Machine, error)
	Counters() (*nat.Counters, error)
}

// Traffic is what the kernel counted for one machine.
type Traffic struct {
	// Protected reports whether the exposure protections are installed
	// in the kernel (false after a firewall reload until nat restore).
	Protected bool `json:"protections_installed"`
	// Forwards are per forward the packets and bytes of its connections,
	// both directions, since the machine started.
	Forwards []ForwardTraffic `json:"forwards"`
	// Dropped counts packets of new connections to or from the machine's
	// link that the protections dropped (unpublished ports, isolation); a
	// zone's members share the zone's count.
	Dropped nat.Count `json:"dropped"`
	// LoopbackDropped counts, host-wide, packets from or to 127.0.0.0/8
	// that arrived on a link other than lo and were dropped.
	LoopbackDropped nat.Count `json:"host_loopback_dropped"`
}

// ForwardTraffic is one forward's counters.
type ForwardTraffic struct {
	Forward string `json:"forward"`
	nat.Count
}

// trafficOf combines a machine's definition with the counters.
func trafficOf(nm nat.Machine, c *nat.Counters) *Traffic {
	t := &Traffic{Forwards: []ForwardTraffic{}, Dropped: c.LinkDropped(nm.Link)}
	for _, f := range nm.Forwards {
		t.Forwards = append(t.Forwards, ForwardTraffic{Forward: f.String(), Count: c.Forward(f)})
	}
	fams := map[nat.Family]bool{}
	for _, a := range nm.Addrs {
		fams[familyOf(a.Is4())] = true
	}
	for _, f := range nm.Forwards {
		fams[familyOf(f.Target.Is4())] = true
	}
	t.Protected = len(fams) > 0
	for f := range fams {
		t.Protected = t.Protected && c.Installed[f]
	}
	for _, comment := range []string{nat.CommentLoopbackDst, nat.CommentLoopbackSrc} {
		d := c.Dropped(comment)
		t.LoopbackDropped.Packets += d.Packets
		t.LoopbackDropped.Bytes += d.Bytes
	}
	return t
}

func familyOf(is4 bool) nat.Family {
	if is4 {
		return nat.IPv4
	}
	return nat.IPv6
}

// traffic fills in the status's counters when a source is configured and
// the machine has a NAT definition; problems reading them only leave them out.
func (m *Manager) traffic(name string) *Traffic {
	if m.Traffic == nil {
		return nil
	}
	nm, err := m.Traffic.Load(name)
	if err != nil || (len(nm.Forwards) == 0 && len(nm.Addrs) == 0) {
		return nil
	}
	c, err := m.Traffic.Counters()
	if err != nil {
		m.logf("warning: cannot read the nftables counters of %s: %v", name, err)
		return nil
	}
	return trafficOf(nm, c)
}
