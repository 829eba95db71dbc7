# Port forward kinds. Each forward_port becomes entries in nspawnctl's maps in
# systemd's io.systemd.nat tables (IPv4 and IPv6), installed when the machine
# starts and removed when it stops (the ExecStartPost=/ExecStopPost= hooks in
# the unit drop-in). Like nspawn's Port=, forwards apply to connections from
# other hosts, from the host itself and from its localhost, and they bypass
# the host's input firewall: restrict them with allow_from.
machine "gateway" {
  root {
    bootstrap {
      suite    = "bookworm"
      packages = ["haproxy", "wireguard-tools"]
    }
  }

  # Every local address, IPv4 and IPv6: host port 443 to container port 443.
  forward_port {
    host_port = 443
  }

  # Bound to one IPv4 address of the host: only connections to
  # 192.0.2.10:80 are forwarded; port 80 on other addresses stays the host's.
  forward_port {
    host_address   = "192.0.2.10"
    host_port      = 80
    container_port = 8080
  }

  # Bound to one IPv6 address: forwarded to the container's IPv6 address.
  forward_port {
    host_address   = "2001:db8::10"
    host_port      = 80
    container_port = 8080
  }

  # A range, mapped port by port onto the same ports (passive FTP, say).
  forward_port {
    host_port = "30000-30009"
  }

  # A shifted range: host 9000 goes to 10000, 9001 to 10001, ... 9009 to 10009.
  forward_port {
    host_port      = "9000-9009"
    container_port = "10000-10009"
  }

  # UDP: WireGuard.
  forward_port {
    protocol  = "udp"
    host_port = 51820
  }

  # Restricted sources: SSH to the container only from the admin networks.
  # A prefix of each family restricts that family's forward.
  forward_port {
    host_port      = 2222
    container_port = 22
    allow_from     = ["198.51.100.0/24", "2001:db8:ad::/48"]
  }
}
