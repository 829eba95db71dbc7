# A NixOS system container. The system is built on the host (for example by
# the NixOS module, or `nix build .#nixosConfigurations.wiki.config.system.build.toplevel`)
# and the container boots that closure's init with the host's /nix/store
# mounted read-only: Boot=no, Parameters=SYSTEM/init, KillSignal=SIGRTMIN+3,
# NotifyReady=yes and BindReadOnly=/nix/store in the .nspawn file.
#
# The container's own network configuration is part of the NixOS system
# (networking.useNetworkd, systemd.network.networks."20-host0"), so nspawnctl
# writes nothing into its root; the host side of ve-wiki is nspawnctl's as usual.
#
# nixos.hcl.json is the same configuration in HCL's JSON syntax, as the NixOS
# module emits it; both render to the same bytes.
machine "wiki" {
  root {
    nixos_system = "/nix/store/6y2c0jz3b4r9y1m2qk8w7v5xg0d1h4sa-nixos-system-wiki-26.05"
  }

  autostart = true

  # Give the NixOS activation at boot more time than systemd's default.
  timeout_start = "3min"

  # On apply, restart the machine when its .nspawn file changes (a new system
  # closure, mounts) and only reload networkd when just the host side of its
  # network changed.
  activation = "auto"

  bind = ["/srv/wiki:/var/lib/wiki"]

  limits {
    memory_max = "1G"
  }

  forward_port {
    host_port      = 8080
    container_port = 80
  }
}
