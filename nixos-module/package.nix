# nspawnctl as a Nix package, for the flake's packages.default and the NixOS
# module's services.nspawnctl.package default.
#
# nspawnctl's go.mod says `go 1.26`, so it needs a nixpkgs whose Go is at
# least 1.26; flake.nix passes buildGo126Module when nixpkgs has it.
{
  lib,
  buildGoModule,
  version ? "0-unstable",
}:

buildGoModule {
  pname = "nspawnctl";
  inherit version;

  # The whole repository (lib.cleanSource drops .git and result links):
  # `go mod vendor`, which vendorHash pins, sees every package of the module,
  # including e2e/ and nixos-module/, so filtering Go directories out here
  # would change the vendor tree and break the hash.
  src = lib.cleanSource ../.;

  # The NAR hash of `go mod vendor` for the go.mod/go.sum this was computed
  # with. When the dependencies change, recompute it (no nixpkgs needed):
  #   go mod vendor -o /tmp/vendor &&
  #   nix --extra-experimental-features nix-command hash path --type sha256 --sri /tmp/vendor
  # or set lib.fakeHash and copy the hash from the build's error message.
  vendorHash = "sha256-SUnWzBgVqQtQQt8Ez2CxQeniUBKfXIEI4zchjtk8pqI=";

  subPackages = [ "cmd/nspawnctl" ];

  # A static binary, like `make build`, so the unit hooks never depend on a
  # library that a garbage collection could remove.
  env.CGO_ENABLED = "0";
  ldflags = [
    "-s"
    "-w"
    "-X main.version=${version}"
  ];

  # The test suite needs nix-instantiate, network namespaces and root for
  # parts of it; it runs in the project's CI (`make test`), not in the build
  # sandbox.
  doCheck = false;

  meta = {
    description = "Declarative systemd-nspawn containers: .nspawn and networkd files, port forwards in io.systemd.nat";
    homepage = "https://github.com/nspawnctl/nspawnctl";
    mainProgram = "nspawnctl";
    platforms = lib.platforms.linux;
  };
}
