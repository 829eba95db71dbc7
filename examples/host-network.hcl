# Host networking: the container shares the host's network namespace
# (Private=no, VirtualEthernet=no). Its services listen on the host's
# addresses directly, so there is nothing to forward and no network file on
# either side. Use it for tools that must see the host's interfaces, and keep
# in mind that the container can then reconfigure the host's network.
machine "monitor" {
  root {
    # A root file system shipped as a tarball, unpacked into
    # /var/lib/machines/monitor when the machine is created.
    tarball = "/srv/images/monitor-bookworm.tar.zst"
  }

  network {
    mode = "host"
  }

  # The exporter reads the host's network statistics; it needs no more.
  drop_capabilities = ["CAP_SYS_MODULE", "CAP_SYS_TIME"]
}
