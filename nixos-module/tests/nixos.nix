# examples/nixos.hcl as services.nspawnctl options. In a NixOS configuration
# `config = { ... };` would produce root.nixosSystem; here the closure is a
# fixed path, as in the HCL example, so no nixpkgs is needed.
{
  machines.wiki = {
    root.nixosSystem = "/nix/store/6y2c0jz3b4r9y1m2qk8w7v5xg0d1h4sa-nixos-system-wiki-26.05";
    autoStart = true;
    timeoutStart = "3min";
    activation = "auto";
    bind = [ "/srv/wiki:/var/lib/wiki" ];
    limits.memoryMax = "1G";
    forwardPorts = [
      { hostPort = 8080; containerPort = 80; }
    ];
  };
}
