package nebula

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/nspawnctl/nspawnctl/internal/unitfile"
)

// Where the sidecar's files live on the host. The directory is 0700 and every
// file in it 0600, root's: it holds the machine's private key. Nothing of it is
// inside the container's root file system; the sidecar gets config.yml through
// systemd's LoadCredential=, which copies it where only the sidecar's dynamic
// user can read it.
const (
	ConfigRoot = "/etc/nspawnctl/nebula"
	// NetnsDir holds one bind mount per running machine of its network
	// namespace, which the sidecar unit joins with NetworkNamespacePath=.
	NetnsDir = "/run/nspawnctl/netns"
	// DirMode and FileMode are the permissions of the directory and its files.
	DirMode  = 0o700
	FileMode = 0o600
	// DefaultDevice is the tun device inside the container.
	DefaultDevice = "nebula1"
	// DefaultLighthousePort is the UDP port a lighthouse listens on when
	// listen_port is not set: peers need a fixed port to reach it.
	DefaultLighthousePort = 4242
	// SidecarUnit and NetnsUnit are the template units' names.
	SidecarUnit = "nspawnctl-nebula@.service"
	NetnsUnit   = "nspawnctl-nebula-netns@.service"
	// UnmanagedNetworkPath is the file inside the container's root that keeps
	// the container's systemd-networkd off the tun device nebula owns. It
	// sorts before the container's own files (20-...) and distributions'
	// catch-alls (80-container-host0, 99-default).
	UnmanagedNetworkPath = "/etc/systemd/network/10-nspawnctl-nebula.network"
)

// Dir is the directory of machine's sidecar files on the host.
func Dir(machine string) string { return path.Join(ConfigRoot, machine) }

// ConfigPath is machine's nebula config (with the CA, certificate and key inline).
func ConfigPath(machine string) string { return path.Join(Dir(machine), "config.yml") }

// CertPath is machine's certificate, also kept apart so that status and
// renewal can read it without parsing YAML.
func CertPath(machine string) string { return path.Join(Dir(machine), "host.crt") }

// KeyPath is machine's private key, kept so that a renewed certificate keeps the key.
func KeyPath(machine string) string { return path.Join(Dir(machine), "host.key") }

// CAPath is the CA certificate machine's sidecar trusts.
func CAPath(machine string) string { return path.Join(Dir(machine), "ca.crt") }

// NetnsPath is where prepare bind-mounts machine's network namespace.
func NetnsPath(machine string) string { return path.Join(NetnsDir, machine) }

// Device is the tun device name cfg asks for.
func Device(cfg *Config) string {
	if cfg.Device != "" {
		return cfg.Device
	}
	return DefaultDevice
}

// ListenPort is the UDP port the sidecar binds inside the container.
func ListenPort(cfg *Config) int {
	switch {
	case cfg.ListenPort != nil:
		return *cfg.ListenPort
	case cfg.AmLighthouse:
		return DefaultLighthousePort
	}
	return 0
}

// RenderInput is what a nebula config is made of: the block, and the PEM
// material it embeds. Rendering is pure; reading and signing happen in
// Artifacts.
type RenderInput struct {
	Machine string
	Config  *Config
	// CA, Cert and Key are PEM: the CA certificate(s), the machine's
	// certificate and its X25519 private key.
	CA, Cert, Key []byte
}

// requiresPrefix starts the header line that records the oldest nebula the
// config is complete for; prepare checks the host's nebula against it at
// every start, so a downgrade cannot weaken the firewall unnoticed.
const requiresPrefix = "# nspawnctl-requires-nebula: "

// RenderConfig renders machine's nebula config.yml. Every string is written
// as a JSON string, which YAML reads as a double-quoted scalar, so no value
// can start a new key. Keys are only those that every nebula since
// MinVersion reads; newer keys are emitted only when the block uses them, and
// CheckVersion refuses them for a nebula that would ignore them.
func RenderConfig(in RenderInput) ([]byte, error) {
	c := in.Config
	if c == nil {
		return nil, fmt.Errorf("machine %s has no nebula block", in.Machine)
	}
	for what, pem := range map[string][]byte{"CA certificate": in.CA, "certificate": in.Cert, "key": in.Key} {
		if !bytes.Contains(pem, []byte("-----BEGIN ")) {
			return nil, fmt.Errorf("the nebula %s of machine %s is not PEM; check the files named in its nebula block", what, in.Machine)
		}
	}
	need, _ := Required(c)
	var b strings.Builder
	w := func(indent int, format string, args ...any) {
		b.WriteString(strings.Repeat("  ", indent))
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	w(0, "# Nebula config of machine %s (network %s), written by nspawnctl: edit the nebula block and apply, not this file.", q(in.Machine), q(c.Network))
	w(0, "%s%s", requiresPrefix, need)
	w(0, "pki:")
	pemBlock(&b, "ca", in.CA)
	pemBlock(&b, "cert", in.Cert)
	pemBlock(&b, "key", in.Key)

	if len(c.StaticHostMap) == 0 {
		w(0, "static_host_map: {}")
	} else {
		w(0, "static_host_map:")
		for _, k := range sortedKeys(c.StaticHostMap) {
			w(1, "%s: %s", q(k), list(c.StaticHostMap[k]))
		}
	}

	w(0, "lighthouse:")
	w(1, "am_lighthouse: %t", c.AmLighthouse)
	w(1, "interval: 60")
	if c.AmLighthouse || len(c.Lighthouses) == 0 {
		// A lighthouse does not query others; nebula warns about hosts on one.
		w(1, "hosts: []")
	} else {
		w(1, "hosts:")
		for _, h := range c.Lighthouses {
			w(2, "- %s", q(h))
		}
	}

	w(0, "listen:")
	// The wildcard IPv6 socket is dual-stack, so underlay peers may be
	// IPv4 or IPv6 (nebula's own default, 0.0.0.0, is IPv4 only).
	w(1, "host: %s", q("[::]"))
	w(1, "port: %d", ListenPort(c))

	punch := c.Punchy == nil || *c.Punchy
	w(0, "punchy:")
	w(1, "punch: %t", punch)
	w(1, "respond: %t", punch)

	mtu := 1300
	if c.MTU != nil {
		mtu = *c.MTU
	}
	w(0, "tun:")
	w(1, "disabled: false")
	w(1, "dev: %s", q(Device(c)))
	w(1, "drop_local_broadcast: false")
	w(1, "drop_multicast: false")
	w(1, "tx_queue: 500")
	w(1, "mtu: %d", mtu)
	w(1, "routes: []")
	w(1, "unsafe_routes: []")

	w(0, "logging:")
	w(1, "level: %s", q("info"))
	w(1, "format: %s", q("text"))

	w(0, "firewall:")
	w(1, "conntrack:")
	w(2, "tcp_timeout: %s", q("12m"))
	w(2, "udp_timeout: %s", q("3m"))
	w(2, "default_timeout: %s", q("10m"))
	outbound := c.Outbound
	if len(outbound) == 0 {
		// Nebula denies what no rule allows. With no outbound rule the
		// machine could not start any connection over the overlay, which is
		// never what a block without outbound rules means; inbound stays
		// closed unless rules open it.
		w(1, "# no outbound rule was given: everything outbound is allowed")
		outbound = []Rule{{Port: "any", Proto: "any", Host: "any"}}
	}
	rules(&b, "outbound", outbound)
	if len(c.Inbound) == 0 {
		w(1, "# no inbound rule was given: nothing is let in")
	}
	rules(&b, "inbound", c.Inbound)
	return []byte(b.String()), nil
}

func pemBlock(b *strings.Builder, key string, pem []byte) {
	fmt.Fprintf(b, "  %s: |\n", key)
	for _, l := range strings.Split(strings.TrimRight(string(pem), "\n"), "\n") {
		fmt.Fprintf(b, "    %s\n", l)
	}
}

func rules(b *strings.Builder, dir string, rs []Rule) {
	if len(rs) == 0 {
		fmt.Fprintf(b, "  %s: []\n", dir)
		return
	}
	fmt.Fprintf(b, "  %s:\n", dir)
	for _, r := range rs {
		kv := [][2]string{
			{"port", q(cmp.Or(r.Port, "any"))},
			{"proto", q(cmp.Or(r.Proto, "any"))},
		}
		add := func(k, v string) {
			if v != "" {
				kv = append(kv, [2]string{k, q(v)})
			}
		}
		add("host", r.Host)
		add("group", r.Group)
		if len(r.Groups) > 0 {
			kv = append(kv, [2]string{"groups", list(r.Groups)})
		}
		add("cidr", r.CIDR)
		add("ca_name", r.CAName)
		add("ca_sha", r.CASha)
		add("local_cidr", r.LocalCIDR)
		for i, e := range kv {
			lead := "      "
			if i == 0 {
				lead = "    - "
			}
			fmt.Fprintf(b, "%s%s: %s\n", lead, e[0], e[1])
		}
	}
}

// q quotes s as a JSON string, which YAML reads as the same string.
func q(s string) string {
	out, _ := json.Marshal(s)
	return string(out)
}

func list(ss []string) string {
	qs := make([]string, len(ss))
	for i, s := range ss {
		qs[i] = q(s)
	}
	return "[" + strings.Join(qs, ", ") + "]"
}

func sortedKeys(m map[string][]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sortStrings(ss []string) { sort.Strings(ss) }

func joinAnd(ss []string) string { return strings.Join(ss, "; ") }

// RequiredFromConfig reads the version a rendered config.yml records; the
// zero Version when it records none.
func RequiredFromConfig(content []byte) (Version, error) {
	for _, l := range strings.Split(string(content), "\n") {
		if v, ok := strings.CutPrefix(l, requiresPrefix); ok {
			return ParseVersion("Version: " + v)
		}
		if !strings.HasPrefix(l, "#") {
			break
		}
	}
	return Version{}, nil
}

// UnitOptions are the host paths the template units run.
type UnitOptions struct {
	// Binary is nspawnctl, for the namespace hooks.
	Binary string
	// Nebula is the nebula binary (FindBinary).
	Nebula string
}

// SidecarInstance names machine's instance of SidecarUnit.
func SidecarInstance(machine string) string { return strings.Replace(SidecarUnit, "@", "@"+machine, 1) }

// NetnsInstance names machine's instance of NetnsUnit.
func NetnsInstance(machine string) string { return strings.Replace(NetnsUnit, "@", "@"+machine, 1) }

// RenderUnits returns the two template units, keyed by name (SidecarUnit,
// NetnsUnit). They are the same for every machine: the instance name is the
// machine's, so several containers each get their own sidecar.
//
// Why two units: the sidecar joins the container's network namespace with
// NetworkNamespacePath=, and systemd opens that path before it runs any of
// the unit's commands, ExecStartPre=+ included. So the bind mount that makes
// the path exist must come from a unit that finishes before: the netns unit,
// a oneshot that asks machined for the container's leader, mounts
// /proc/LEADER/ns/net at NetnsPath and checks the host's nebula against the
// config. Both are bound to systemd-nspawn@NAME.service (BindsTo, PartOf,
// After): they start after the container is up and stop before it stops, so
// nebula never keeps a dead container's namespace alive.
func RenderUnits(opts UnitOptions) (map[string][]byte, error) {
	for what, p := range map[string]string{"nspawnctl": opts.Binary, "nebula": opts.Nebula} {
		if !path.IsAbs(p) {
			return nil, fmt.Errorf("the path of %s for the nebula sidecar units must be absolute, got %q", what, p)
		}
	}
	// %i, never %I: the instance is the machine name exactly as
	// systemd-nspawn@%i.service uses it, and %I would unescape it ("-"
	// becomes "/"), so machine "web-1" would look for "web/1".
	container := "systemd-nspawn@%i.service"
	netns := "nspawnctl-nebula-netns@%i.service"

	n := unitfile.New("Network namespace of container %i for its Nebula sidecar; written by nspawnctl.")
	n.Set("Unit", "Description", "Network namespace of container %i for its Nebula sidecar")
	n.Set("Unit", "BindsTo", container)
	n.Set("Unit", "PartOf", container)
	n.Set("Unit", "After", container)
	n.Set("Service", "Type", "oneshot")
	n.Bool("Service", "RemainAfterExit", true)
	n.Set("Service", "ExecStart", opts.Binary+" nebula prepare --nebula "+opts.Nebula+" %i")
	n.Set("Service", "ExecStop", opts.Binary+" nebula cleanup %i")
	netnsUnit, err := n.Bytes()
	if err != nil {
		return nil, err
	}

	s := unitfile.New(
		"Nebula mesh sidecar of container %i: nebula runs in the container's network namespace",
		"with only CAP_NET_ADMIN, as a dynamic user; written by nspawnctl.")
	s.Set("Unit", "Description", "Nebula mesh sidecar of container %i")
	s.Set("Unit", "Documentation", "man:nebula(1)")
	s.Set("Unit", "BindsTo", container, netns)
	s.Set("Unit", "PartOf", container)
	s.Set("Unit", "After", container, netns)
	s.Set("Service", "Type", "simple")
	s.Set("Service", "ExecStart", opts.Nebula+" -config %d/config.yml")
	// The key reaches the dynamic user only as a credential: a copy in
	// /run/credentials/%n that systemd makes readable by that user alone.
	s.Set("Service", "LoadCredential", "config.yml:"+ConfigRoot+"/%i/config.yml")
	s.Set("Service", "NetworkNamespacePath", NetnsDir+"/%i")
	s.Bool("Service", "DynamicUser", true)
	s.Set("Service", "AmbientCapabilities", "CAP_NET_ADMIN")
	s.Set("Service", "CapabilityBoundingSet", "CAP_NET_ADMIN")
	s.Bool("Service", "NoNewPrivileges", true)
	// Only the tun device; /dev/net/tun is 0666 on Debian and NixOS, so the
	// dynamic user may open it.
	s.Set("Service", "DevicePolicy", "closed")
	s.Set("Service", "DeviceAllow", "/dev/net/tun rw")
	s.Set("Service", "ProtectSystem", "strict")
	s.Bool("Service", "ProtectHome", true)
	s.Bool("Service", "PrivateTmp", true)
	s.Bool("Service", "ProtectKernelModules", true)
	s.Bool("Service", "ProtectControlGroups", true)
	s.Set("Service", "RestrictAddressFamilies", "AF_INET AF_INET6 AF_NETLINK AF_UNIX")
	s.Bool("Service", "LockPersonality", true)
	s.Bool("Service", "RestrictRealtime", true)
	s.Set("Service", "Restart", "on-failure")
	s.Set("Service", "RestartSec", "2s")
	sidecar, err := s.Bytes()
	if err != nil {
		return nil, err
	}
	return map[string][]byte{SidecarUnit: sidecar, NetnsUnit: netnsUnit}, nil
}

// dynamicUserPrefix starts every sidecar's user name; it is nspawnctl's own,
// so that no other unit's DynamicUser= (which shares a user by name) and no
// static account can end up with a sidecar's user.
const dynamicUserPrefix = "nspawnctl-nb"

// maxUserName is the longest user name systemd accepts for DynamicUser=
// (utmp's 32 bytes with the terminating NUL).
const maxUserName = 31

// DynamicUserName is the user machine's sidecar runs as. Each machine needs
// its own: without User=, systemd names a template's dynamic user after the
// template alone ("nspawnctl-nebula"), so every sidecar would share one uid,
// and that uid owns every sidecar's credential directory, i.e. every
// machine's private key. A name that fits systemd's rules for user names
// (letters, digits, "-", at most 31 bytes) is used as it is, for
// readability in ps and journals; others (dots, long names) are hashed. The
// hashed form joins with "_", which machine names cannot contain, so the two
// forms never collide.
func DynamicUserName(machine string) string {
	name := dynamicUserPrefix + "-" + machine
	if len(name) <= maxUserName && userNameRE.MatchString(name) {
		return name
	}
	sum := sha256.Sum256([]byte(machine))
	return dynamicUserPrefix + "_" + hex.EncodeToString(sum[:8])
}

var userNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_-]*$`)

// SidecarDropInPath is the per-machine drop-in of the sidecar unit in unitDir.
func SidecarDropInPath(unitDir, machine string) string {
	return path.Join(unitDir, "nspawnctl-nebula@"+machine+".service.d", "nspawnctl.conf")
}

// RenderSidecarDropIn renders the drop-in that gives machine's sidecar its
// own dynamic user (DynamicUserName). The template cannot: no specifier
// yields a valid, unique user name for every machine name.
func RenderSidecarDropIn(machine string) ([]byte, error) {
	b := unitfile.New(
		"The Nebula sidecar of machine "+machine+" runs as a dynamic user of its own, so that no other",
		"sidecar can read its credential (its private key); written by nspawnctl.")
	b.Set("Service", "User", DynamicUserName(machine))
	return b.Bytes()
}

// RenderUnmanagedNetwork renders the .network file for the container's root
// that tells its systemd-networkd to leave nebula's tun device alone: nebula
// sets its address and routes itself, and networkd would otherwise flush
// them (or wait for the link in systemd-networkd-wait-online).
func RenderUnmanagedNetwork(cfg *Config) ([]byte, error) {
	b := unitfile.New("Nebula's tun device belongs to the sidecar (nspawnctl-nebula@.service on the host); written by nspawnctl.")
	b.Set("Match", "Name", Device(cfg))
	b.Bool("Link", "Unmanaged", true)
	b.Bool("Link", "RequiredForOnline", false)
	return b.Bytes()
}
