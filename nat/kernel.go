package nat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// NewConn returns a google/nftables connection for the Applier: bound to the
// network namespace nsFd (or the caller's when nsFd < 0) and with a send
// buffer large enough for one batch of tens of thousands of elements (the
// kernel refuses a netlink message larger than the socket's send buffer, and
// an apply must stay one message batch to stay atomic).
func NewConn(nsFd int) (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.WithSockOptions(func(c *netlink.Conn) error {
		// Acks would otherwise echo each request, and a batch of many
		// elements overflows the receive buffer with its own echo.
		if err := c.SetOption(netlink.CapAcknowledge, true); err != nil {
			return fmt.Errorf("enable NETLINK_CAP_ACK: %w", err)
		}
		raw, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := raw.Control(func(fd uintptr) {
			// SO_SNDBUFFORCE needs CAP_NET_ADMIN, which changing nftables needs anyway.
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, batchBufferBytes)
			if serr == nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, batchBufferBytes)
			}
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("set the netlink buffers to %d bytes: %w", batchBufferBytes, serr)
		}
		return nil
	})}
	if nsFd >= 0 {
		opts = append(opts, nftables.WithNetNSFd(nsFd))
	}
	return nftables.New(opts...)
}

// batchBufferBytes fits about 200,000 elements in one batch.
const batchBufferBytes = 32 << 20

// kernelTable is what the kernel holds in one family's io.systemd.nat.
type kernelTable struct {
	table        *nftables.Table // nil: the table does not exist
	sets         map[string]*nftables.Set
	chains       map[string]*nftables.Chain
	ruleComments map[string][]string // our chains' rule comments, in order
	own          Table               // our elements, decoded
	foreign      []string            // our sets' elements that could not be decoded
	systemdPorts []SystemdPort
}

// hasOurs reports whether any object named like ours exists.
func (k *kernelTable) hasOurs() bool {
	for n := range k.sets {
		if strings.HasPrefix(n, "nspawnctl") {
			return true
		}
	}
	for n := range k.chains {
		if strings.HasPrefix(n, "nspawnctl") {
			return true
		}
	}
	return false
}

// structureMatches reports whether our chains, rules and sets exist exactly
// as this version of nspawnctl lays them out, so only elements need change.
// Rules are compared by their comments, which name what each rule does.
func (k *kernelTable) structureMatches(fam Family) bool {
	want := ourSets(fam)
	for _, d := range want {
		s, ok := k.sets[d.name]
		if !ok || s.Interval != d.interval || s.IsMap != (d.data != nil) || s.KeyType.Bytes != concat(d.key...).Bytes {
			return false
		}
	}
	for _, c := range ourChains(fam) {
		if _, ok := k.chains[c.name]; !ok {
			return false
		}
		got := k.ruleComments[c.name]
		if len(got) != len(c.rules) {
			return false
		}
		for i, r := range c.rules {
			if got[i] != r.comment {
				return false
			}
		}
	}
	n := 0
	for name := range k.sets {
		if strings.HasPrefix(name, "nspawnctl") {
			n++
		}
	}
	m := 0
	for name := range k.chains {
		if strings.HasPrefix(name, "nspawnctl") {
			m++
		}
	}
	return n == len(want) && m == len(ourChains(fam)) && len(k.foreign) == 0
}

// readTable reads one family's table through conn, every element included.
func readTable(conn *nftables.Conn, fam Family) (*kernelTable, error) {
	k, err := readStructure(conn, fam)
	if err != nil || k.table == nil {
		return k, err
	}
	return k, k.readElements(conn, fam)
}

// readStructure reads one family's table, sets, chains and our chains' rule
// comments, but no element: its cost does not depend on how many forwards
// are installed.
func readStructure(conn *nftables.Conn, fam Family) (*kernelTable, error) {
	f := fams[fam]
	k := &kernelTable{sets: map[string]*nftables.Set{}, chains: map[string]*nftables.Chain{}, ruleComments: map[string][]string{}, own: Table{Family: fam}}
	tables, err := conn.ListTablesOfFamily(f.tableFam)
	if err != nil {
		return nil, fmt.Errorf("list %s tables: %w", fam, err)
	}
	for _, t := range tables {
		if t.Name == TableName {
			k.table = t
		}
	}
	if k.table == nil {
		return k, nil
	}
	sets, err := conn.GetSets(k.table)
	if err != nil {
		return nil, fmt.Errorf("list the sets of %s %s: %w", fam, TableName, err)
	}
	for _, s := range sets {
		k.sets[s.Name] = s
	}
	chains, err := conn.ListChainsOfTableFamily(f.tableFam)
	if err != nil {
		return nil, fmt.Errorf("list the chains of %s %s: %w", fam, TableName, err)
	}
	for _, c := range chains {
		if c.Table.Name != TableName {
			continue
		}
		k.chains[c.Name] = c
		if !strings.HasPrefix(c.Name, "nspawnctl") {
			continue
		}
		comments, err := ruleComments(conn.NetNS, fam, c.Name)
		if err != nil {
			return nil, fmt.Errorf("list the rules of chain %s in %s %s: %w", c.Name, fam, TableName, err)
		}
		k.ruleComments[c.Name] = comments
	}
	return k, nil
}

// readElements reads our sets' elements and the keys of systemd's
// map_port_ipport.
func (k *kernelTable) readElements(conn *nftables.Conn, fam Family) error {
	for _, kind := range setKinds {
		s, ok := k.sets[kind.Name()]
		if !ok || !kind.inFamily(fam) {
			continue
		}
		elems, err := conn.GetSetElements(s)
		if err != nil {
			return fmt.Errorf("list the elements of %s in %s %s: %w", s.Name, fam, TableName, err)
		}
		for _, el := range elems {
			e, err := decodeElement(fam, kind, el)
			if err != nil {
				k.foreign = append(k.foreign, fmt.Sprintf("%s: %v", s.Name, err))
				continue
			}
			k.own.Sets[kind] = append(k.own.Sets[kind], e)
		}
	}
	if s, ok := k.sets["map_port_ipport"]; ok {
		elems, err := conn.GetSetElements(s)
		if err != nil {
			return fmt.Errorf("list systemd's map_port_ipport in %s %s: %w", fam, TableName, err)
		}
		for _, el := range elems {
			if len(el.Key) == 8 {
				k.systemdPorts = append(k.systemdPorts, SystemdPort{fam, el.Key[0], binary.BigEndian.Uint16(el.Key[4:6])})
			}
		}
	}
	return nil
}

// Element encoding on netlink (systemd.md 1.4): each field of a
// concatenation padded to 4 bytes; protocol in the first byte of its word,
// ports big-endian in the first two bytes of theirs, interface names
// NUL-padded to 16 bytes.

func protoField(p uint8) []byte { return []byte{p, 0, 0, 0} }
func portField(p uint16) []byte { return []byte{byte(p >> 8), byte(p), 0, 0} }

// lastAddr returns the last address of a prefix.
func lastAddr(p netip.Prefix) []byte {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return b
}

// encodeElement returns the netlink form of an element.
func encodeElement(kind SetKind, e Element) nftables.SetElement {
	var el nftables.SetElement
	el.Comment = e.Machine
	switch kind {
	case SetDNATAny:
		el.Key = append(protoField(e.Proto), portField(e.Port)...)
	case SetDNATAddr:
		el.Key = append(append(protoField(e.Proto), portField(e.Port)...), e.Dst.Addr().AsSlice()...)
	case SetDNATSrc:
		head := append(protoField(e.Proto), portField(e.Port)...)
		el.Key = append(append(append([]byte{}, head...), e.Dst.Masked().Addr().AsSlice()...), e.Src.Masked().Addr().AsSlice()...)
		el.KeyEnd = append(append(append([]byte{}, head...), lastAddr(e.Dst)...), lastAddr(e.Src)...)
	case SetHairpin, SetMachines, SetPrivate, SetIsolated:
		el.Key = append(ifname(e.Link), e.Addr.AsSlice()...)
	case SetCounts:
		el.Key = append(append(protoField(e.Proto), e.Addr.AsSlice()...), portField(e.Port)...)
	case SetLinks, SetProtectedLinks, SetIsolatedLinks:
		el.Key = ifname(e.Link)
	case SetSameLink:
		el.Key = append(ifname(e.Link), ifname(e.Link)...)
	case SetLocalhost, SetTargets:
		el.Key = e.Addr.AsSlice()
	case SetMasq:
		el.Key = append(ifname(e.Link), e.Src.Masked().Addr().AsSlice()...)
		el.KeyEnd = append(ifname(e.Link), lastAddr(e.Src)...)
	}
	if kind == SetDNATAny || kind == SetDNATAddr || kind == SetDNATSrc {
		el.Val = append(e.ToAddr.AsSlice(), portField(e.ToPort)...)
	}
	return el
}

// prefixOf turns an inclusive address range back into a prefix.
func prefixOf(first, last []byte) (netip.Prefix, error) {
	a, ok := netip.AddrFromSlice(first)
	if !ok {
		return netip.Prefix{}, errors.New("bad address length")
	}
	for bits := 0; bits <= a.BitLen(); bits++ {
		p := netip.PrefixFrom(a, bits)
		if p.Masked().Addr() == a && string(lastAddr(p)) == string(last) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("range %v-%x is not a prefix", a, last)
}

// decodeElement is the inverse of encodeElement.
func decodeElement(fam Family, kind SetKind, el nftables.SetElement) (Element, error) {
	n := int(fams[fam].addrLen)
	addr := func(b []byte) netip.Addr { a, _ := netip.AddrFromSlice(b); return a }
	e := Element{Machine: el.Comment}
	if e.Machine == "" {
		return e, fmt.Errorf("element %x has no owner comment", el.Key)
	}
	need := map[SetKind]int{SetDNATAny: 8, SetDNATAddr: 8 + n, SetDNATSrc: 8 + 2*n, SetHairpin: 16 + n, SetLocalhost: n, SetTargets: n, SetMasq: 16 + n,
		SetMachines: 16 + n, SetPrivate: 16 + n, SetIsolated: 16 + n, SetCounts: 8 + n,
		SetLinks: 16, SetProtectedLinks: 16, SetIsolatedLinks: 16, SetSameLink: 32}[kind]
	if len(el.Key) != need {
		return e, fmt.Errorf("element %x: key length %d, want %d", el.Key, len(el.Key), need)
	}
	if kind <= SetDNATSrc {
		if len(el.Val) != n+4 {
			return e, fmt.Errorf("element %x: data length %d, want %d", el.Key, len(el.Val), n+4)
		}
		e.Proto, e.Port = el.Key[0], binary.BigEndian.Uint16(el.Key[4:6])
		e.ToAddr, e.ToPort = addr(el.Val[:n]), binary.BigEndian.Uint16(el.Val[n:n+2])
	}
	switch kind {
	case SetDNATAddr:
		e.Dst = netip.PrefixFrom(addr(el.Key[8:]), n*8)
	case SetDNATSrc:
		if len(el.KeyEnd) != need {
			return e, fmt.Errorf("element %x: interval end missing", el.Key)
		}
		var err error
		if e.Dst, err = prefixOf(el.Key[8:8+n], el.KeyEnd[8:8+n]); err != nil {
			return e, err
		}
		if e.Src, err = prefixOf(el.Key[8+n:], el.KeyEnd[8+n:]); err != nil {
			return e, err
		}
	case SetHairpin, SetMachines, SetPrivate, SetIsolated:
		e.Link = strings.TrimRight(string(el.Key[:16]), "\x00")
		e.Addr = addr(el.Key[16:])
	case SetCounts:
		e.Proto, e.Addr, e.Port = el.Key[0], addr(el.Key[4:4+n]), binary.BigEndian.Uint16(el.Key[4+n:])
	case SetLinks, SetProtectedLinks, SetIsolatedLinks, SetSameLink:
		e.Link = strings.TrimRight(string(el.Key[:16]), "\x00")
	case SetLocalhost, SetTargets:
		e.Addr = addr(el.Key)
	case SetMasq:
		if len(el.KeyEnd) != need {
			return e, fmt.Errorf("element %x: interval end missing", el.Key)
		}
		e.Link = strings.TrimRight(string(el.Key[:16]), "\x00")
		var err error
		if e.Src, err = prefixOf(el.Key[16:], el.KeyEnd[16:]); err != nil {
			return e, err
		}
	}
	return e, nil
}
