package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/nspawnctl/nspawnctl/internal/host"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/engine"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/machine/state"
	"github.com/nspawnctl/nspawnctl/nat"
	"github.com/nspawnctl/nspawnctl/networkd"
)

func init() {
	registerCommand(newCreateCmd)
	registerCommand(newStartCmd)
	registerCommand(newStopCmd)
	registerCommand(newRestartCmd)
	registerCommand(newRemoveCmd)
}

// hostFlags are the flags of every command that acts on the host.
type hostFlags struct {
	stateDir      string
	binary        string
	machineIDFile string
	timeout       time.Duration
}

func (f *hostFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.stateDir, "state-dir", resolve.DefaultStateDir, "where nspawnctl keeps its state")
	cmd.Flags().StringVar(&f.binary, "binary", "", "path of nspawnctl for unit hooks (default: this executable)")
	cmd.Flags().StringVar(&f.machineIDFile, "machine-id-file", networkd.MachineIDPath, "the host's machine id")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long to wait for systemd")
}

// manager opens one system-bus connection for systemd, machined and
// networkd and returns a Manager for the real host, with a function that
// closes that connection.
func (a *app) manager(ctx context.Context, f *hostFlags) (*engine.Manager, func(), error) {
	m, err := a.offlineManager(f)
	if err != nil {
		return nil, nil, err
	}
	bus, err := host.OpenBus(ctx)
	if err != nil {
		return nil, nil, err
	}
	units, err := host.NewSystemdUnits(ctx, bus)
	if err != nil {
		bus.Close()
		return nil, nil, err
	}
	m.Units, m.Machines, m.Networkd = units, host.NewMachined(bus), host.NewNetworkdBus(bus)
	return m, func() { bus.Close() }, nil
}

// offlineManager is a Manager without connections to systemd, machined and
// networkd: enough for what reads only the state directory and files
// (plan), so that it works where there is no system bus (a laptop, CI).
func (a *app) offlineManager(f *hostFlags) (*engine.Manager, error) {
	id, err := networkd.ReadMachineID(f.machineIDFile)
	if err != nil {
		return nil, err
	}
	bin := f.binary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("finding nspawnctl's own path for unit hooks: %w (pass --binary)", err)
		}
	}
	return &engine.Manager{
		FSRoot: "/", Store: &state.Store{Dir: f.stateDir},
		NAT:     nat.NewStore(f.stateDir),
		Traffic: nat.HostTraffic{Store: nat.NewStore(f.stateDir)},
		Binary:  bin, MachineID: id,
		HostPrefixes: host.Prefixes,
		Systemd:      networkd.SystemdVersion,
		LinkAddrs:    engine.NetlinkLinkAddrs,
		Run:          host.ExecRun(a.stderr),
		Progress:     a.terminal(),
		Out:          a.stderr,
	}, nil
}

// terminal returns stderr when it is a terminal, for progress lines that
// rewrite themselves; nil otherwise, so logs and pipes get no noise.
func (a *app) terminal() io.Writer {
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}

// onHost returns a cobra RunE that connects to the host's systemd,
// machined and networkd, bounded by --timeout, and runs fn with them.
func (a *app) onHost(hf *hostFlags, fn func(ctx context.Context, m *engine.Manager, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx, cancel := context.WithTimeout(cmd.Context(), hf.timeout)
		defer cancel()
		m, closeFn, err := a.manager(ctx, hf)
		if err != nil {
			return err
		}
		defer closeFn()
		return fn(ctx, m, args)
	}
}

// locked runs fn under the state lock.
func locked(m *engine.Manager, fn func() error) error {
	unlock, err := m.Store.Lock(lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

// lockWait bounds how long a command waits for another nspawnctl's state lock.
const lockWait = 2 * time.Minute

func newCreateCmd(a *app) *cobra.Command {
	var hf hostFlags
	var configs []string
	var start, force bool
	cmd := &cobra.Command{
		Use:   "create --config FILE [NAME] [--start]",
		Short: "Create a machine from a configuration file",
		Long: `create makes a machine of the configuration exist on this host: its root file
system (imported or bootstrapped when the configuration says so), its .nspawn file,
unit drop-in and networkd files, and its port forwards. NAME picks the machine when
the configuration has several, or renames the only one. A create that fails leaves
nothing behind.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(configs) == 0 {
				return withCode(exitUsage, fmt.Errorf("--config is required"))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), hf.timeout)
			defer cancel()
			src, err := a.readConfig(configs, nothingCreated)
			if err != nil {
				return err
			}
			name, err := pickMachine(src.Config, args)
			if err != nil {
				return withCode(exitUsage, err)
			}
			m, closeFn, err := a.manager(ctx, &hf)
			if err != nil {
				return err
			}
			defer closeFn()
			unlock, err := m.Store.Lock(lockWait)
			if err != nil {
				return err
			}
			r, err := a.resolveConfig(src, m.Resolve, nothingCreated)
			if err != nil {
				unlock()
				return err
			}
			err = m.Create(ctx, r, name, engine.CreateOptions{Ownership: state.OwnerImperative, Force: force, Start: start, ConfigFiles: src.Files})
			unlock() // the start below runs hooks that take the lock themselves
			if err != nil || !start {
				return err
			}
			return m.StartCreated(ctx, name, lockWait)
		},
	}
	hf.register(cmd)
	cmd.Flags().StringArrayVarP(&configs, "config", "c", nil, "configuration file or directory (repeatable)")
	cmd.Flags().BoolVar(&start, "start", false, "start the machine once it is created")
	cmd.Flags().BoolVar(&force, "force", false, "take over a machine of that name that exists already")
	return cmd
}

// pickMachine selects the machine to create: the NAME argument, or the only
// machine of the configuration. With one machine, NAME renames it.
func pickMachine(cfg *config.Config, args []string) (string, error) {
	switch {
	case len(args) == 0 && len(cfg.Machines) == 1:
		return cfg.Machines[0].Name, nil
	case len(args) == 0:
		return "", fmt.Errorf("the configuration declares %d machines; name the one to create", len(cfg.Machines))
	}
	for _, m := range cfg.Machines {
		if m.Name == args[0] {
			return args[0], nil
		}
	}
	if len(cfg.Machines) == 1 {
		cfg.Machines[0].Name = args[0]
		return args[0], nil
	}
	return "", fmt.Errorf("the configuration declares no machine %q", args[0])
}

// machineVerb builds start, stop, restart and remove, which differ only in
// what they call for each machine.
func machineVerb(a *app, use, short string, do func(ctx context.Context, m *engine.Manager, name string) error) *cobra.Command {
	hf := &hostFlags{}
	cmd := &cobra.Command{
		Use:   use + " NAME...",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: a.onHost(hf, func(ctx context.Context, m *engine.Manager, args []string) error {
			for _, name := range args {
				if err := do(ctx, m, name); err != nil {
					return err
				}
			}
			return nil
		}),
	}
	hf.register(cmd)
	return cmd
}

func newStartCmd(a *app) *cobra.Command {
	return machineVerb(a, "start", "Start machines (their forwards follow)", func(ctx context.Context, m *engine.Manager, n string) error { return m.Start(ctx, n) })
}

func newStopCmd(a *app) *cobra.Command {
	return machineVerb(a, "stop", "Stop machines (their forwards are removed)", func(ctx context.Context, m *engine.Manager, n string) error { return m.Stop(ctx, n) })
}

func newRestartCmd(a *app) *cobra.Command {
	return machineVerb(a, "restart", "Stop and start machines", func(ctx context.Context, m *engine.Manager, n string) error {
		if err := m.Stop(ctx, n); err != nil {
			return err
		}
		return m.Start(ctx, n)
	})
}

func newRemoveCmd(a *app) *cobra.Command {
	var keepRoot bool
	cmd := machineVerb(a, "remove", "Stop machines and delete everything nspawnctl made for them", func(ctx context.Context, m *engine.Manager, n string) error {
		return locked(m, func() error { return m.Remove(ctx, n, engine.RemoveOptions{KeepRoot: keepRoot}) })
	})
	cmd.Flags().BoolVar(&keepRoot, "keep-root", false, "keep a root file system that nspawnctl created")
	return cmd
}
