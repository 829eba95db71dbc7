package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() { registerCommand(newValidateCmd) }

func newValidateCmd(a *app) *cobra.Command {
	var cf configFlags
	cmd := &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Check configuration files and report every problem with its location",
		Long: `validate parses and checks the given configuration files (*.hcl, *.hcl.json, or
directories of them) as one configuration, and prints each problem with its file,
line and column. It exits 0 when the configuration is valid, 3 when it is not.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			facts, err := cf.hostFacts()
			if err != nil {
				return err
			}
			r, err := a.loadConfig(args, facts)
			if err != nil {
				return err
			}
			writeLine(a.stdout, fmt.Sprintf("configuration is valid: %d machine(s), %d zone(s), %d bridge(s)", len(r.Machines), len(r.Zones), len(r.Bridges)))
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}
