package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nspawnctl/nspawnctl/internal/host"
	"github.com/nspawnctl/nspawnctl/machine/doctor"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/nat"
)

func init() { registerCommand(newDoctorCmd) }

// doctorHost is the host view doctor runs against, with the function that
// releases it; tests replace it. Its probes of systemd and networkd share
// one system-bus connection, as every other command's D-Bus calls do;
// without a bus those probes report why and the others still run.
var doctorHost = func(ctx context.Context) (doctor.HostView, func()) {
	bus, err := host.OpenBus(ctx)
	if err != nil {
		return doctor.NewSystem(nil, err), func() {}
	}
	return doctor.NewSystem(bus, nil), func() { bus.Close() }
}

func newDoctorCmd(a *app) *cobra.Command {
	var cf configFlags
	var asJSON bool
	var stateDir string
	cmd := &cobra.Command{
		Use:   "doctor [FILE|DIR...] [--json]",
		Short: "Check that the host has what systemd-nspawn container networking needs",
		Long: `doctor checks the host against what container networking needs: systemd-networkd
running and managing the ve-/vz-/vb- links (and no other network manager taking
them), IPv4 and IPv6 forwarding, a host firewall that accepts DNS, DHCP and LLMNR
from container links, nss-mymachines, a firewall reload that cannot silently wipe
the port forwards and outbound NAT, the running machines' forwards and outbound
NAT actually in the kernel, and a systemd recent enough for what the
configuration uses.
Given configuration files, it also checks the features they use and warns about
port forwards open to every source (they bypass the host's input firewall).

Each failed check says what to change. doctor exits 0 when no check failed
(warnings allowed) and 1 when one did.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts doctor.Options
			if len(args) > 0 {
				facts, err := cf.hostFacts()
				if err != nil {
					return err
				}
				if opts.Config, err = a.loadConfig(args, facts); err != nil {
					return err
				}
			} else if ms, err := nat.NewStore(stateDir).List(); err == nil {
				// Without configuration, the forwards nspawnctl installed.
				opts.Forwards = ms
			}
			if ms, err := nat.NewStore(stateDir).Active(); err == nil {
				opts.Running = ms
			}
			h, closeFn := doctorHost(cmd.Context())
			defer closeFn()
			r := doctor.Run(h, opts)
			if asJSON {
				if _, err := a.stdout.Write(r.JSON()); err != nil {
					return err
				}
			} else if err := r.WriteText(a.stdout); err != nil {
				return err
			}
			if r.Failed() {
				return withCode(exitFailure, fmt.Errorf("%d check(s) failed; each says what to change", r.Count(doctor.StatusFail)))
			}
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&stateDir, "state-dir", resolve.DefaultStateDir, "where nspawnctl keeps its state (for the installed port forwards)")
	return cmd
}
