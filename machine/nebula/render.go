package nebula

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

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

// Paths are where a host keeps its sidecars' files: the configs (one
// directory per machine under ConfigRoot) and the network namespace bind
// mounts (NetnsDir). DefaultPaths are the real ones; the nebula commands'
// flags move them for tests and for hosts laid out differently.
type Paths struct {
	ConfigRoot string
	NetnsDir   string
}

// DefaultPaths are ConfigRoot and NetnsDir.
var DefaultPaths = Paths{ConfigRoot: ConfigRoot, NetnsDir: NetnsDir}

// Dir is the directory of machine's sidecar files.
func (p Paths) Dir(machine string) string { return path.Join(p.ConfigRoot, machine) }

// Config is machine's nebula config (with the CA, certificate and key inline).
func (p Paths) Config(machine string) string { return path.Join(p.Dir(machine), "config.yml") }

// Cert is machine's certificate, also kept apart so that status and
// renewal can read it without parsing YAML.
func (p Paths) Cert(machine string) string { return path.Join(p.Dir(machine), "host.crt") }

// Key is machine's private key, kept so that a renewed certificate keeps the key.
func (p Paths) Key(machine string) string { return path.Join(p.Dir(machine), "host.key") }

// CA is the CA certificate machine's sidecar trusts.
func (p Paths) CA(machine string) string { return path.Join(p.Dir(machine), "ca.crt") }

// Netns is where prepare bind-mounts machine's network namespace.
func (p Paths) Netns(machine string) string { return path.Join(p.NetnsDir, machine) }

// Dir is DefaultPaths.Dir.
func Dir(machine string) string { return DefaultPaths.Dir(machine) }

// ConfigPath is DefaultPaths.Config.
func ConfigPath(machine string) string { return DefaultPaths.Config(machine) }

// CertPath is DefaultPaths.Cert.
func CertPath(machine string) string { return DefaultPaths.Cert(machine) }

// KeyPath is DefaultPaths.Key.
func KeyPath(machine string) string { return DefaultPaths.Key(machine) }

// CAPath is DefaultPaths.CA.
func CAPath(machine string) string { return DefaultPaths.CA(machine) }

// NetnsPath is DefaultPaths.Netns.
func NetnsPath(machine string) string { return DefaultPaths.Netns(machine) }

// RenderInput is what a nebula config is made of: the sidecar's settings,
// and the PEM material it embeds. Rendering is pure; reading and signing
// happen in Artifacts.
type RenderInput struct {
	Machine  string
	Settings *Settings
	// CA, Cert and Key are PEM: the CA certificate(s), the machine's
	// certificate and its X25519 private key.
	CA, Cert, Key []byte
	// Blocklist are certificate fingerprints nebula refuses (pki.blocklist).
	Blocklist []string
	// Console, when set, turns on nebula's SSH debug console with these
	// keys, for `nspawnctl nebula status` to list peers (console.go).
	Console *ConsoleKeys
}

// requiresPrefix starts the header line that records the oldest nebula the
// config is complete for; prepare checks the host's nebula against it at
// every start, so a downgrade cannot weaken the firewall unnoticed.
const requiresPrefix = "# nspawnctl-requires-nebula: "

// RenderConfig renders machine's nebula config.yml with a YAML encoder.
// Every string is a double-quoted scalar, so no value can start a new key.
// Keys are only those that every nebula since MinVersion reads; newer keys
// are emitted only when the block uses them, and CheckVersion refuses them
// for a nebula that would ignore them.
func RenderConfig(in RenderInput) ([]byte, error) {
	c := in.Settings
	if c == nil {
		return nil, fmt.Errorf("machine %s has no nebula block", in.Machine)
	}
	for _, p := range []struct {
		what string
		pem  []byte
	}{{"CA certificate", in.CA}, {"certificate", in.Cert}, {"key", in.Key}} {
		if !bytes.Contains(p.pem, []byte("-----BEGIN ")) {
			return nil, fmt.Errorf("the nebula %s of machine %s is not PEM; check the files named in its nebula block", p.what, in.Machine)
		}
	}
	need, _ := Required(c)
	root := ymap()

	pki := ymap()
	pki.set("ca", ypem(in.CA))
	pki.set("cert", ypem(in.Cert))
	pki.set("key", ypem(in.Key))
	if len(in.Blocklist) > 0 {
		pki.set("blocklist", ylist(in.Blocklist))
	}
	root.set("pki", pki.n)
	root.n.Content[0].HeadComment = fmt.Sprintf("# Nebula config of machine %s (network %s), written by nspawnctl: edit the nebula block and apply, not this file.\n%s%s", q(in.Machine), q(c.Network), requiresPrefix, need)

	hostMap := ymap()
	for _, k := range sortedAddrs(c.StaticHostMap) {
		hostMap.setQuoted(k.String(), ylist(c.StaticHostMap[k]))
	}
	root.set("static_host_map", hostMap.n)

	lh := ymap()
	lh.set("am_lighthouse", ybool(c.AmLighthouse))
	lh.set("interval", yint(60))
	if c.AmLighthouse {
		// A lighthouse does not query others; nebula warns about hosts on one.
		lh.set("hosts", ylist(nil))
	} else {
		lh.set("hosts", ylist(addrStrings(c.Lighthouses)))
		lh.n.Content[len(lh.n.Content)-1].Style = 0 // one host per line
	}
	if len(c.AdvertiseAddrs) > 0 {
		lh.set("advertise_addrs", ylist(addrStrings(c.AdvertiseAddrs)))
	}
	if allow := LocalAllowList(c); allow != nil {
		la := ymap()
		for _, k := range sortedBoolKeys(allow) {
			la.setQuoted(k, ybool(allow[k]))
		}
		lh.set("local_allow_list", la.n)
	}
	root.set("lighthouse", lh.n)

	listen := ymap()
	// The wildcard IPv6 socket is dual-stack, so underlay peers may be
	// IPv4 or IPv6 (nebula's own default, 0.0.0.0, is IPv4 only).
	listen.set("host", ystr("[::]"))
	listen.set("port", yint(c.ListenPort))
	root.set("listen", listen.n)

	punchy := ymap()
	punchy.set("punch", ybool(c.Punchy))
	punchy.set("respond", ybool(c.Punchy))
	root.set("punchy", punchy.n)

	if c.Relay != nil {
		relay := ymap()
		relay.set("am_relay", ybool(c.Relay.AmRelay))
		relay.set("use_relays", ybool(c.Relay.UseRelays))
		relay.set("relays", ylist(addrStrings(c.Relay.Relays)))
		root.set("relay", relay.n)
		// A tunnel whose peer went away (its sidecar restarted, its direct
		// path blocked) is only given up after nebula's dead-tunnel check:
		// no answer to a test packet sent connection_alive_interval after
		// the last inbound packet, within pending_deletion_interval. With
		// nebula's 5 + 10 s a peer fell back to the relay after 29-38 s in
		// TestNebulaMultiHost; 2 + 5 s keeps that recovery under 30 s. The
		// cost is a test packet per tunnel that sends without hearing back.
		timers := ymap()
		timers.set("connection_alive_interval", yint(deadTunnelCheck))
		timers.set("pending_deletion_interval", yint(deadTunnelWait))
		root.set("timers", timers.n)
	}

	tun := ymap()
	tun.set("disabled", ybool(false))
	tun.set("dev", ystr(c.Device))
	tun.set("drop_local_broadcast", ybool(false))
	tun.set("drop_multicast", ybool(false))
	tun.set("tx_queue", yint(500))
	tun.set("mtu", yint(c.MTU))
	tun.set("routes", ylist(nil))
	tun.set("unsafe_routes", ylist(nil))
	root.set("tun", tun.n)

	if in.Console != nil {
		sshd, err := consoleSection(in.Machine, *in.Console)
		if err != nil {
			return nil, err
		}
		root.set("sshd", sshd)
	}

	logging := ymap()
	logging.set("level", ystr("info"))
	logging.set("format", ystr("text"))
	root.set("logging", logging.n)

	fw := ymap()
	ct := ymap()
	ct.set("tcp_timeout", ystr("12m"))
	ct.set("udp_timeout", ystr("3m"))
	ct.set("default_timeout", ystr("10m"))
	fw.set("conntrack", ct.n)
	outbound := c.Outbound
	var outComment string
	if len(outbound) == 0 {
		// Nebula denies what no rule allows. With no outbound rule the
		// machine could not start any connection over the overlay, which is
		// never what a block without outbound rules means; inbound stays
		// closed unless rules open it.
		outComment = "# no outbound rule was given: everything outbound is allowed"
		outbound = []Rule{{Port: "any", Proto: "any", Host: "any"}}
	}
	fw.set("outbound", rules(outbound))
	fw.n.Content[len(fw.n.Content)-2].HeadComment = outComment
	fw.set("inbound", rules(c.Inbound))
	if len(c.Inbound) == 0 {
		fw.n.Content[len(fw.n.Content)-2].HeadComment = "# no inbound rule was given: nothing is let in"
	}
	root.set("firewall", fw.n)

	b, err := encodeYAML(root.n)
	if err != nil {
		return nil, fmt.Errorf("encoding the nebula config of machine %s: %w", in.Machine, err)
	}
	return b, nil
}

func encodeYAML(n *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// yamlMap builds a YAML mapping in the order its keys are set.
type yamlMap struct{ n *yaml.Node }

func ymap() yamlMap { return yamlMap{&yaml.Node{Kind: yaml.MappingNode}} }

func (m yamlMap) set(key string, v *yaml.Node) {
	m.setKey(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

// setQuoted sets a key that comes from the configuration: quoted, like
// every value from it.
func (m yamlMap) setQuoted(key string, v *yaml.Node) { m.setKey(ystr(key), v) }

func (m yamlMap) setKey(k, v *yaml.Node) {
	m.n.Content = append(m.n.Content, k, v)
	if v.Kind == yaml.MappingNode && len(v.Content) == 0 {
		v.Style = yaml.FlowStyle // {}
	}
}

// ystr is a double-quoted string: whatever it holds, it stays one value.
func ystr(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
}

func yint(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}

func ybool(v bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)}
}

// ylist is a flow sequence of strings: ["a", "b"], or [].
func ylist(ss []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range ss {
		n.Content = append(n.Content, ystr(s))
	}
	return n
}

// ypem is a literal block: PEM keeps its lines.
func ypem(pem []byte) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: strings.TrimRight(string(pem), "\n") + "\n", Style: yaml.LiteralStyle}
}

// rules is a firewall rule list.
func rules(rs []Rule) *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	if len(rs) == 0 {
		seq.Style = yaml.FlowStyle // []
	}
	for _, r := range rs {
		m := ymap()
		m.set("port", ystr(r.Port))
		m.set("proto", ystr(r.Proto))
		add := func(k, v string) {
			if v != "" {
				m.set(k, ystr(v))
			}
		}
		add("host", r.Host)
		add("group", r.Group)
		if len(r.Groups) > 0 {
			m.set("groups", ylist(r.Groups))
		}
		if r.CIDR.IsValid() {
			add("cidr", r.CIDR.String())
		}
		add("ca_name", r.CAName)
		add("ca_sha", r.CASha)
		if r.LocalCIDR.IsValid() {
			add("local_cidr", r.LocalCIDR.String())
		}
		seq.Content = append(seq.Content, m.n)
	}
	return seq
}

// q quotes s as a JSON string, for names in comments and messages.
func q(s string) string {
	out, _ := json.Marshal(s)
	return string(out)
}

// sortedAddrs are the keys of m in the order of their text, the order
// static_host_map has in every config nspawnctl rendered (so 10.0.0.10
// comes before 10.0.0.9): a new order would restart every sidecar.
func sortedAddrs(m map[netip.Addr][]string) []netip.Addr {
	ks := make([]netip.Addr, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].String() < ks[j].String() })
	return ks
}

// addrStrings formats addresses (netip.Addr, netip.AddrPort) for the config.
func addrStrings[T fmt.Stringer](as []T) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

func sortStrings(ss []string) { sort.Strings(ss) }

func joinAnd(ss []string) string { return strings.Join(ss, "; ") }

// RequiredFromConfig reads the version a rendered config.yml records in
// its header comment; the zero Version when it records none.
func RequiredFromConfig(content []byte) (Version, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return Version{}, fmt.Errorf("reading the nebula config: %w", err)
	}
	for _, l := range strings.Split(headerComment(&doc), "\n") {
		if v, ok := strings.CutPrefix(l, requiresPrefix); ok {
			return ParseVersion("Version: " + v)
		}
	}
	return Version{}, nil
}

// headerComment is the comment above a YAML document's first key. The
// decoder attaches it to the document, the root mapping or that key,
// depending on the blank lines after it; RenderConfig writes it on the key.
func headerComment(doc *yaml.Node) string {
	parts := []string{doc.HeadComment}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		parts = append(parts, root.HeadComment)
		if root.Kind == yaml.MappingNode && len(root.Content) > 0 {
			parts = append(parts, root.Content[0].HeadComment)
		}
	}
	return strings.Join(parts, "\n")
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
	// The console's host key, a file for nebula 1.6.1, which reads no inline key.
	b.Set("Service", "LoadCredential", ConsoleCredential+":"+ConsoleHostKeyPath(machine))
	return b.Bytes()
}

// RenderUnmanagedNetwork renders the .network file for the container's root
// that tells its systemd-networkd to leave nebula's tun device (device,
// Settings.Device) alone: nebula sets its address and routes itself, and
// networkd would otherwise flush them (or wait for the link in
// systemd-networkd-wait-online).
func RenderUnmanagedNetwork(device string) ([]byte, error) {
	b := unitfile.New("Nebula's tun device belongs to the sidecar (nspawnctl-nebula@.service on the host); written by nspawnctl.")
	b.Set("Match", "Name", device)
	b.Bool("Link", "Unmanaged", true)
	b.Bool("Link", "RequiredForOnline", false)
	return b.Bytes()
}
