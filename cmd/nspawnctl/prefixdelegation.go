package main

import (
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nspawnctl/nspawnctl/networkd/renumber"
)

func init() { registerCommand(newPrefixDelegationCmd) }

func newPrefixDelegationCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prefix-delegation",
		Short: "DHCPv6 prefix delegation: the downstream links' renumbering helper",
	}
	var routerLifetime time.Duration
	watch := &cobra.Command{
		Use:   "deprecate-stale LINK",
		Short: "Announce prefixes removed from LINK with preferred lifetime 0 (run by nspawnctl-pd-deprecate@LINK.service)",
		Long: `When the uplink's delegated prefix changes, networkd removes the old subnet's
address from LINK and stops announcing it, but the containers' SLAAC addresses
stay preferred until the old lease's lifetimes run out. This command watches
LINK's addresses and, for each global /64 removed from it, sends router
advertisements for that prefix with preferred lifetime 0 and the remaining
valid lifetime (at most two hours), as RFC 9096 section 3.3 asks, so new
connections leave from the new prefix at once. It runs until stopped.`,
		Args: oneArg,
		RunE: func(c *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			link := args[0]
			events, err := renumber.Events(ctx, link)
			if err != nil {
				return fmt.Errorf("watching %s for removed delegated prefixes: %w", link, err)
			}
			w := &renumber.Watcher{
				Send:           renumber.LinkSender{Link: link},
				RouterLifetime: routerLifetime,
				Logf: func(format string, args ...any) {
					fmt.Fprintf(a.stderr, "%s: "+format+"\n", append([]any{link}, args...)...)
				},
			}
			fmt.Fprintf(a.stderr, "%s: watching for removed delegated prefixes\n", link)
			if err := w.Run(ctx, events); err != nil {
				return err
			}
			if ctx.Err() == nil {
				// The subscription broke (e.g. the socket overran): exit
				// non-zero so that Restart=on-failure starts a fresh one.
				return fmt.Errorf("%s: the kernel's address notifications ended; exiting so that systemd restarts the watcher", link)
			}
			return nil
		},
	}
	watch.Flags().DurationVar(&routerLifetime, "router-lifetime", renumber.DefaultRouterLifetime,
		"router lifetime of the advertisements: networkd's RouterLifetimeSec= on LINK")
	cmd.AddCommand(watch)
	return cmd
}
