package nat

import (
	"fmt"

	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ruleComments lists the comments of a chain's rules in order, from a raw
// NFT_MSG_GETRULE dump. google/nftables v0.3.0 cannot read back every rule
// nspawnctl writes: it decodes a ct expression's direction as a u32, and
// the kernel sends a u8, so GetRules fails on nspawnctl_forward_snat ("ct
// original ip daddr"). The structure check needs only the comments.
func ruleComments(netns int, fam Family, chain string) ([]string, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netns})
	if err != nil {
		return nil, fmt.Errorf("open a netlink socket to list rules: %w", err)
	}
	defer c.Close()
	data, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: []byte(TableName + "\x00")},
		{Type: unix.NFTA_RULE_CHAIN, Data: []byte(chain + "\x00")},
	})
	if err != nil {
		return nil, err
	}
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE), Flags: netlink.Request | netlink.Dump},
		Data:   append(nfgen(fam), data...),
	})
	if err != nil {
		return nil, err
	}
	comments := []string{}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return nil, err
		}
		comment, isRule := "", false
		for ad.Next() {
			switch ad.Type() {
			case unix.NFTA_RULE_CHAIN:
				isRule = ad.String() == chain
			case unix.NFTA_RULE_USERDATA:
				comment, _ = userdata.GetString(ad.Bytes(), userdata.TypeComment)
			}
		}
		if err := ad.Err(); err != nil {
			return nil, err
		}
		if isRule {
			comments = append(comments, comment)
		}
	}
	return comments, nil
}
