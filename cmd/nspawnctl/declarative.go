package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nspawnctl/nspawnctl/machine/engine"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/machine/state"
)

func init() {
	registerCommand(newPlanCmd)
	registerCommand(newApplyCmd)
	registerCommand(newGenerationsCmd)
	registerCommand(newRollbackCmd)
}

// refreshNAT re-applies a running machine's forwards from the NAT store, or
// removes them when the machine no longer has any (nat.Session.Refresh).
func (a *app) refreshNAT(stateDir string) func(name string) error {
	return func(name string) error {
		s, err := (&natEnv{a: a, state: stateDir}).open()
		if err != nil {
			return err
		}
		defer s.Close()
		return s.Refresh(name)
	}
}

// declared loads, resolves and plans a declared configuration under the state lock.
type declared struct {
	m        *engine.Manager
	resolved *resolve.Resolved
	plans    []*engine.MachinePlan
	files    []string
	unlock   func()
	closeFn  func()
}

func (d *declared) close() {
	if d.unlock != nil {
		d.unlock()
	}
	if d.closeFn != nil {
		d.closeFn()
	}
}

// declare loads, resolves and plans; online connects to systemd (apply
// needs it, plan does not).
func (a *app) declare(ctx context.Context, hf *hostFlags, paths []string, prune, force, online bool) (*declared, error) {
	src, err := a.readConfig(paths, nothingChanged)
	if err != nil {
		return nil, err
	}
	d := &declared{files: src.Files}
	if online {
		d.m, d.closeFn, err = a.manager(ctx, hf)
	} else {
		d.m, err = a.offlineManager(hf)
	}
	if err != nil {
		return nil, err
	}
	if d.unlock, err = d.m.Store.Lock(lockWait); err != nil {
		d.close()
		return nil, err
	}
	if d.resolved, err = a.resolveConfig(src, d.m.Resolve, nothingChanged); err != nil {
		d.close()
		return nil, err
	}
	if d.plans, err = d.m.Plan(ctx, d.resolved, prune, force); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// withDeclared returns a RunE that loads, resolves and plans the declared
// configuration named by the arguments under the state lock, bounded by
// --timeout, and runs fn with it.
func (a *app) withDeclared(hf *hostFlags, prune, force *bool, online bool, fn func(context.Context, *declared) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx, cancel := context.WithTimeout(cmd.Context(), hf.timeout)
		defer cancel()
		d, err := a.declare(ctx, hf, args, *prune, *force, online)
		if err != nil {
			return err
		}
		defer d.close()
		return fn(ctx, d)
	}
}

// printPlan shows a plan the way a reviewer reads it: one heading per
// machine with its action and activation, then each file with its diff.
func (a *app) printPlan(plans []*engine.MachinePlan, diffs bool) {
	for _, p := range plans {
		line := fmt.Sprintf("%s %s", planSymbol(p.Action), p.Name)
		switch p.Action {
		case engine.ActionCreate, engine.ActionUpdate:
			line += fmt.Sprintf(" (%s; running machine: %s)", p.Action, p.Activation)
		default:
			line += " (" + p.Action + ")"
		}
		writeLine(a.stdout, line)
		if p.Reason != "" {
			writeLine(a.stdout, "    "+p.Reason)
		}
		for _, f := range p.Files {
			writeLine(a.stdout, fmt.Sprintf("    %s %s [%s]", f.Kind, f.Path, f.Effect))
			if diffs && f.Diff != "" {
				for _, l := range strings.Split(strings.TrimRight(f.Diff, "\n"), "\n") {
					if strings.HasPrefix(l, "  ") && p.Action == engine.ActionUpdate {
						continue // unchanged context is noise in a plan
					}
					writeLine(a.stdout, "        "+l)
				}
			}
		}
		for _, n := range p.NAT {
			writeLine(a.stdout, "    nat "+n)
		}
	}
}

func planSymbol(action string) string {
	return map[string]string{
		engine.ActionCreate: "+", engine.ActionUpdate: "~", engine.ActionRemove: "-",
		engine.ActionUnchanged: "=", engine.ActionKeep: "!",
	}[action]
}

func newPlanCmd(a *app) *cobra.Command {
	var hf hostFlags
	var prune, force, asJSON bool
	cmd := &cobra.Command{
		Use:   "plan FILE|DIR...",
		Short: "Show what apply would create, change and remove, and whether machines restart",
		Args:  cobra.MinimumNArgs(1),
		Long: `plan compares the declared machines and zones with the host's state directory
and files and shows what apply would write, remove and restart. It needs no
connection to systemd, so a change can be reviewed anywhere the state directory
can be read. Whether a machine runs is not checked: "running machine: EFFECT"
says what apply does to it if it runs (a stopped machine only gets its files).`,
		RunE: a.withDeclared(&hf, &prune, &force, false, func(_ context.Context, d *declared) error {
			if asJSON {
				return a.writeJSON(d.plans)
			}
			a.printPlan(d.plans, true)
			return nil
		}),
	}
	hf.register(cmd)
	cmd.Flags().BoolVar(&prune, "prune", false, "show the removal of declaratively created machines that are no longer declared")
	cmd.Flags().BoolVar(&force, "force", false, "plan to take over machines made by nspawnctl create")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return cmd
}

func newApplyCmd(a *app) *cobra.Command {
	var hf hostFlags
	var prune, force bool
	cmd := &cobra.Command{
		Use:   "apply FILE|DIR...",
		Short: "Make the host match the declared machines and zones",
		Long: `apply creates and updates the declared machines, restarts or reloads running ones
as their activation strategy says, and with --prune removes machines an earlier apply
created that are no longer declared. Machines made with nspawnctl create, and machines
nspawnctl does not manage, are never changed without --force.`,
		Args: cobra.MinimumNArgs(1),
		RunE: a.withDeclared(&hf, &prune, &force, true, func(ctx context.Context, d *declared) error {
			a.printPlan(d.plans, false)
			// Starting and stopping runs the NAT hooks, which take the lock
			// of the NAT store, not this one; keeping ours serialises applies.
			return d.m.Apply(ctx, d.resolved, d.plans, engine.ApplyOptions{
				ConfigFiles: d.files, RefreshNAT: a.refreshNAT(hf.stateDir),
			})
		}),
	}
	hf.register(cmd)
	cmd.Flags().BoolVar(&prune, "prune", false, "remove declaratively created machines that are no longer declared")
	cmd.Flags().BoolVar(&force, "force", false, "take over machines made by nspawnctl create")
	return cmd
}

func newGenerationsCmd(a *app) *cobra.Command {
	var stateDir string
	cmd := &cobra.Command{
		Use:   "generations NAME",
		Short: "List the configurations a machine has had",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st := &state.Store{Dir: stateDir}
			rec, err := st.Load(args[0])
			if err != nil {
				return err
			}
			if rec == nil {
				return fmt.Errorf("machine %s is not managed by nspawnctl", args[0])
			}
			gens, err := st.Generations(args[0])
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "GENERATION\tDATE\tFORWARDS\tCURRENT")
			for _, g := range gens {
				cur := ""
				if g.Number == rec.Generation {
					cur = "*"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", g.Number, g.Time.Format(time.RFC3339), dash(strings.Join(g.Record.Forwards, ", ")), cur)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", resolve.DefaultStateDir, "where nspawnctl keeps its state")
	return cmd
}

func newRollbackCmd(a *app) *cobra.Command {
	var hf hostFlags
	var to int
	cmd := &cobra.Command{
		Use:   "rollback NAME [--to N]",
		Short: "Return a machine to its previous (or a given) generation",
		Args:  cobra.ExactArgs(1),
		RunE: a.onHost(&hf, func(ctx context.Context, m *engine.Manager, args []string) error {
			return locked(m, func() error { return m.Rollback(ctx, args[0], to, a.refreshNAT(hf.stateDir)) })
		}),
	}
	hf.register(cmd)
	cmd.Flags().IntVar(&to, "to", 0, "generation number (default: the one before the current)")
	return cmd
}
