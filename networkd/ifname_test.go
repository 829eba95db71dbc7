package networkd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/golden"
)

// TestSiphashReferenceVector checks the SipHash-2-4 wiring (key byte order)
// against the reference vector of the SipHash paper.
func TestSiphashReferenceVector(t *testing.T) {
	var key [16]byte
	for i := range key {
		key[i] = byte(i)
	}
	msg := make([]byte, 15)
	for i := range msg {
		msg[i] = byte(i)
	}
	if got, want := siphash24(key, msg), uint64(0xa129ca6149be45e5); got != want {
		t.Fatalf("siphash24(00..0f, 00..0e) = %#x, want %#x", got, want)
	}
}

// TestShortenIfnameVectors holds every vector of reference/systemd.md 2.2,
// computed with libsystemd-shared-252's own siphash24.
func TestShortenIfnameVectors(t *testing.T) {
	tests := []struct {
		in   string
		hash uint64 // 0: not hashed
		want string
	}{
		{"ve-0123456789ab", 0, "ve-0123456789ab"},
		{"ve-0123456789abc", 0x58682124fdb30768, "ve-01234567swdo"},
		{"ve-verylongmachinename", 0x0935f7613bdbc4dc, "ve-verylong28Tc"},
		{"vb-verylongmachinename", 0x3fe0566ecc7a4c08, "vb-verylongekwI"},
		{"ve-webserver-production", 0x44ad0e8e65c7edf0, "ve-webservex-3w"},
		{"ve-a-very-long-container-name-01", 0xbbc7adc8ae379ac5, "ve-a-very-lN5rF"},
		{"vb-rosa-2019.1-samba-server1", 0xe7a84de05cec58e8, "vb-rosa-2017Fjo"},
		// Seen on this machine with the real nspawn (reference/testbed.md 3).
		{"ve-db-replica.eu-west-2", 0, "ve-db-replihx2p"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if tt.hash != 0 {
				if h := siphash24(shortenKey, []byte(tt.in)); h != tt.hash {
					t.Errorf("siphash24(%q) = %#x, want %#x", tt.in, h, tt.hash)
				}
			}
			got := ShortenIfname(tt.in)
			if got != tt.want {
				t.Errorf("ShortenIfname(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(got) > MaxIfnameLen {
				t.Errorf("ShortenIfname(%q) = %q is longer than %d bytes", tt.in, got, MaxIfnameLen)
			}
			if IsShortened(tt.in) != (got != tt.in) {
				t.Errorf("IsShortened(%q) = %v, but ShortenIfname returned %q", tt.in, IsShortened(tt.in), got)
			}
		})
	}
}

func TestPrefixedNames(t *testing.T) {
	tests := []struct {
		name string
		fn   func(string) string
		in   string
		want string
	}{
		{"VethName", VethName, "web", "ve-web"},
		{"VethName", VethName, "verylongmachinename", "ve-verylong28Tc"},
		{"VethName", VethName, "webserver-production", "ve-webservex-3w"},
		{"BridgePortName", BridgePortName, "verylongmachinename", "vb-verylongekwI"},
		{"BridgePortName", BridgePortName, "rosa-2019.1-samba-server1", "vb-rosa-2017Fjo"},
		{"BridgePortName", BridgePortName, "db", "vb-db"},
		{"MacvlanName", MacvlanName, "eth0", "mv-eth0"},
		{"IpvlanName", IpvlanName, "eth0", "iv-eth0"},
		{"MacvlanName", MacvlanName, "enp0s31f6abcd", ShortenIfname("mv-enp0s31f6abcd")},
	}
	for _, tt := range tests {
		if got := tt.fn(tt.in); got != tt.want {
			t.Errorf("%s(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestAltName(t *testing.T) {
	if alt, ok := AltName("ve-web"); ok {
		t.Errorf("AltName(ve-web) = %q, true; want no altname for an unshortened name", alt)
	}
	if alt, ok := AltName("ve-verylongmachinename"); !ok || alt != "ve-verylongmachinename" {
		t.Errorf("AltName(ve-verylongmachinename) = %q, %v; want the full name", alt, ok)
	}
	long := "ve-" + strings.Repeat("a", 125) // 128 bytes: too long for IFLA_ALT_IFNAME
	if _, ok := AltName(long); ok {
		t.Errorf("AltName of a %d byte name: want none, nspawn skips altnames of 128 bytes and more", len(long))
	}
	if _, ok := AltName(long[:127]); !ok {
		t.Errorf("AltName of a 127 byte name: want one")
	}
}

func TestZoneLinkName(t *testing.T) {
	good := []struct{ zone, want string }{
		{"lan", "vz-lan"},
		{"abcdefghijkl", "vz-abcdefghijkl"},
		{"a.b-c_d", "vz-a.b-c_d"},
	}
	for _, tt := range good {
		got, err := ZoneLinkName(tt.zone)
		if err != nil || got != tt.want {
			t.Errorf("ZoneLinkName(%q) = %q, %v; want %q", tt.zone, got, err, tt.want)
		}
	}
	bad := []string{"", "abcdefghijklm", "has space", "a:b", "a/b", "a%b", "tab\t", "é"}
	var report strings.Builder
	for _, zone := range bad {
		got, err := ZoneLinkName(zone)
		if err == nil {
			t.Errorf("ZoneLinkName(%q) = %q, nil; want an error", zone, got)
			continue
		}
		fmt.Fprintf(&report, "%q: %v\n", zone, err)
	}
	golden.Check(t, "testdata/ifname_zone_errors.golden", []byte(report.String()))
}

func TestValidIfname(t *testing.T) {
	for _, ok := range []string{"eth0", "ve-web", "vz-lan", "a", "123a", strings.Repeat("x", 15)} {
		if err := ValidIfname(ok); err != nil {
			t.Errorf("ValidIfname(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "123", strings.Repeat("x", 16), "a b", "a:b", "a/b", "a%b", "a\x7f"} {
		if err := ValidIfname(bad); err == nil {
			t.Errorf("ValidIfname(%q) = nil, want an error", bad)
		}
	}
}

func FuzzShortenIfname(f *testing.F) {
	for _, s := range []string{"", "ve-", "ve-0123456789ab", "ve-0123456789abc", "vb-rosa-2019.1-samba-server1", "ve-\xff\xfe日本語のマシン名"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := ShortenIfname(s)
		if len(got) > MaxIfnameLen {
			t.Fatalf("ShortenIfname(%q) = %q: %d bytes, want at most %d", s, got, len(got), MaxIfnameLen)
		}
		if IsShortened(s) {
			if len(got) != MaxIfnameLen || got[:11] != s[:11] || !strings.Contains(b64url, got[11:12]) {
				t.Fatalf("ShortenIfname(%q) = %q: want the first 11 bytes and 4 hash characters", s, got)
			}
		} else if got != s {
			t.Fatalf("ShortenIfname(%q) = %q, want it unchanged", s, got)
		}
		if ShortenIfname(s) != got {
			t.Fatalf("ShortenIfname(%q) is not deterministic", s)
		}
	})
}
