package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/nspawnctl/nspawnctl/nat"
)

func init() { registerCommand(newNatCmd) }

// natEnv is what every nat subcommand works on: a nat.Session on the store
// under --state-dir and the kernel of the host or of the namespace given
// with --netns.
type natEnv struct {
	a     *app
	netns string
	state string
}

// open opens the session of a subcommand; a --netns that cannot be opened
// is a usage error.
func (e *natEnv) open() (*nat.Session, error) {
	s, err := nat.Open(e.state, e.netns, lockWait, func(f string, args ...any) {
		fmt.Fprintf(e.a.stderr, "nspawnctl: warning: "+f+"\n", args...)
	})
	var nse *nat.NamespaceError
	if errors.As(err, &nse) {
		return nil, withCode(exitUsage, err)
	}
	return s, err
}

// run wraps a subcommand body with opening and closing the session; the
// body's errors about a machine's definition get exit code 3.
func (e *natEnv) run(body func(s *nat.Session, args []string) error) func(*cobra.Command, []string) error {
	return func(_ *cobra.Command, args []string) error {
		s, err := e.open()
		if err != nil {
			return err
		}
		defer s.Close()
		return natErr(body(s, args))
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
		RunE: e.run(func(s *nat.Session, _ []string) error {
			if from == "" {
				return s.ApplyActive()
			}
			ms, err := readMachines(from)
			if err != nil {
				return withCode(exitInvalid, err)
			}
			return s.Applier.Apply(ms)
		}),
	}
	apply.Flags().StringVar(&from, "from", "", "apply the machines in this JSON file (an array) instead of the store")
	apply.Flags().Lookup("from").Hidden = true

	show := &cobra.Command{
		Use:   "show",
		Short: "Print nspawnctl's installed objects; exit 4 if they differ from the store",
		Args:  noArgs,
		RunE: e.run(func(s *nat.Session, _ []string) error {
			installed, diff, err := s.Show()
			if err != nil {
				return err
			}
			fmt.Fprint(a.stdout, installed)
			if diff != "" {
				fmt.Fprintf(a.stdout, "\n# differs from the desired state (- installed, + desired; run \"nspawnctl nat apply\"):\n%s", diff)
				return withCode(exitDiffers, errors.New(""))
			}
			return nil
		}),
	}

	restore := &cobra.Command{
		Use:   "restore",
		Short: "Re-install the running machines' forwards and outbound NAT after a firewall reload",
		Args:  noArgs,
		RunE:  e.run(func(s *nat.Session, _ []string) error { return s.Restore() }),
	}

	flush := &cobra.Command{
		Use:   "flush",
		Short: "Remove all of nspawnctl's nft objects (never systemd's)",
		Args:  noArgs,
		RunE:  e.run(func(s *nat.Session, _ []string) error { return s.Applier.Flush() }),
	}

	up := &cobra.Command{
		Use:   "up NAME",
		Short: "Mark a machine running and install its forwards and outbound NAT (ExecStartPost hook)",
		Args:  oneArg,
		RunE:  e.run(func(s *nat.Session, args []string) error { return s.Up(args[0]) }),
	}

	check := &cobra.Command{
		Use:   "check NAME",
		Short: "Refuse a machine's start if its forwards conflict (ExecStartPre hook); changes nothing",
		Args:  oneArg,
		RunE:  e.run(func(s *nat.Session, args []string) error { return s.Check(args[0]) }),
	}

	down := &cobra.Command{
		Use:   "down NAME",
		Short: "Remove a machine's forwards and mark it stopped, keeping its definition (ExecStopPost hook)",
		Args:  oneArg,
		RunE:  e.run(func(s *nat.Session, args []string) error { return s.Down(args[0]) }),
	}

	cmd.AddCommand(show, apply, restore, flush, check, up, down)
	return cmd
}

// natErr gives errors in a machine's definition (validation, conflicts,
// a corrupt record: nat.MachineError) exit code 3.
func natErr(err error) error {
	if nat.IsMachineError(err) {
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
