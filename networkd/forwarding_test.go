package networkd

import (
	"slices"
	"strings"
	"testing"
)

func TestParseSystemdVersion(t *testing.T) {
	for in, want := range map[string]int{
		"252.39-1~deb12u1":               252,
		"systemd 252 (252.39-1~deb12u1)": 252,
		"systemd 262 (262.1-1)":          262,
		"v256":                           256,
		"257.9":                          257,
		"":                               0,
		"unknown":                        0,
	} {
		if got := ParseSystemdVersion(in); got != want {
			t.Errorf("ParseSystemdVersion(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestForwardingFamilies: exactly the families IPForward=yes adds on 252
// to what IPMasquerade= turns on itself.
func TestForwardingFamilies(t *testing.T) {
	for masq, want := range map[Masquerade][]string{
		"": nil, "both": nil, "ipv4": {IPv6}, "ipv6": {IPv4}, "no": {IPv4, IPv6},
	} {
		got := ForwardingFamilies(masq)
		if !slices.Equal(got, want) {
			t.Errorf("ForwardingFamilies(%q) = %v, want %v", masq, got, want)
		}
		if (len(got) > 0) != Forwarding(masq) {
			t.Errorf("ForwardingFamilies(%q) = %v disagrees with Forwarding = %v", masq, got, Forwarding(masq))
		}
	}
}

func TestRenderForwardingDropIn(t *testing.T) {
	for fam, key := range map[string]string{IPv4: "IPv4Forwarding=yes", IPv6: "IPv6Forwarding=yes"} {
		b, err := RenderForwardingDropIn(fam)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "[Network]\n"+key+"\n") {
			t.Errorf("%s drop-in:\n%s", fam, b)
		}
	}
	if _, err := RenderForwardingDropIn("ipx"); err == nil {
		t.Error("RenderForwardingDropIn(ipx) succeeded")
	}
}
