package config

import "github.com/hashicorp/hcl/v2"

// Nebula is a machine's `nebula` block. Keys mirror Nebula's own config file
// (pki, static_host_map, lighthouse, listen, punchy, tun, firewall).
type Nebula struct {
	// Network names the overlay; machines with the same network share a CA.
	Network string `hcl:"network"`
	// CA is the path of the CA certificate (PEM) on the host.
	CA string `hcl:"ca"`
	// Cert and Key are paths of this machine's certificate and key; set both, or neither and CAKey.
	Cert string `hcl:"cert,optional"`
	Key  string `hcl:"key,optional"`
	// CAKey is the path of the CA's signing key; nspawnctl signs a certificate for the machine with it.
	CAKey string `hcl:"ca_key,optional"`
	// Address is the machine's overlay address in CIDR form (e.g. 10.42.0.5/24), when signing.
	Address string `hcl:"address,optional"`
	// Address6 is an IPv6 overlay address in CIDR form (e.g. fd42::5/64),
	// put into the certificate after Address. Only version 2 certificates
	// carry it (cert_version = 2, nebula 1.10 or later on every host).
	Address6 string `hcl:"address6,optional"`
	// CertVersion is the version of the certificate nspawnctl signs: 1
	// (default; every nebula reads it) or 2 (nebula 1.10 and later; IPv6,
	// several networks). nspawnctl refuses 2 on a host with an older nebula.
	CertVersion *int `hcl:"cert_version,optional"`
	// Duration is how long a signed certificate lives (a Go duration such
	// as "720h"); default: until one second before the CA expires.
	Duration string `hcl:"duration,optional"`
	// RenewBefore is how long before expiry apply and `nspawnctl nebula
	// renew` re-sign (default: a third of duration, or 30 days without one).
	RenewBefore string `hcl:"renew_before,optional"`
	// Pool is the overlay prefix an address is allocated from when signing without Address.
	Pool string `hcl:"pool,optional"`
	// Groups are put into a signed certificate and used by firewall rules.
	Groups []string `hcl:"groups,optional"`
	// Lighthouses lists the overlay addresses of the lighthouses.
	Lighthouses []string `hcl:"lighthouses,optional"`
	// AmLighthouse makes this machine a lighthouse.
	AmLighthouse bool `hcl:"am_lighthouse,optional"`
	// StaticHostMap maps overlay addresses to underlay "host:port" endpoints.
	StaticHostMap map[string][]string `hcl:"static_host_map,optional"`
	// ListenPort is the UDP port nebula listens on inside the container (0: random).
	ListenPort *int `hcl:"listen_port,optional"`
	// AdvertiseAddrs are underlay addresses ("IP" or "IP:PORT"; without a
	// port, ListenPort) where other hosts reach this sidecar: the host's own
	// addresses, whose UDP forward of the listen port leads to the container.
	// With them set, the container's own (NATed) addresses are not reported
	// to the lighthouses (lighthouse.local_allow_list).
	AdvertiseAddrs []string `hcl:"advertise_addrs,optional"`
	// AmRelay lets this sidecar relay traffic between peers that cannot
	// reach each other directly (relay.am_relay).
	AmRelay bool `hcl:"am_relay,optional"`
	// UseRelays lets this sidecar reach peers through their relays (relay.use_relays; default true).
	UseRelays *bool `hcl:"use_relays,optional"`
	// Relays are overlay addresses of relays through which peers may reach this sidecar (relay.relays).
	Relays []string `hcl:"relays,optional"`
	// Punchy enables NAT hole punching (punchy.punch and punchy.respond; default true).
	Punchy *bool `hcl:"punchy,optional"`
	// Device is the tun device name inside the container (default nebula1).
	Device string `hcl:"device,optional"`
	// MTU of the tun device (default 1300).
	MTU *int `hcl:"mtu,optional"`
	// Inbound and Outbound are firewall rules; Nebula denies what no rule allows.
	Inbound  []NebulaRule `hcl:"inbound,block"`
	Outbound []NebulaRule `hcl:"outbound,block"`

	Body     hcl.Body  `hcl:",body"`
	DefRange hcl.Range `hcl:",def_range"`
}

// NebulaRule is an `inbound` or `outbound` firewall rule. A rule matches when port
// AND proto AND (host OR group OR groups OR cidr) AND (ca_name OR ca_sha) match.
type NebulaRule struct {
	Port   string   `hcl:"port,optional"`  // any, N, or N-M (default any)
	Proto  string   `hcl:"proto,optional"` // any, tcp, udp or icmp (default any)
	Host   string   `hcl:"host,optional"`
	Group  string   `hcl:"group,optional"`
	Groups []string `hcl:"groups,optional"`
	CIDR   string   `hcl:"cidr,optional"`
	CAName string   `hcl:"ca_name,optional"`
	CASha  string   `hcl:"ca_sha,optional"`
	// LocalCIDR needs Nebula 1.7; older versions ignore it silently, so nspawnctl refuses it for them.
	LocalCIDR string `hcl:"local_cidr,optional"`

	Body     hcl.Body  `hcl:",body"`
	DefRange hcl.Range `hcl:",def_range"`
}
