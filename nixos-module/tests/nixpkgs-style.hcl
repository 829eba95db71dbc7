# nixpkgs-style.nix in nspawnctl's own names. bindMounts is an attribute set
# there, so its entries come out sorted by mount point.
machine "legacy" {
  root {
    nixos_system = "/nix/store/0v3ma2x3ip6ylbrmfd1vg8k6m8gzzc8a-nixos-system-legacy-25.11"
  }

  bind          = ["/srv/data:/var/lib/data"]
  bind_ro       = ["/etc/secrets", "/opt/tools:/tools"]
  capabilities  = ["CAP_NET_ADMIN"]
  autostart     = true
  timeout_start = "1min"
  private_users = "524288"

  network {
    macvlan = ["eth0"]
    container {
      dhcp = "yes"
    }
  }
}
