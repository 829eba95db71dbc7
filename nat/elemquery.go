package nat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// elemQuery looks up single set elements by key (NFT_MSG_GETSETELEM without
// NLM_F_DUMP, what "nft get element" sends), so that a change to one machine
// costs the same however many elements the sets hold. google/nftables v0.3.0
// can only dump whole sets.
type elemQuery struct {
	netns int // namespace fd as nftables.Conn.NetNS holds it (0: the caller's)
	conn  *netlink.Conn
}

func newElemQuery(netns int) (*elemQuery, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netns})
	if err != nil {
		return nil, fmt.Errorf("open a netlink socket for element lookups: %w", err)
	}
	return &elemQuery{netns: netns, conn: c}, nil
}

func (q *elemQuery) close() { _ = q.conn.Close() }

// Netlink attribute numbers of linux/netfilter/nf_tables.h that x/sys/unix
// does not name.
const (
	nftaSetElemKeyEnd = 10 // NFTA_SET_ELEM_KEY_END
	nftaListElem      = 1  // NFTA_LIST_ELEM
)

func setElemHeader(fam Family, flags netlink.HeaderFlags) netlink.Header {
	return netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETSETELEM), Flags: netlink.Request | flags}
}

func nfgen(fam Family) []byte { return []byte{byte(fams[fam].tableFam), unix.NFNETLINK_V0, 0, 0} }

// get returns the element of set with el's key (and key end, for interval
// sets), or ok == false when there is none.
func (q *elemQuery) get(fam Family, set string, el nftables.SetElement) (nftables.SetElement, bool, error) {
	value := func(b []byte) []byte {
		d, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: b}})
		return d
	}
	item := []netlink.Attribute{{Type: unix.NLA_F_NESTED | unix.NFTA_SET_ELEM_KEY, Data: value(el.Key)}}
	if len(el.KeyEnd) > 0 {
		item = append(item, netlink.Attribute{Type: unix.NLA_F_NESTED | nftaSetElemKeyEnd, Data: value(el.KeyEnd)})
	}
	itemData, err := netlink.MarshalAttributes(item)
	if err != nil {
		return el, false, err
	}
	list, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NLA_F_NESTED | nftaListElem, Data: itemData}})
	if err != nil {
		return el, false, err
	}
	data, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: []byte(TableName + "\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: []byte(set + "\x00")},
		{Type: unix.NLA_F_NESTED | unix.NFTA_SET_ELEM_LIST_ELEMENTS, Data: list},
	})
	if err != nil {
		return el, false, err
	}
	msgs, err := q.conn.Execute(netlink.Message{Header: setElemHeader(fam, 0), Data: append(nfgen(fam), data...)})
	if errors.Is(err, unix.ENOENT) {
		return el, false, nil
	}
	if err != nil {
		return el, false, fmt.Errorf("look up an element of %s in %s %s: %w", set, fam, TableName, err)
	}
	for _, m := range msgs {
		els, err := decodeElementList(m.Data)
		if err != nil {
			return el, false, fmt.Errorf("decode an element of %s in %s %s: %w", set, fam, TableName, err)
		}
		if len(els) > 0 {
			return els[0], true, nil
		}
	}
	return el, false, nil
}

// anyOther reports whether set holds an element whose owner comment is not
// machine. It reads the set's dump only until it finds one, so for a set
// that holds other machines' elements it costs one netlink message.
func (q *elemQuery) anyOther(fam Family, set, machine string) (bool, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: q.netns})
	if err != nil {
		return false, fmt.Errorf("open a netlink socket for element lookups: %w", err)
	}
	// Closing the socket drops the rest of the dump.
	defer c.Close()
	data, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: []byte(TableName + "\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: []byte(set + "\x00")},
	})
	if err != nil {
		return false, err
	}
	if _, err := c.Send(netlink.Message{Header: setElemHeader(fam, netlink.Dump), Data: append(nfgen(fam), data...)}); err != nil {
		return false, fmt.Errorf("list %s in %s %s: %w", set, fam, TableName, err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return false, err
	}
	// netlink.Conn.Receive would drain the whole dump; read it one
	// datagram at a time instead and stop at the first foreign element.
	buf := make([]byte, 1<<16)
	for {
		var n int
		var rerr error
		if err := raw.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		}); err != nil {
			return false, err
		}
		if rerr != nil {
			return false, fmt.Errorf("list %s in %s %s: %w", set, fam, TableName, rerr)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return false, fmt.Errorf("list %s in %s %s: %w", set, fam, TableName, err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return false, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(binary.NativeEndian.Uint32(m.Data[:4])); errno < 0 {
						return false, fmt.Errorf("list %s in %s %s: %w", set, fam, TableName, unix.Errno(-errno))
					}
				}
				return false, nil
			}
			els, err := decodeElementList(m.Data)
			if err != nil {
				return false, fmt.Errorf("decode the elements of %s in %s %s: %w", set, fam, TableName, err)
			}
			for _, e := range els {
				if e.Comment != machine && !e.IntervalEnd {
					return true, nil
				}
			}
		}
	}
}

// decodeElementList decodes an NFT_MSG_NEWSETELEM message body: the
// nfgenmsg header, then table, set and the list of elements.
func decodeElementList(b []byte) ([]nftables.SetElement, error) {
	if len(b) < 4 {
		return nil, errors.New("short message")
	}
	ad, err := netlink.NewAttributeDecoder(b[4:])
	if err != nil {
		return nil, err
	}
	var out []nftables.SetElement
	for ad.Next() {
		if ad.Type() != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			continue
		}
		ad.Nested(func(list *netlink.AttributeDecoder) error {
			for list.Next() {
				var el nftables.SetElement
				list.Nested(func(d *netlink.AttributeDecoder) error {
					decodeElemAttrs(d, &el)
					return nil
				})
				out = append(out, el)
			}
			return nil
		})
	}
	return out, ad.Err()
}

func decodeElemAttrs(d *netlink.AttributeDecoder, el *nftables.SetElement) {
	value := func() []byte {
		var v []byte
		d.Nested(func(n *netlink.AttributeDecoder) error {
			for n.Next() {
				if n.Type() == unix.NFTA_DATA_VALUE {
					v = n.Bytes()
				}
			}
			return nil
		})
		return v
	}
	for d.Next() {
		switch d.Type() {
		case unix.NFTA_SET_ELEM_KEY:
			el.Key = value()
		case nftaSetElemKeyEnd:
			el.KeyEnd = value()
		case unix.NFTA_SET_ELEM_DATA:
			el.Val = value()
		case unix.NFTA_SET_ELEM_FLAGS:
			el.IntervalEnd = binary.BigEndian.Uint32(d.Bytes())&unix.NFT_SET_ELEM_INTERVAL_END != 0
		case unix.NFTA_SET_ELEM_USERDATA:
			el.Comment, _ = userdata.GetString(d.Bytes(), userdata.TypeComment)
		}
	}
}
