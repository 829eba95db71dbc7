package engine

import (
	"net/netip"
	"slices"
	"testing"
)

func TestDelegationShowsDynamicGlobalPrefixes(t *testing.T) {
	las := []LinkAddr{
		{Prefix: netip.MustParsePrefix("2001:db8:f000:202::1/64"), Dynamic: true},                   // the delegation now
		{Prefix: netip.MustParsePrefix("2001:db8:f000:102::1/64"), Dynamic: true, Deprecated: true}, // the old one, going
		{Prefix: netip.MustParsePrefix("2001:db8:7::1/64")},                                         // a static ipv6_prefix
		{Prefix: netip.MustParsePrefix("fd12:3456:789a:1::1/64")},                                   // the ULA
		{Prefix: netip.MustParsePrefix("fe80::1/64")},
	}
	m := &Manager{LinkAddrs: func(link string) ([]LinkAddr, error) {
		if link != "ve-pd1" {
			t.Errorf("LinkAddrs(%q), want ve-pd1", link)
		}
		return las, nil
	}}
	machineAddrs := []netip.Addr{
		netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd12:3456:789a:1::2"),
		netip.MustParseAddr("2001:db8:f000:202:abcd::1"), netip.MustParseAddr("2001:db8:f000:102:abcd::1"),
	}
	pfx, global := m.delegation("ve-pd1", machineAddrs)
	if !slices.Equal(pfx, []netip.Prefix{netip.MustParsePrefix("2001:db8:f000:202::/64")}) {
		t.Errorf("delegated %v", pfx)
	}
	if !slices.Equal(global, []netip.Addr{netip.MustParseAddr("2001:db8:f000:202:abcd::1")}) {
		t.Errorf("global %v", global)
	}
	if pfx, global := (&Manager{}).delegation("ve-pd1", machineAddrs); pfx != nil || global != nil {
		t.Errorf("without LinkAddrs: %v %v", pfx, global)
	}
}
