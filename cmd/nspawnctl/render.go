package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nspawnctl/nspawnctl/machine/engine"
	"github.com/nspawnctl/nspawnctl/machine/render"
)

func init() { registerCommand(newRenderCmd) }

func newRenderCmd(a *app) *cobra.Command {
	var cf configFlags
	var root, binary string
	var staticLeases bool
	cmd := &cobra.Command{
		Use:   "render --root DIR FILE|DIR...",
		Short: "Write every systemd artefact of a configuration under DIR, where it would go on a host",
		Long: `render validates the configuration and writes its .nspawn files, unit drop-ins,
host- and container-side networkd files under DIR, at the paths they would have on a
host (DIR/etc/systemd/nspawn/NAME.nspawn, ...). Nothing is written when the
configuration has errors. Files that already have the rendered content are left alone.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if root == "" {
				return withCode(exitUsage, fmt.Errorf("--root is required: render never writes to the host's own /etc; use nspawnctl create or apply for that"))
			}
			facts, err := cf.hostFacts()
			if err != nil {
				return err
			}
			r, err := a.loadConfig(args, facts)
			if err != nil {
				return err
			}
			arts, err := render.Render(r, render.RenderOptions{Binary: binary, MachineID: facts.MachineID, StaticLeases: staticLeases})
			if err != nil {
				return err
			}
			written, err := engine.WriteTree(root, arts)
			for _, w := range written {
				state := "unchanged"
				if w.Written {
					state = "written"
				}
				writeLine(a.stdout, fmt.Sprintf("%-9s %s", state, w.Path))
			}
			if err != nil {
				return err
			}
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&root, "root", "", "directory to write the artefacts under (required)")
	cmd.Flags().StringVar(&binary, "binary", render.DefaultBinary, "path of nspawnctl that unit hooks run")
	cmd.Flags().BoolVar(&staticLeases, "static-leases", true, "pin each veth container's IPv4 address with a DHCP static lease for its derived MAC")
	return cmd
}
