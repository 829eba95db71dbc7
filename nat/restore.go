package nat

import (
	"fmt"
	"strings"

	"github.com/godbus/dbus/v5"
)

// Networkd asks systemd-networkd to reconfigure a link, which makes it add
// the link's IPMasquerade= entries to masq_saddr again (it adds them only
// when it configures an address; systemd.md 1.6).
type Networkd interface {
	ReconfigureLink(ifindex int) error
}

// DBusNetworkd is the Networkd on the system bus.
type DBusNetworkd struct{}

// ReconfigureLink calls org.freedesktop.network1.Manager.ReconfigureLink.
func (DBusNetworkd) ReconfigureLink(ifindex int) error {
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		return fmt.Errorf("connect to the system bus: %w", err)
	}
	defer conn.Close()
	obj := conn.Object("org.freedesktop.network1", "/org/freedesktop/network1")
	if call := obj.Call("org.freedesktop.network1.Manager.ReconfigureLink", 0, int32(ifindex)); call.Err != nil {
		return fmt.Errorf("systemd-networkd ReconfigureLink(%d): %w", ifindex, call.Err)
	}
	return nil
}

// Restore re-applies the store's active machines (after "nft flush ruleset"
// wiped io.systemd.nat) and then asks networkd to reconfigure each of their
// links so its masquerade entries come back too. Networkd being absent
// (no D-Bus, no networkd: containers, tests) is only a warning: nspawnctl's
// own forwards, hairpin and localhost do not depend on it.
// linkIndex resolves a link name in the Applier's namespace.
func Restore(a *Applier, st *Store, nd Networkd, linkIndex func(string) (int, error)) error {
	ms, err := st.Active()
	if err != nil {
		return err
	}
	if err := a.Apply(ms); err != nil {
		return err
	}
	if nd == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, m := range ms {
		if m.Link == "" || seen[m.Link] || len(m.Forwards) == 0 {
			continue
		}
		seen[m.Link] = true
		idx, err := linkIndex(m.Link)
		if err != nil {
			a.warnf("machine %q: link %s not found, not asking networkd to reconfigure it: %v", m.Name, m.Link, err)
			continue
		}
		if err := nd.ReconfigureLink(idx); err != nil {
			a.warnf("machine %q: masquerading of %s may stay off until networkd reconfigures it (networkctl reconfigure %s): %v", m.Name, m.Link, m.Link, err)
		}
	}
	return nil
}

// RestoreUnit renders nspawnctl-nat-restore.service, which runs "nat
// restore" whenever nftables.service (re)starts or reloads, since those run
// "flush ruleset" and so wipe io.systemd.nat.
func RestoreUnit(binaryPath string) string {
	cmd := systemdQuote(binaryPath) + " nat restore"
	return `[Unit]
Description=Restore nspawnctl's port forwards after a firewall reload
# Run after nftables.service has loaded its ruleset (which starts with
# "flush ruleset"), never before it.
After=nftables.service systemd-networkd.service
# Restarting or stopping nftables.service restarts or stops this unit too...
PartOf=nftables.service
# ...and reloading it (which flushes as well) reloads this unit.
ReloadPropagatedFrom=nftables.service

[Service]
Type=oneshot
# Stays "active" after running, or PartOf= would not propagate restarts
# to it (a restart propagates as try-restart, which skips inactive units).
RemainAfterExit=yes
ExecStart=` + cmd + `
ExecReload=` + cmd + `

[Install]
# Started with nftables.service when that is enabled, and at boot in any
# case, so hosts without nftables.service get their forwards as well.
WantedBy=nftables.service multi-user.target
`
}

// systemdQuote quotes a path for an Exec line: specifiers are escaped,
// and a path with spaces, quotes or backslashes is double-quoted.
func systemdQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	if !strings.ContainsAny(s, " \t\n\"'\\") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}
