# No network: the container has a private network namespace with only
# loopback (Private=yes, VirtualEthernet=no). Good for batch jobs that must not
# talk to anything, such as building untrusted code.
machine "builder" {
  root {
    # A raw disk image under /var/lib/machines.
    image = "/var/lib/machines/builder.raw"
  }

  # Run one command instead of booting an init system.
  boot    = false
  command = ["/usr/bin/make", "-C", "/src", "all"]

  # Run on a throw-away snapshot, so that nothing the build does persists.
  ephemeral = true

  # A user namespace of its own: root in the container is nobody on the host.
  private_users = "pick"

  # idmap maps the host directories into the user namespace, so that files
  # the build writes belong to the host user that owns /srv/build/out.
  bind    = ["/srv/build/out:/out:idmap"]
  bind_ro = ["/srv/build/src:/src:idmap"]

  # Scratch space in memory, gone when the build stops: PATH[:OPTIONS], with
  # tmpfs mount options (without options nspawn mounts it mode=0755).
  tmpfs = ["/var/tmp:mode=1777,size=2G", "/build"]

  network {
    mode = "none"
  }
}
