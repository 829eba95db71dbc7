package renumber

import "github.com/nspawnctl/nspawnctl/internal/unitfile"

// UnitTemplate is the template unit that runs the watcher for one
// downstream link; the instance is the link's name (ve-NAME or vz-ZONE).
const UnitTemplate = "nspawnctl-pd-deprecate@.service"

// UnitInstance names link's instance of UnitTemplate. Link names hold no
// characters systemd would need escaped in an instance ('-' is kept as is,
// and the unit reads it back with %i, not the unescaping %I).
func UnitInstance(link string) string { return "nspawnctl-pd-deprecate@" + link + ".service" }

// Unit renders UnitTemplate for the nspawnctl binary at binaryPath. It is
// wanted by every machine whose link takes a delegated /64, and stops when
// none of them runs any more.
func Unit(binaryPath string) ([]byte, error) {
	b := unitfile.New(
		"Managed by nspawnctl. Do not edit: nspawnctl rewrites or removes this file.",
		"Wanted by the machines on this link; the last one to stop stops it (StopWhenUnneeded=).",
	)
	b.Set("Unit", "Description", "Deprecate stale delegated IPv6 prefixes on %i (nspawnctl)")
	b.Set("Unit", "Documentation", "man:systemd.network(5)")
	b.Set("Unit", "StopWhenUnneeded", "yes")
	b.Set("Unit", "After", "systemd-networkd.service")
	b.Set("Service", "ExecStart", unitfile.ExecPath(binaryPath)+" prefix-delegation deprecate-stale %i")
	b.Set("Service", "Restart", "on-failure")
	b.Set("Service", "RestartSec", "1s")
	return b.Bytes()
}
