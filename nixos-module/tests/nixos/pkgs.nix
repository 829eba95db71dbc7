# A stand-in for the `pkgs` argument of NixOS modules: just what
# services.nspawnctl (and the flake) use, with nixpkgs' argument shapes.
#
# Nothing is built. A "derivation" here is an attribute set with
# type = "derivation" and an outPath, which is what lib.types.package and
# string interpolation look at; the attributes the real builder would get
# (text, buildCommand, nativeBuildInputs, ...) are kept, so that tests can
# read what a derivation would run. Store paths are made of a fixed hash,
# because no store is written: /nix/store/<32 zeros>-NAME.
{ lib }:

let
  storeHash = "00000000000000000000000000000000";

  derivation = name: attrs:
    attrs // {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/${storeHash}-${name}";
      drvPath = "/nix/store/${storeHash}-${name}.drv";
    };
in
rec {
  inherit lib;

  # The nixpkgs whose nixos/lib/eval-config.nix evaluates containers'
  # `config` (services.nspawnctl.machines.<name>.nixpkgs defaults to
  # pkgs.path): here, the test's stand-in for it.
  path = ./nixpkgs;

  stdenv.hostPlatform = {
    system = "x86_64-linux";
    isLinux = true;
  };

  # pkgs.writeText NAME TEXT (trivial-builders): a file with TEXT.
  writeText = name: text: derivation name { inherit text; };

  # pkgs.formats.json { }: generate NAME VALUE is a pretty-printed JSON file
  # (jq in nixpkgs); here text is the compact JSON of VALUE.
  formats.json = _: {
    generate = name: value: derivation name { text = builtins.toJSON value; };
  };

  # pkgs.runCommand NAME ENV COMMAND (trivial-builders): runs COMMAND with
  # ENV's attributes in the environment; $out is the result.
  runCommand = name: env: buildCommand: derivation name (env // { inherit buildCommand; });

  # pkgs.callPackage: calls the function with what it asks for from this
  # set (and the given overrides), as nixpkgs does; buildGoModule records its
  # arguments.
  callPackage = fn: overrides:
    let
      f = if builtins.isFunction fn then fn else import fn;
      wanted = builtins.functionArgs f;
    in
    f (builtins.intersectAttrs wanted pkgsForCall // overrides);

  buildGoModule = args: derivation "${args.pname}-${args.version}" (removeAttrs args [ "src" ]) // { meta = args.meta or { }; };

  pkgsForCall = { inherit lib buildGoModule stdenv writeText runCommand; };

  systemd = derivation "systemd-257.9" { };
  coreutils = derivation "coreutils-9.7" { };
}
