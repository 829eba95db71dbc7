package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/nspawnctl/nspawnctl/machine/engine"
	"github.com/nspawnctl/nspawnctl/machine/nebula"
)

func newNebulaRenewCmd(a *app) *cobra.Command {
	var hf hostFlags
	var force bool
	cmd := &cobra.Command{
		Use:   "renew [NAME...] [--force]",
		Short: "Re-sign Nebula certificates that are in their renewal window (all machines without NAME)",
		Long: `renew re-signs the certificate of each machine's sidecar that nspawnctl signed
(ca_key) once it is within renew_before of its expiry (default: a third of
duration, or 30 days), with the same key, name, addresses and groups, and
restarts a running sidecar so that it loads it. Run it from a timer more often
than renew_before, e.g. hourly. Machines whose certificate was given (cert, key)
are skipped without NAME; with NAME they are an error that says what to do.`,
		RunE: a.onHost(&hf, func(ctx context.Context, m *engine.Manager, args []string) error {
			names := args
			if len(names) == 0 {
				all, err := m.NebulaMachines()
				if err != nil {
					return err
				}
				names = all
			}
			return locked(m, func() error {
				failed := 0
				for _, n := range names {
					r, err := m.RenewNebula(ctx, n, force)
					switch {
					case err != nil && len(args) == 0 && errors.Is(err, nebula.ErrGivenCert):
						continue
					case err != nil:
						fmt.Fprintf(a.stderr, "nspawnctl: %v\n", err)
						failed++
					case r == nil:
						fmt.Fprintf(a.stdout, "%s: not due\n", n)
					default:
						fmt.Fprintf(a.stdout, "%s: renewed, valid until %s (was %s)\n", n, r.NotAfter.UTC().Format(time.RFC3339), r.OldNotAfter.UTC().Format(time.RFC3339))
					}
				}
				if failed > 0 {
					return fmt.Errorf("renewing the nebula certificates of %d machine(s) failed; see above", failed)
				}
				return nil
			})
		}),
	}
	hf.register(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "re-sign even when not due")
	return cmd
}
