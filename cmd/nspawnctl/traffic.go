package main

import (
	"fmt"
	"strings"

	"github.com/nspawnctl/nspawnctl/machine/engine"
	"github.com/nspawnctl/nspawnctl/nat"
)

// trafficRows renders a status's counters as "key: value" rows.
func trafficRows(t *engine.Traffic, row func(k, v string)) {
	if t == nil {
		return
	}
	prot := "installed"
	if !t.Protected {
		prot = "MISSING: run nspawnctl nat restore (a firewall reload flushed them?)"
	}
	row("Protections", prot)
	for i, f := range t.Forwards {
		k := ""
		if i == 0 {
			k = "Forward traffic"
		}
		row(k, fmt.Sprintf("%s: %s", f.Forward, counted(f.Count)))
	}
	row("Dropped", counted(t.Dropped)+" of new connections to or from its link (unpublished ports, isolation)")
	row("Loopback drops", counted(t.LoopbackDropped)+" to or from 127.0.0.0/8 from outside lo (host-wide)")
}

func counted(c nat.Count) string {
	return fmt.Sprintf("%d packets, %s", c.Packets, bytesText(c.Bytes))
}

// bytesText prints a byte count as people read it (1000-based, like ip -h).
func bytesText(n uint64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	v, i := float64(n), 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", v), "0"), ".") + " " + units[i]
}
