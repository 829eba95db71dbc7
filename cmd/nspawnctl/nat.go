package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/vishvananda/netns"

	"github.com/nspawnctl/nspawnctl/internal/filelock"
	"github.com/nspawnctl/nspawnctl/internal/linediff"
	"github.com/nspawnctl/nspawnctl/nat"
)

func init() { registerCommand(newNatCmd) }

// natEnv is what every nat subcommand works on: the store, and the kernel
// of the host or of the namespace given with --netns.
type natEnv struct {
	a       *app
	netns   string
	state   string
	ns      netns.NsHandle
	applier *nat.Applier
	store   *nat.Store
	release func()
}

func (e *natEnv) open() error {
	// Hooks of machines starting at the same moment run concurrently, and
	// each reads the kernel's state before it sends its batch: take turns.
	// This lock is not the machine state's, which create, apply and remove
	// hold while systemd runs these hooks.
	release, err := filelock.Acquire(filepath.Join(e.state, "nat", "lock"), lockWait)
	if err != nil {
		return err
	}
	e.release = release
	e.store = nat.NewStore(e.state)
	e.ns = netns.None()
	if e.netns != "" {
		ns, err := netns.GetFromPath(e.netns)
		if err != nil {
			return withCode(exitUsage, fmt.Errorf("open network namespace %s: %w", e.netns, err))
		}
		e.ns = ns
	}
	conn, err := nat.NewConn(int(e.ns))
	if err != nil {
		return fmt.Errorf("open an nftables connection: %w", err)
	}
	e.applier = &nat.Applier{Conn: conn, Links: nat.NamespaceLinks{NS: e.ns}, Conntrack: nat.NamespaceConntrack{NS: e.ns},
		Warn: func(f string, args ...any) { fmt.Fprintf(e.a.stderr, "nspawnctl: warning: "+f+"\n", args...) }}
	return nil
}

func (e *natEnv) close() {
	if e.release != nil {
		e.release()
		e.release = nil
	}
	if e.ns.IsOpen() {
		e.ns.Close()
	}
}

// run wraps a subcommand body with opening and closing the environment.
func (e *natEnv) run(body func() error) func(*cobra.Command, []string) error {
	return func(*cobra.Command, []string) error {
		if err := e.open(); err != nil {
			return err
		}
		defer e.close()
		return body()
	}
}

// withMachine is run for the subcommands of one machine: body gets the
// stored definition of the machine the argument names.
func (e *natEnv) withMachine(body func(nat.Machine) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		return e.run(func() error {
			m, err := e.store.Load(args[0])
			if err != nil {
				return withCode(exitInvalid, err)
			}
			return body(m)
		})(c, args)
	}
}

func newNatCmd(a *app) *cobra.Command {
	e := &natEnv{a: a}
	cmd := &cobra.Command{
		Use:   "nat",
		Short: "Port forwards and outbound NAT in systemd's io.systemd.nat tables",
		Long: `Port forwards and outbound NAT in systemd's io.systemd.nat tables.

The desired state lives in STATEDIR/nat: NAME.json is a machine's definition,
NAME.up marks it as running. Only machines that are defined and up have
forwards in the kernel; "nat check" (the container unit's ExecStartPre
hook) refuses a start whose forwards conflict, before the container runs;
"nat up"/"nat down" (its ExecStartPost/ExecStopPost hooks) switch one machine, "nat apply" and
"nat restore" install exactly the running machines' forwards.`,
	}
	cmd.PersistentFlags().StringVar(&e.netns, "netns", "", "network namespace file to work in (default: the host's)")
	cmd.PersistentFlags().StringVar(&e.state, "state-dir", nat.DefaultStateDir, "nspawnctl's state directory")

	var from string
	apply := &cobra.Command{
		Use:   "apply",
		Short: "Install the running machines' forwards and outbound NAT, and nothing else of nspawnctl's",
		Args:  noArgs,
		RunE: e.run(func() error {
			if from != "" {
				ms, err := readMachines(from)
				if err != nil {
					return withCode(exitInvalid, err)
				}
				return applyErr(e.applier.Apply(ms))
			}
			ms, err := e.store.Active()
			if err != nil {
				return withCode(exitInvalid, err)
			}
			if err := applyErr(e.applier.Apply(ms)); err != nil {
				return err
			}
			return e.store.MarkAllUp(ms)
		}),
	}
	apply.Flags().StringVar(&from, "from", "", "apply the machines in this JSON file (an array) instead of the store")
	apply.Flags().Lookup("from").Hidden = true

	show := &cobra.Command{
		Use:   "show",
		Short: "Print nspawnctl's installed objects; exit 4 if they differ from the store",
		Args:  noArgs,
		RunE: e.run(func() error {
			ms, err := e.store.Active()
			if err != nil {
				return withCode(exitInvalid, err)
			}
			want, err := nat.Plan(ms)
			if err != nil {
				return withCode(exitInvalid, err)
			}
			have, err := e.applier.Installed()
			if err != nil {
				return err
			}
			fmt.Fprint(a.stdout, have.OwnText())
			if d := linediff.Unordered(have.OwnText(), want.OwnText()); d != "" {
				fmt.Fprintf(a.stdout, "\n# differs from the desired state (- installed, + desired; run \"nspawnctl nat apply\"):\n%s", d)
				return withCode(exitDiffers, errors.New(""))
			}
			return nil
		}),
	}

	restore := &cobra.Command{
		Use:   "restore",
		Short: "Re-install the running machines' forwards and outbound NAT after a firewall reload",
		Args:  noArgs,
		RunE: e.run(func() error {
			return applyErr(nat.Restore(e.applier, e.store))
		}),
	}

	flush := &cobra.Command{
		Use:   "flush",
		Short: "Remove all of nspawnctl's nft objects (never systemd's)",
		Args:  noArgs,
		RunE:  e.run(func() error { return e.applier.Flush() }),
	}

	up := &cobra.Command{
		Use:   "up NAME",
		Short: "Mark a machine running and install its forwards and outbound NAT (ExecStartPost hook)",
		Args:  oneArg,
		RunE: e.withMachine(func(m nat.Machine) error {
			// What the marker says was installed lets the change look up
			// only this machine's elements (nat.ReplaceMachine).
			if err := applyErr(e.applier.ReplaceMachine(e.store.InstalledDef(m.Name), m)); err != nil {
				return err
			}
			return e.store.MarkUp(m)
		}),
	}

	check := &cobra.Command{
		Use:   "check NAME",
		Short: "Refuse a machine's start if its forwards conflict (ExecStartPre hook); changes nothing",
		Args:  oneArg,
		RunE: e.withMachine(func(m nat.Machine) error {
			return applyErr(e.applier.CheckMachine(m))
		}),
	}

	down := &cobra.Command{
		Use:   "down NAME",
		Short: "Remove a machine's forwards and mark it stopped, keeping its definition (ExecStopPost hook)",
		Args:  oneArg,
		RunE: func(c *cobra.Command, args []string) error {
			return e.run(func() error {
				// The marker goes first: even if the kernel refuses, a
				// later restore must not bring a stopped machine back.
				// Without a marker, what is installed is unknown (say, nat
				// up was killed before it wrote one): read everything.
				var installed *nat.Machine
				if e.store.IsUp(args[0]) {
					installed = e.store.InstalledDef(args[0])
				}
				if err := e.store.SetUp(args[0], false); err != nil {
					return withCode(exitInvalid, err)
				}
				return e.applier.ReplaceMachine(installed, nat.Machine{Name: args[0]})
			})(c, args)
		},
	}

	cmd.AddCommand(show, apply, restore, flush, check, up, down)
	return cmd
}

// applyErr gives configuration errors (validation, conflicts) exit code 3.
func applyErr(err error) error {
	if err != nil && strings.HasPrefix(err.Error(), "machine ") {
		return withCode(exitInvalid, err)
	}
	return err
}

func noArgs(c *cobra.Command, args []string) error {
	if len(args) != 0 {
		return withCode(exitUsage, fmt.Errorf("%s takes no arguments", c.CommandPath()))
	}
	return nil
}

func oneArg(c *cobra.Command, args []string) error {
	if len(args) != 1 {
		return withCode(exitUsage, fmt.Errorf("%s takes one machine name", c.CommandPath()))
	}
	return nil
}

func readMachines(path string) ([]nat.Machine, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var ms []nat.Machine
	if err := json.Unmarshal(data, &ms); err != nil {
		return nil, fmt.Errorf("%s: want a JSON array of machines: %w", path, err)
	}
	return ms, nil
}
