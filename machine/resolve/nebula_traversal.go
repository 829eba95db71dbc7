package resolve

import (
	"cmp"
	"net/netip"
	"strconv"

	"github.com/nspawnctl/nspawnctl/internal/diag"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/nebula"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// Nebula across hosts: the automatic UDP forward of a sidecar's fixed listen
// port, and the checks of the settings that say how other hosts reach it
// (advertise_addrs, relays). machine/nebula/traversal.go explains the
// mechanism.

// nebulaForwards gives every machine on a NATed network (veth or zone) whose
// sidecar listens on a fixed port (listen_port, or a lighthouse's default)
// a UDP forward of that port from the host, as if the machine declared
//
//	forward_port { protocol = "udp"  host_port = PORT }
//
// unless it already forwards a UDP port to it. The forward is an ordinary
// one from here on: plan shows it, collisions with other forwards are
// reported at the nebula block, and it follows the container's lifetime.
func (v *validator) nebulaForwards() {
	for i, m := range v.out.Machines {
		if m.Nebula == nil || !m.Nebula.NeedsForward() || (m.Mode != networkd.ModeVeth && m.Mode != networkd.ModeZone) {
			continue
		}
		spec := &v.specs[i]
		port := m.Nebula.ListenPort
		if port < 1024 || port > 65535 || forwardsUDPTo(spec.forwards, port) {
			continue // an invalid port is reported by the nebula checks
		}
		n := spec.cfg.Nebula
		spec.forwards = append(spec.forwards, config.ForwardPort{
			Protocol: "udp", HostPort: strconv.Itoa(port),
			Body: n.Body, DefRange: *diag.Attr(n.Body, "listen_port", n.DefRange),
		})
	}
}

// forwardsUDPTo reports whether a forward_port block leads UDP to the
// container's port.
func forwardsUDPTo(fs []config.ForwardPort, port int) bool {
	for _, f := range fs {
		if f.Protocol != "udp" {
			continue
		}
		r, msg := parsePortRange(cmp.Or(f.ContainerPort, f.HostPort))
		if msg == "" && int(r.First) <= port && port <= int(r.Last) {
			return true
		}
	}
	return false
}

// nebulaTraversal checks the certificate settings (cert_version, address6,
// duration, renew_before), advertise_addrs and the relay settings.
// listenPort is the sidecar's, with the lighthouse default applied.
func (v *validator) nebulaTraversal(n *config.Nebula, listenPort int) {
	attrs := nebula.CertAttrs{CertVersion: n.CertVersion, Address6: n.Address6, Duration: n.Duration, RenewBefore: n.RenewBefore, Signs: n.CAKey != ""}
	for _, p := range nebula.CertProblems(attrs) {
		v.errf(diag.Attr(n.Body, p.Attr, n.DefRange), p.Summary, "%s", p.Detail)
	}
	for i, a := range n.AdvertiseAddrs {
		if msg := nebula.ParseAdvertiseAddr(a); msg != "" {
			v.errf(diag.Elem(n.Body, "advertise_addrs", i, n.DefRange), "Invalid advertised address", "advertise_addrs: %s.", msg)
		}
	}
	if len(n.AdvertiseAddrs) > 0 && listenPort == 0 {
		for i, a := range n.AdvertiseAddrs {
			if _, err := netip.ParseAddr(a); err == nil {
				v.errf(diag.Elem(n.Body, "advertise_addrs", i, n.DefRange), "Advertised address without a port", "%s has no port, and the sidecar listens on a random one that no forward leads to. Set listen_port (nspawnctl then forwards it from the host), or write %s:PORT.", a, a)
			}
		}
	}
	for i, r := range n.Relays {
		if a, err := netip.ParseAddr(r); err != nil || !a.Is4() {
			v.errf(diag.Elem(n.Body, "relays", i, n.DefRange), "Invalid relay", "relays: %q is not an IPv4 overlay address (a relay is named by its overlay address, e.g. %q).", r, "10.42.0.1")
		}
	}
}
