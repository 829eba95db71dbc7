package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nspawnctl/nspawnctl/internal/host"
	"github.com/nspawnctl/nspawnctl/machine/engine"
	"github.com/nspawnctl/nspawnctl/machine/render"
)

func init() {
	registerCommand(newListCmd)
	registerCommand(newStatusCmd)
}

func newListCmd(a *app) *cobra.Command {
	var hf hostFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List managed machines and every other machine systemd-machined knows",
		Args:  cobra.NoArgs,
		RunE: a.onHost(&hf, func(ctx context.Context, m *engine.Manager, _ []string) error {
			list, err := m.List(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return a.writeJSON(list)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tMANAGED\tNETWORK\tLINK\tADDRESSES\tFORWARDS")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, dash(s.State), managed(s), dash(network(s)), dash(s.HostLink), dash(joinAddrs(s)), dash(strings.Join(s.Forwards, ", ")))
			}
			return tw.Flush()
		}),
	}
	hf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newStatusCmd(a *app) *cobra.Command {
	var hf hostFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status NAME [--json]",
		Short: "Show a machine's state, addresses, links, forwards and management",
		Args:  cobra.ExactArgs(1),
		RunE: a.onHost(&hf, func(ctx context.Context, m *engine.Manager, args []string) error {
			s, err := m.Status(ctx, args[0])
			if errors.Is(err, host.ErrNoMachine) {
				return fmt.Errorf("no machine %s: nspawnctl does not manage it and systemd-machined does not know it", args[0])
			}
			if err != nil {
				return err
			}
			if asJSON {
				return a.writeJSON(s)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			row := func(k, v string) {
				if k != "" {
					k += ":" // an empty key continues the row above
				}
				fmt.Fprintf(tw, "%s\t%s\n", k, dash(v))
			}
			row("Machine", s.Name)
			row("State", s.State)
			row("Managed", managed(s))
			if s.Incomplete {
				row("Note", "an earlier create of this machine did not finish; re-run it to finish, or nspawnctl remove "+s.Name)
			}
			if s.Leader != 0 {
				row("Leader", fmt.Sprint(s.Leader))
			}
			row("Root", s.RootDir)
			row("Network", network(s))
			link := s.HostLink
			if s.HostLinkAltName != "" {
				link += " (altname " + s.HostLinkAltName + ")"
			}
			row("Host link", link)
			row("Addresses", joinAddrs(s))
			if s.DelegatedLink != "" {
				row("Delegated prefix", delegated(s))
				row("Global address", strings.Join(strs(s.GlobalAddresses), ", "))
			}
			row("Forwards", strings.Join(s.Forwards, ", "))
			trafficRows(s.Traffic, row)
			row("Autostart", fmt.Sprint(s.Autostart))
			row("Unit", render.UnitName(s.Name))
			return tw.Flush()
		}),
	}
	hf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) writeJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// managed is the management of a machine, marked when its create did not finish.
func managed(s engine.Status) string {
	if s.Incomplete {
		return s.Managed + " (incomplete)"
	}
	return s.Managed
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func network(s engine.Status) string {
	switch {
	case s.Zone != "":
		return "zone " + s.Zone
	case s.Bridge != "":
		return "bridge " + s.Bridge
	}
	return s.Mode
}

func joinAddrs(s engine.Status) string {
	var out []string
	for _, a := range s.Addresses {
		out = append(out, a.String())
	}
	return strings.Join(out, " ")
}

// delegated says which /64s of the uplink's DHCPv6 prefix delegation the
// machine's link holds, or that it holds none yet.
func delegated(s engine.Status) string {
	if len(s.DelegatedPrefixes) == 0 {
		return "none on " + s.DelegatedLink + " yet (has the uplink a delegation? see nspawnctl doctor)"
	}
	return strings.Join(strs(s.DelegatedPrefixes), ", ") + " on " + s.DelegatedLink
}

func strs[T fmt.Stringer](vs []T) []string {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.String())
	}
	return out
}
