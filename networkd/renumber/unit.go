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
func Unit(binaryPath string) string {
	return `[Unit]
Description=Deprecate stale delegated IPv6 prefixes on %i (nspawnctl)
Documentation=man:systemd.network(5)
# Wanted by the machines on this link; the last one to stop stops it.
StopWhenUnneeded=yes
After=systemd-networkd.service

[Service]
ExecStart=` + unitfile.ExecPath(binaryPath) + ` prefix-delegation deprecate-stale %i
Restart=on-failure
RestartSec=1s
`
}
