# A bridge that nspawnctl declares: networkd creates br-lan (20-br-lan.netdev),
# enslaves the host's eth1 to it (20-br-lan-uplink.network), and the two
# containers' vb- ports join it. The containers sit on the LAN behind eth1 as
# if they were physical machines there, and take addresses from the LAN's
# DHCP server.
#
# eth1 loses its own configuration when it becomes a bridge port: do not use
# the interface you reach the host through, or move the host's address to the
# bridge (dhcp = "yes" below does that for a DHCP-configured host).
bridge "br-lan" {
  uplink = "eth1"

  # The host itself is a DHCP client on the LAN through the bridge.
  dhcp = "yes"
}

machine "printer" {
  root {
    bootstrap {
      suite    = "bookworm"
      packages = ["cups"]
    }
  }

  network {
    bridge = "br-lan"

    # With no static address the container asks the LAN's DHCP server.
    container {
      dhcp = "yes"
    }
  }
}

machine "files" {
  root {
    bootstrap {
      suite    = "bookworm"
      packages = ["samba"]
    }
  }

  network {
    bridge = "br-lan"

    # A fixed address on the LAN, with the LAN's router and resolver.
    container {
      address = ["192.168.10.20/24"]
      gateway = ["192.168.10.1"]
      dns     = ["192.168.10.1"]
      dhcp    = "no"
    }
  }
}
