# MACVLAN: the container gets its own MAC address on the host's LAN through a
# macvlan on eth0 (MACVLAN=eth0 in the .nspawn file; the interface inside is
# called mv-eth0). It is a full member of the LAN and gets its address from
# the LAN's DHCP server.
#
# A macvlan container cannot talk to its own host over that interface (the
# kernel does not switch between a macvlan and its parent), and the host
# cannot forward ports to it: reach it from the LAN instead.
machine "nas" {
  root {
    bootstrap {
      suite    = "bookworm"
      packages = ["nfs-kernel-server"]
    }
  }

  network {
    macvlan = ["eth0"]

    container {
      dhcp = "yes"
      # Register the name on the LAN by mDNS, so that nas.local resolves.
      mdns = true
    }
  }
}
