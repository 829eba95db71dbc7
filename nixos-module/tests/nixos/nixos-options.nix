# The NixOS options that services.nspawnctl reads and sets (on the host and
# inside its NixOS containers), declared as nixpkgs declares them: the same
# names, types, defaults and merge behaviour, so that the real module system
# (lib.evalModules from the vendored nixpkgs lib) checks the module as NixOS
# would. Written for this test from nixpkgs' own declarations (NixOS/nixpkgs,
# the versions the search index held in 2026). Read for this harness:
#
#   nixos/lib/systemd-unit-options.nix (01f31c2ee7d045a337dff0f858c0ed61dd0f4ddb, and
#     overrideStrategy from the current version): unit, service and target options; unitOption
#   nixos/modules/virtualisation/nixos-containers.nix (00ef614eae7658e8c2d4ea0abbd476fa9d8065fc):
#     boot.isContainer, boot.isNspawnContainer, the containers.<name> options mapped by the module
#   nixos/modules/virtualisation/container-config.nix (current version): ./container-config.nix
#   nixos/modules/system/boot/systemd/nspawn.nix (053e9036efe9a950d9f5b4f6bd361f460f53c224):
#     machines.target in multi-user.target
#   nixos/modules/system/activation/top-level.nix (01502f439c6a734621f212e450e7a6a9f35a0c5f):
#     system.checks, system.build.toplevel (assertions and warnings checked when it is built)
#   nixos/modules/system/boot/resolved.nix: its useHostResolvConf assertion
#   nixos/modules/system/etc/etc.nix: environment.etc's text -> source (mkDerivedConfig)
#
# Modelled from the NixOS manual's option reference, not re-read here:
# systemd-lib.nix's unitNameType, networkd.nix's systemd.network.networks
# sections, the networking.* and firewall options, misc/assertions.nix, and
# systemd.nix putting "mymachines" into system.nssDatabases.hosts.
#
# Only the part the module touches is declared: an option the module sets
# that is not declared here fails the evaluation ("The option ... does not
# exist"), which is the point. Options whose nixpkgs type is a large
# submodule are declared with the sub-options the module and the tests use.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption types;

  # systemd-lib.nix's unitNameType: a unit name with its suffix, so that
  # `after = [ "network-online" ]` is a type error, as in NixOS.
  unitName = types.strMatching "[a-zA-Z0-9@%:_.\\-]+[.](service|socket|device|mount|automount|swap|target|path|timer|scope|slice)";

  # unitOption (systemd-unit-options.nix): the value of one unit-file key.
  # Definitions that are all lists are concatenated (repeated keys); all
  # scalars must agree; a mix is an error.
  unitOption = lib.mkOptionType {
    name = "systemd option";
    check = v: true;
    merge = loc: defs:
      let lists = builtins.filter (d: builtins.isList d.value) defs; in
      if lists == [ ] then lib.mergeEqualOption loc defs
      else if builtins.length lists == builtins.length defs then builtins.concatLists (map (d: d.value) defs)
      else throw "The definitions for systemd unit options should be either all lists, representing repeatable options, or all non-lists, but for the option ${lib.showOption loc}, the definitions are a mix of list and non-list";
  };
  section = description: mkOption { type = types.attrsOf unitOption; default = { }; inherit description; };
  units = description: mkOption { type = types.listOf unitName; default = [ ]; inherit description; };

  # The options every unit has (sharedOptions, commonUnitOptions and
  # stage2CommonUnitOptions).
  unitOptions = {
    options = {
      enable = mkOption { type = types.bool; default = true; description = "false: the unit is masked."; };
      overrideStrategy = mkOption {
        type = types.enum [ "asDropinIfExists" "asDropin" ];
        default = "asDropinIfExists";
        description = "asDropin: the definition is a drop-in (overrides.conf), as instances of template units need.";
      };
      description = mkOption { type = types.singleLineStr; default = ""; description = "Description="; };
      documentation = mkOption { type = types.listOf types.str; default = [ ]; description = "Documentation="; };
      requires = units "Requires=";
      wants = units "Wants=";
      upholds = units "Upholds=";
      after = units "After=";
      before = units "Before=";
      bindsTo = units "BindsTo=";
      partOf = units "PartOf=";
      conflicts = units "Conflicts=";
      requisite = units "Requisite=";
      wantedBy = units "Units that want this one (a .wants link in NixOS' unit tree).";
      requiredBy = units "Units that require this one.";
      upheldBy = units "Units that uphold this one.";
      aliases = units "Aliases.";
      unitConfig = section "[Unit] keys.";
      onFailure = units "OnFailure=";
      onSuccess = units "OnSuccess=";
      restartTriggers = mkOption { type = types.listOf types.unspecified; default = [ ]; description = "A change restarts the unit on switch."; };
      reloadTriggers = mkOption { type = types.listOf unitOption; default = [ ]; description = "A change reloads the unit on switch."; };
    };
  };

  serviceOptions = {
    imports = [ unitOptions ];
    options = {
      environment = mkOption { type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ])); default = { }; description = "Environment="; };
      path = mkOption { type = types.listOf (types.oneOf [ types.package types.str ]); default = [ ]; description = "Packages on PATH."; };
      serviceConfig = section "[Service] keys.";
      script = mkOption { type = types.lines; default = ""; description = "The main process, as a script."; };
      preStart = mkOption { type = types.lines; default = ""; description = "ExecStartPre, as a script."; };
      postStart = mkOption { type = types.lines; default = ""; description = "ExecStartPost, as a script."; };
      restartIfChanged = mkOption { type = types.bool; default = true; description = "Restart on switch when changed."; };
      reloadIfChanged = mkOption { type = types.bool; default = false; description = "Reload on switch when changed."; };
      stopIfChanged = mkOption { type = types.bool; default = true; description = "Stop with the old unit, start with the new."; };
      startAt = mkOption { type = types.either types.str (types.listOf types.str); default = [ ]; description = "OnCalendar of a timer."; };
    };
  };

  targetOptions = { imports = [ unitOptions ]; };

  # systemd.network.networks.<name> (networkd.nix), the part this module uses.
  networkOptions = {
    options = {
      enable = mkOption { type = types.bool; default = true; description = "Whether to write this .network file."; };
      matchConfig = section "[Match]";
      linkConfig = section "[Link]";
      networkConfig = section "[Network]";
      dhcpServerConfig = section "[DHCPServer]";
      address = mkOption { type = types.listOf types.str; default = [ ]; description = "Address="; };
      gateway = mkOption { type = types.listOf types.str; default = [ ]; description = "Gateway="; };
      dns = mkOption { type = types.listOf types.str; default = [ ]; description = "DNS="; };
      domains = mkOption { type = types.nullOr (types.listOf types.str); default = null; description = "Domains="; };
    };
  };

  # environment.etc.<name> (etc.nix).
  etcOptions = { name, config, options, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = true; description = "Whether the file is created."; };
      target = mkOption { type = types.str; default = name; description = "Path relative to /etc."; };
      text = mkOption { type = types.nullOr types.lines; default = null; description = "Contents."; };
      source = mkOption { type = types.path; description = "The file /etc/TARGET links to."; };
      mode = mkOption { type = types.str; default = "symlink"; description = "symlink, or a mode to copy with."; };
    };
    # As etc.nix: text becomes a store file, at text's priority.
    config.source = lib.mkIf (config.text != null) (lib.mkDerivedConfig options.text (pkgs.writeText "etc-${baseNameOf name}"));
  };

  # boot.kernel.sysctl (sysctl.nix): freeform keys, null removes a key.
  sysctlValue = types.nullOr (types.oneOf [ types.bool types.str types.int ]);

  enableOption = name: mkOption { type = types.bool; default = false; description = "Whether to enable ${name}."; };

  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
in
{
  options = {
    assertions = mkOption { type = types.listOf types.unspecified; internal = true; default = [ ]; description = "{ assertion; message; }: the build stops on a false one."; };
    warnings = mkOption { type = types.listOf types.str; internal = true; default = [ ]; description = "Printed when the system is built."; };

    nixpkgs.hostPlatform = mkOption { type = types.either types.str types.attrs; description = "The platform the system runs on."; };

    boot.isContainer = mkOption { type = types.bool; default = config.boot.isNspawnContainer; description = "A lightweight container."; };
    boot.isNspawnContainer = mkOption { type = types.bool; default = false; description = "Running in an nspawn container."; };
    boot.kernel.sysctl = mkOption { type = types.attrsOf sysctlValue; default = { }; description = "sysctl values set at boot."; };

    environment.etc = mkOption { type = types.attrsOf (types.submodule etcOptions); default = { }; description = "Files in /etc."; };
    environment.systemPackages = mkOption { type = types.listOf types.package; default = [ ]; description = "Packages in the system profile."; };
    environment.variables = mkOption { type = types.attrsOf (types.either types.str (types.listOf types.str)); default = { }; description = "Variables of every session."; };

    networking.hostName = mkOption { type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$"; default = "nixos"; description = "The host name."; };
    networking.useNetworkd = mkOption { type = types.bool; default = false; description = "Configure interfaces with systemd-networkd."; };
    networking.useDHCP = mkOption { type = types.bool; default = true; description = "DHCP on every interface."; };
    networking.useHostResolvConf = mkOption { type = types.bool; default = false; description = "Use the host's /etc/resolv.conf (containers)."; };
    networking.dhcpcd.denyInterfaces = mkOption { type = types.listOf types.str; default = [ ]; description = "Interfaces dhcpcd leaves alone."; };
    networking.networkmanager.enable = enableOption "NetworkManager";
    networking.networkmanager.unmanaged = mkOption { type = types.listOf types.str; default = [ ]; description = "Devices NetworkManager leaves alone."; };
    networking.firewall.enable = mkOption { type = types.bool; default = true; description = "The firewall."; };
    networking.firewall.trustedInterfaces = mkOption { type = types.listOf types.str; default = [ ]; description = "Interfaces whose traffic is accepted."; };
    networking.firewall.allowedTCPPorts = mkOption { type = types.listOf types.port; default = [ ]; description = "Open TCP ports."; };
    networking.firewall.allowedUDPPorts = mkOption { type = types.listOf types.port; default = [ ]; description = "Open UDP ports."; };
    networking.nftables.enable = enableOption "the nftables firewall backend";

    services.resolved.enable = enableOption "systemd-resolved";
    services.openssh.enable = enableOption "sshd";
    services.openssh.startWhenNeeded = mkOption { type = types.bool; default = false; description = "Socket-activated sshd."; };
    services.nginx.enable = enableOption "nginx";
    services.udev.enable = mkOption { type = types.bool; default = true; description = "udev."; };
    documentation.nixos.enable = mkOption { type = types.bool; default = true; description = "The NixOS manual."; };
    powerManagement.enable = mkOption { type = types.bool; default = true; description = "Power management."; };
    security.audit.enable = mkOption { type = types.either types.bool (types.enum [ "lock" ]); default = false; description = "The audit subsystem."; };

    systemd.package = mkOption { type = types.package; default = pkgs.systemd; description = "The systemd package."; };
    systemd.services = mkOption { type = types.attrsOf (types.submodule serviceOptions); default = { }; description = "Service units."; };
    systemd.targets = mkOption { type = types.attrsOf (types.submodule targetOptions); default = { }; description = "Target units."; };
    systemd.network.enable = enableOption "systemd-networkd";
    systemd.network.networks = mkOption { type = types.attrsOf (types.submodule networkOptions); default = { }; description = ".network files."; };

    system.nssDatabases.hosts = mkOption { type = types.listOf types.str; default = [ ]; description = "hosts: in nsswitch.conf."; };
    system.stateVersion = mkOption { type = types.str; default = "26.05"; description = "The NixOS release the state was created with."; };
    system.checks = mkOption {
      type = types.listOf types.package;
      default = [ ];
      description = "Packages built with the system (not part of its closure): a failing one stops nixos-rebuild build.";
    };
    system.build = mkOption {
      type = types.submoduleWith { modules = [ { freeformType = types.lazyAttrsOf (types.uniq types.unspecified); } ]; };
      default = { };
      description = "Derivations of the system; toplevel is the one nixos-rebuild builds.";
    };
  };

  config = {
    # systemd.nix: machined's NSS module resolves container names on the host.
    system.nssDatabases.hosts = lib.mkMerge [ (lib.mkOrder 400 [ "mymachines" ]) (lib.mkOrder 999 [ "myhostname" ]) ];

    # network-interfaces-systemd.nix: useNetworkd turns networkd on.
    systemd.network.enable = lib.mkIf config.networking.useNetworkd (lib.mkDefault true);

    # resolved.nix: resolved and the host's resolv.conf exclude each other.
    assertions = lib.mkIf config.services.resolved.enable [
      { assertion = !config.networking.useHostResolvConf; message = "Using host resolv.conf is not supported with systemd-resolved"; }
    ];

    # top-level.nix: the system derivation; evaluating it reports failed
    # assertions (and warnings) as NixOS does, and it depends on system.checks.
    system.build.toplevel =
      if failedAssertions != [ ]
      then throw "\nFailed assertions:\n${lib.concatStringsSep "\n" (map (m: "- ${m}") failedAssertions)}"
      else lib.showWarnings config.warnings (pkgs.runCommand "nixos-system-${config.networking.hostName}-${config.system.stateVersion}" {
        checks = config.system.checks;
      } "ln -s ... $out");
  };
}
