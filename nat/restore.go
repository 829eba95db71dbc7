package nat

import (
	"errors"
	"fmt"

	"github.com/nspawnctl/nspawnctl/internal/unitfile"
)

// Restore re-applies the store's active machines after "nft flush ruleset"
// wiped io.systemd.nat: everything the plan holds for them comes back in one
// batch, forwards, hairpin, localhost and the outbound NAT of their networks
// (nspawnctl_masq; networkd's own masq_saddr entries do not come back, see
// README.md "Outbound NAT"). It then records each machine's definition as
// installed, for the next "nat up" or "nat down".
//
// A machine whose record the plan refuses (a conflict with another one) is
// left out, so that it does not keep every other machine's forwards and
// outbound NAT out of the kernel; the error names it.
func Restore(a *Applier, st *Store) error {
	ms, err := st.Active()
	if err != nil {
		return err
	}
	var refused []error
	if _, err := Plan(ms); err != nil {
		var ok []Machine
		for _, m := range ms {
			if _, err := Plan(append(ok, m)); err != nil {
				refused = append(refused, err)
				continue
			}
			ok = append(ok, m)
		}
		ms = ok
	}
	if err := a.Apply(ms); err != nil {
		return err
	}
	if err := st.MarkAllUp(ms); err != nil {
		return err
	}
	if len(refused) > 0 {
		// %v, not %w: the machines that are in are installed, so this is
		// not a refused configuration (MachineError) but a partial success.
		return fmt.Errorf("restored %d machine(s), left out: %v", len(ms), errors.Join(refused...))
	}
	return nil
}

// RestoreUnit renders nspawnctl-nat-restore.service, which runs "nat
// restore" whenever nftables.service (re)starts or reloads, since those run
// "flush ruleset" and so wipe io.systemd.nat, and once at boot. It is
// installed and enabled with the first machine that needs anything in
// io.systemd.nat (a forward or outbound NAT) and removed with the last.
func RestoreUnit(binaryPath string) ([]byte, error) {
	cmd := unitfile.ExecPath(binaryPath) + " nat restore"
	b := unitfile.New(
		"Managed by nspawnctl. Do not edit: nspawnctl rewrites or removes this file.",
		"After= and PartOf=: it runs after nftables.service has loaded its ruleset",
		"(which starts with \"flush ruleset\"), and restarting or stopping",
		"nftables.service restarts or stops it too; ReloadPropagatedFrom=: reloading",
		"nftables.service (which flushes as well) reloads it. RemainAfterExit=yes keeps",
		"it active, or PartOf= would not propagate a restart (a try-restart, which",
		"skips inactive units). WantedBy= both: with nftables.service when that is",
		"enabled, and at boot in any case, for hosts without nftables.service.",
	)
	b.Set("Unit", "Description", "Restore nspawnctl's port forwards and outbound NAT after a firewall reload")
	b.Set("Unit", "After", "nftables.service systemd-networkd.service")
	b.Set("Unit", "PartOf", "nftables.service")
	b.Set("Unit", "ReloadPropagatedFrom", "nftables.service")
	b.Set("Service", "Type", "oneshot")
	b.Set("Service", "RemainAfterExit", "yes")
	b.Set("Service", "ExecStart", cmd)
	b.Set("Service", "ExecReload", cmd)
	b.Set("Install", "WantedBy", "nftables.service multi-user.target")
	return b.Bytes()
}
