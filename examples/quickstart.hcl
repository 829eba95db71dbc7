# The networking guide's default config: a web server in a Debian container,
# reachable on the host's port 8181 over IPv4 and IPv6 (from other hosts, from
# the host itself and from its localhost).
#
# With no network block the machine gets a veth link: ve-web on the host,
# host0 in the container. nspawnctl allocates a /28 from 10.117.0.0/16 (host
# .1, container .2) and a /64 from the host's ULA /48 (host ::1, container
# ::2), configures both ends statically with networkd, and masquerades the
# container's traffic to the outside (IPMasquerade=both).
machine "web" {
  root {
    # Built with mmdebstrap into /var/lib/machines/web on create.
    bootstrap {
      suite    = "bookworm"
      packages = ["nginx-light"]
    }
  }

  # Host port 8181 to the container's port 80, TCP, on every host address.
  # Like nspawn's Port=, this bypasses the host's input firewall.
  forward_port {
    host_port      = 8181
    container_port = 80
  }
}
