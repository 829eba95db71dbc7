package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nspawnctl/nspawnctl/internal/host"
	"github.com/nspawnctl/nspawnctl/machine/nebula"
)

func init() { registerCommand(newNebulaCmd) }

// nebulaPaths are where the nebula subcommands look; flags move them for
// tests and for hosts laid out differently.
type nebulaPaths struct{ nebula.Paths }

func (p *nebulaPaths) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&p.ConfigRoot, "config-root", nebula.ConfigRoot, "directory of the sidecars' configs")
	cmd.Flags().StringVar(&p.NetnsDir, "netns-dir", nebula.NetnsDir, "directory of the network namespace bind mounts")
}

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
			vers, err := nebula.ParseCAVersions(versions)
			if err != nil {
				return withCode(exitUsage, err)
			}
			crt, key, err := nebula.NewCA(name, duration, nets, splitList(groups), vers, time.Now(), rand.Reader)
			if err != nil {
				return withCode(exitUsage, err)
			}
			crtPath, keyPath, err := nebula.WriteCA(out, crt, key)
			if err != nil {
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
			if err := nebula.CheckSidecarVersion(ctx, name, paths.Config(name), bin); err != nil {
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
			if err := nebula.BindNetns(leader, paths.Netns(name)); err != nil {
				return fmt.Errorf("machine %s: %w", name, err)
			}
			fmt.Fprintf(a.stdout, "network namespace of machine %s (leader %d) at %s\n", name, leader, paths.Netns(name))
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
			if err := nebula.UnbindNetns(paths.Netns(args[0])); err != nil {
				return fmt.Errorf("machine %s: %w", args[0], err)
			}
			return nil
		},
	}
	paths.register(cmd)
	return cmd
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
			var sidecarState func(context.Context, string) (string, error)
			if bus, err := host.OpenBus(ctx); err == nil {
				defer bus.Close()
				if units, err := host.NewSystemdUnits(ctx, bus); err == nil {
					sidecarState = units.ActiveState
				}
			}
			st, err := nebula.ReadStatus(ctx, name, paths.Paths, sidecarState)
			if err != nil {
				return err
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
func writePeers(w io.Writer, st nebula.MachineStatus) {
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
