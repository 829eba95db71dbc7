# IPVLAN: like MACVLAN, the container sits on the host's LAN behind eth0, but
# shares eth0's MAC address (IPVLAN=eth0 in the .nspawn file; the interface
# inside is called iv-eth0). Use it where the LAN or the provider accepts only
# one MAC address per port, e.g. some hosting providers and Wi-Fi uplinks.
#
# It needs a kernel built with IPVLAN (CONFIG_IPVLAN; `modprobe ipvlan`
# must work): systemd-nspawn fails to start the container otherwise. As with
# MACVLAN the host cannot reach the container over eth0, and cannot forward
# ports to it. Without a MAC address of its own the container cannot take a
# DHCPv4 lease from most servers, so it gets static addresses here.
machine "proxy" {
  root {
    bootstrap {
      suite    = "bookworm"
      packages = ["squid"]
    }
  }

  network {
    ipvlan = ["eth0"]

    container {
      address = ["192.168.10.30/24", "2001:db8:10::30/64"]
      gateway = ["192.168.10.1"]
      dns     = ["192.168.10.1"]
    }
  }
}
