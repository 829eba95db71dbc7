package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nspawnctl/nspawnctl/internal/host"
	"github.com/nspawnctl/nspawnctl/machine/nebula"
)

func init() { registerCommand(newNebulaCmd) }

// nebulaPaths are where the nebula subcommands look; flags move them for
// tests and for hosts laid out differently.
type nebulaPaths struct {
	configRoot string
	netnsDir   string
}

func (p *nebulaPaths) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.configRoot, "config-root", nebula.ConfigRoot, "directory of the sidecars' configs")
	cmd.Flags().StringVar(&p.netnsDir, "netns-dir", nebula.NetnsDir, "directory of the network namespace bind mounts")
}

func (p *nebulaPaths) config(name string) string {
	return filepath.Join(p.configRoot, name, "config.yml")
}
func (p *nebulaPaths) cert(name string) string  { return filepath.Join(p.configRoot, name, "host.crt") }
func (p *nebulaPaths) netns(name string) string { return filepath.Join(p.netnsDir, name) }

func newNebulaCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "nebula",
		Short: "Nebula mesh sidecars: CA, status, and the sidecar unit's hooks",
	}
	ca := &cobra.Command{Use: "ca", Short: "Nebula certificate authorities"}
	ca.AddCommand(newNebulaCAInitCmd(a))
	cmd.AddCommand(ca, newNebulaPrepareCmd(a), newNebulaCleanupCmd(a), newNebulaStatusCmd(a), newNebulaRenewCmd(a))
	return cmd
}

func newNebulaCAInitCmd(a *app) *cobra.Command {
	var name, out, networks, groups, versions string
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "init --name NAME --out DIR",
		Short: "Create a Nebula CA (ed25519; version 1 by default, readable by nebula 1.6 and later)",
		Long: `Create a Nebula certificate authority in DIR: ca.crt (0644) and ca.key (0600).
Point a nebula block's ca and ca_key at them, and nspawnctl signs each machine's
certificate. Existing files are never overwritten.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if name == "" || out == "" {
				return withCode(exitUsage, errors.New("nebula ca init needs --name and --out"))
			}
			var nets []netip.Prefix
			for _, s := range splitList(networks) {
				p, err := netip.ParsePrefix(s)
				if err != nil {
					return withCode(exitUsage, fmt.Errorf("--networks: %q is not a CIDR prefix (e.g. 10.42.0.0/16)", s))
				}
				nets = append(nets, p.Masked())
			}
			crtPath, keyPath := filepath.Join(out, "ca.crt"), filepath.Join(out, "ca.key")
			for _, p := range []string{crtPath, keyPath} {
				if _, err := os.Lstat(p); err == nil {
					return fmt.Errorf("%s exists already; nspawnctl does not overwrite a CA (move it away, or choose another --out)", p)
				}
			}
			vers, err := nebula.ParseCAVersions(versions)
			if err != nil {
				return withCode(exitUsage, err)
			}
			crt, key, err := nebula.NewCA(name, duration, nets, splitList(groups), vers, time.Now(), rand.Reader)
			if err != nil {
				return withCode(exitUsage, err)
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return fmt.Errorf("creating %s: %w", out, err)
			}
			if err := writeNew(keyPath, key, 0o600); err != nil {
				return err
			}
			if err := writeNew(crtPath, crt, 0o644); err != nil {
				os.Remove(keyPath)
				return err
			}
			fmt.Fprintf(a.stdout, "created Nebula CA %q valid until %s:\n  %s\n  %s (keep it secret; it signs machines into the overlay)\n",
				name, time.Now().Add(duration).UTC().Format(time.RFC3339), crtPath, keyPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the CA's name (shown in certificates)")
	cmd.Flags().StringVar(&out, "out", "", "directory for ca.crt and ca.key")
	cmd.Flags().DurationVar(&duration, "duration", 365*24*time.Hour, "how long the CA is valid; machine certificates end with it")
	cmd.Flags().StringVar(&networks, "networks", "", "comma-separated IPv4 prefixes the CA may sign addresses in (default: any)")
	cmd.Flags().StringVar(&groups, "groups", "", "comma-separated groups the CA may sign (default: any)")
	cmd.Flags().StringVar(&versions, "version", "1", "certificate versions: 1 (every nebula), 2 (nebula 1.10+, IPv6), or 1,2 (a bundle, to migrate a network)")
	return cmd
}

// writeNew creates path exclusively, so that a racing second run cannot
// replace a key the first one handed out.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func newNebulaPrepareCmd(a *app) *cobra.Command {
	var paths nebulaPaths
	var bin string
	var leader int
	var timeout time.Duration
	var tunPath string
	cmd := &cobra.Command{
		Use:   "prepare NAME",
		Short: "Bind-mount a running machine's network namespace for its Nebula sidecar (ExecStart of nspawnctl-nebula-netns@NAME.service)",
		Long: `Check that the host's nebula implements everything machine NAME's config uses,
ask systemd-machined for the machine's leader process, and bind-mount its
network namespace at ` + nebula.NetnsDir + `/NAME, where the sidecar unit joins it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := nebula.CheckSidecarVersion(ctx, name, paths.config(name), bin); err != nil {
				return err
			}
			if err := nebula.CheckTun(tunPath); err != nil {
				return fmt.Errorf("machine %s: %w", name, err)
			}
			if leader == 0 {
				bus, err := host.OpenBus(ctx)
				if err != nil {
					return err
				}
				defer bus.Close()
				info, err := host.NewMachined(bus).Info(ctx, name)
				if err != nil {
					return fmt.Errorf("finding the leader of machine %s in systemd-machined: %w; start the machine first", name, err)
				}
				if info.Leader == 0 {
					return fmt.Errorf("systemd-machined reports no leader process for machine %s (state %s); start it again", name, info.State)
				}
				leader = int(info.Leader)
			}
			if err := nebula.BindNetns(leader, paths.netns(name)); err != nil {
				return fmt.Errorf("machine %s: %w", name, err)
			}
			fmt.Fprintf(a.stdout, "network namespace of machine %s (leader %d) at %s\n", name, leader, paths.netns(name))
			return nil
		},
	}
	paths.register(cmd)
	cmd.Flags().StringVar(&bin, "nebula", "", "the nebula the sidecar runs (default: nebula on PATH)")
	cmd.Flags().IntVar(&leader, "leader", 0, "the machine's leader PID, instead of asking systemd-machined")
	cmd.Flags().StringVar(&tunPath, "tun", nebula.TunPath, "the tun device the sidecar's user must be able to open")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for nebula and machined")
	return cmd
}

func newNebulaCleanupCmd(a *app) *cobra.Command {
	var paths nebulaPaths
	cmd := &cobra.Command{
		Use:   "cleanup NAME",
		Short: "Remove the network namespace bind mount of machine NAME (ExecStop of nspawnctl-nebula-netns@NAME.service)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := nebula.UnbindNetns(paths.netns(args[0])); err != nil {
				return fmt.Errorf("machine %s: %w", args[0], err)
			}
			return nil
		},
	}
	paths.register(cmd)
	return cmd
}

// nebulaStatus is what status shows.
type nebulaStatus struct {
	Machine   string    `json:"machine"`
	Sidecar   string    `json:"sidecar"`
	Address   string    `json:"address,omitempty"`
	Groups    []string  `json:"groups,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
	Device    string    `json:"device,omitempty"`
	LinkState string    `json:"link_state,omitempty"`
	LinkAddrs []string  `json:"link_addresses,omitempty"`
	// Peers are the sidecar's tunnels, from nebula's console; PeersNote
	// says why there are none to show when the console did not answer.
	Peers     []nebula.Peer `json:"peers"`
	PeersNote string        `json:"peers_note,omitempty"`
}

func newNebulaStatusCmd(a *app) *cobra.Command {
	var paths nebulaPaths
	var asJSON bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status NAME [--json]",
		Short: "Show machine NAME's overlay address, certificate expiry, sidecar, tun device and peers",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			st := nebulaStatus{Machine: name, Sidecar: "unknown", Peers: []nebula.Peer{}}
			crt, err := os.ReadFile(paths.cert(name))
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("machine %s has no nebula sidecar (%s is missing); give it a nebula block and apply", name, paths.cert(name))
			}
			if err != nil {
				return fmt.Errorf("reading the nebula certificate of machine %s: %w", name, err)
			}
			hc, err := nebula.ParseHostCert(crt)
			if err != nil {
				return fmt.Errorf("the nebula certificate %s of machine %s: %w; re-apply to re-sign it", paths.cert(name), name, err)
			}
			st.Address, st.Groups, st.Issuer, st.Expires = hc.Address.String(), hc.Groups, hc.Issuer, hc.NotAfter
			if caPEM, err := os.ReadFile(filepath.Join(paths.configRoot, name, "ca.crt")); err == nil {
				if ca, err := nebula.ParseCA(caPEM, nil, "ca.crt", ""); err == nil {
					if fp, err := ca.Cert.Fingerprint(); err == nil && fp == hc.Issuer {
						st.Issuer = fmt.Sprintf("CA %q (%.16s)", ca.Cert.Name(), fp)
					}
				}
			}
			if conf, err := os.ReadFile(paths.config(name)); err == nil {
				st.Device = nebula.DeviceFromConfig(conf)
			}
			if bus, err := host.OpenBus(ctx); err == nil {
				if units, err := host.NewSystemdUnits(ctx, bus); err == nil {
					if s, err := units.ActiveState(ctx, "nspawnctl-nebula@"+name+".service"); err == nil {
						st.Sidecar = s
					}
				}
				bus.Close()
			}
			if st.Device != "" {
				st.LinkState, st.LinkAddrs = nebula.LinkIn(paths.netns(name), st.Device)
			}
			if peers, err := nebula.QueryMachinePeers(ctx, filepath.Join(paths.configRoot, name), paths.netns(name)); err != nil {
				st.PeersNote = nebula.PeersNote(name, err)
			} else {
				st.Peers = peers
			}
			if asJSON {
				return a.writeJSON(st)
			}
			left := time.Until(st.Expires).Round(time.Hour)
			fmt.Fprintf(a.stdout, "machine:     %s\nsidecar:     %s\naddress:     %s\ngroups:      %s\ncertificate: issued by %s, expires %s (in %s)\n",
				st.Machine, st.Sidecar, st.Address, strings.Join(st.Groups, ", "), st.Issuer, st.Expires.UTC().Format(time.RFC3339), left)
			fmt.Fprintf(a.stdout, "device:      %s %s %s\n", dash(st.Device), dash(st.LinkState), strings.Join(st.LinkAddrs, " "))
			writePeers(a.stdout, st)
			return nil
		},
	}
	paths.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for systemd")
	return cmd
}

// writePeers prints one line per peer: overlay address, name, the underlay
// address in use (or the relay), and the message counter.
func writePeers(w io.Writer, st nebulaStatus) {
	if st.PeersNote != "" {
		fmt.Fprintf(w, "peers:       %s\n", st.PeersNote)
		return
	}
	if len(st.Peers) == 0 {
		fmt.Fprintln(w, "peers:       none (no tunnel yet; nebula opens one on the first packet to a peer)")
		return
	}
	fmt.Fprintln(w, "peers:       (handshake times are not reported by nebula's console)")
	for _, p := range st.Peers {
		via := p.Remote
		if via == "" && len(p.Relays) > 0 {
			via = "relay " + strings.Join(p.Relays, ",")
		}
		fmt.Fprintf(w, "  %-18s %-16s via %-24s groups %s, %d messages\n", strings.Join(p.Addresses, ","), p.Name, dash(via), dash(strings.Join(p.Groups, ",")), p.Messages)
	}
}
