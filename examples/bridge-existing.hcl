# Attaching to a bridge that already exists on the host (created by the
# distribution's network configuration, libvirt, or an administrator):
# nspawnctl does not create or configure br0, it only plugs the container's
# vb-legacy port into it (Bridge=br0 in the .nspawn file). Validation warns
# that the bridge is not declared here; it must exist when the machine starts.
machine "legacy" {
  root {
    # An existing root directory, e.g. from `machinectl pull-tar`.
    directory = "/var/lib/machines/legacy"
  }

  network {
    bridge = "br0"

    container {
      # br0's LAN runs a DHCP server; the container is a client.
      dhcp = "ipv4"
      # Answer and resolve names by mDNS on the LAN (e.g. legacy.local).
      mdns = true
    }
  }
}
