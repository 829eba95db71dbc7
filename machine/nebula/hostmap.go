package nebula

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
)

// Peer is one host in a sidecar's hostmap: a peer it has a tunnel with.
type Peer struct {
	// Addresses are the peer's overlay addresses (its certificate's).
	Addresses []string `json:"addresses"`
	// Name and Groups are from the peer's certificate.
	Name   string   `json:"name,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// Fingerprint is the peer certificate's fingerprint.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Remote is the underlay address the tunnel uses now ("" when it goes
	// through a relay); Remotes are every underlay address known for the peer.
	Remote  string   `json:"remote,omitempty"`
	Remotes []string `json:"remotes,omitempty"`
	// Relays are the relays through which the peer reaches this sidecar.
	Relays []string `json:"relays,omitempty"`
	// Messages is the tunnel's message counter: it grows with traffic.
	Messages uint64 `json:"messages"`
}

// hostInfo is one entry of `list-hostmap -json`, as nebula 1.6.1, 1.9.3 and
// 1.11 print it (testdata/hostmap): before 1.10 the overlay address is
// vpnIp and underlay addresses are {ip, port} objects; from 1.10 on,
// vpnAddrs and "ip:port" strings. Both are read.
type hostInfo struct {
	VpnIP          string        `json:"vpnIp"`
	VpnAddrs       []string      `json:"vpnAddrs"`
	RemoteAddrs    []underlay    `json:"remoteAddrs"`
	CurrentRemote  *underlay     `json:"currentRemote"`
	RelaysToMe     []string      `json:"currentRelaysToMe"`
	MessageCounter uint64        `json:"messageCounter"`
	Cert           *hostInfoCert `json:"cert"`
}

type hostInfoCert struct {
	Details struct {
		Name   string   `json:"name"`
		Groups []string `json:"groups"`
	} `json:"details"`
	Fingerprint string `json:"fingerprint"`
}

// underlay is an underlay address in either of nebula's JSON forms.
type underlay string

func (u *underlay) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		*u = underlay(s)
		return nil
	}
	var o struct {
		IP   string `json:"ip"`
		Port uint16 `json:"port"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return fmt.Errorf("an underlay address is neither \"ip:port\" nor {ip, port}: %s", b)
	}
	ip, err := netip.ParseAddr(o.IP)
	if err != nil {
		*u = underlay(o.IP + ":" + strconv.Itoa(int(o.Port)))
		return nil
	}
	*u = underlay(netip.AddrPortFrom(ip, o.Port).String())
	return nil
}

// ParseHostmap reads the output of the SSH debug console's
// `list-hostmap -json` of any supported nebula release, sorted by overlay address.
func ParseHostmap(out []byte) ([]Peer, error) {
	var hs []hostInfo
	if err := json.Unmarshal(out, &hs); err != nil {
		return nil, fmt.Errorf("nebula's list-hostmap -json printed something else than a host list: %w", err)
	}
	peers := make([]Peer, 0, len(hs))
	for _, h := range hs {
		p := Peer{Addresses: h.VpnAddrs, Relays: h.RelaysToMe, Messages: h.MessageCounter}
		if len(p.Addresses) == 0 && h.VpnIP != "" {
			p.Addresses = []string{h.VpnIP}
		}
		if h.CurrentRemote != nil {
			p.Remote = string(*h.CurrentRemote)
		}
		for _, r := range h.RemoteAddrs {
			p.Remotes = append(p.Remotes, string(r))
		}
		if h.Cert != nil {
			p.Name, p.Groups, p.Fingerprint = h.Cert.Details.Name, h.Cert.Details.Groups, h.Cert.Fingerprint
		}
		peers = append(peers, p)
	}
	slices.SortFunc(peers, func(a, b Peer) int { return compareFirst(a.Addresses, b.Addresses) })
	return peers, nil
}

func compareFirst(a, b []string) int {
	if len(a) == 0 || len(b) == 0 {
		return len(a) - len(b)
	}
	x, errx := netip.ParseAddr(a[0])
	y, erry := netip.ParseAddr(b[0])
	if errx == nil && erry == nil {
		return x.Compare(y)
	}
	if a[0] < b[0] {
		return -1
	}
	if a[0] > b[0] {
		return 1
	}
	return 0
}
