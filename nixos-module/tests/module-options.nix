# Checks that module.nix's options and translate.nix agree, in both
# directions, with nixpkgs' real module system: module.nix is evaluated with
# the vendored lib (tests/nixos/), and its option tree is read from the
# evaluated `options`. For every block, each option the module declares must
# be a name translate.nix accepts (or one that module.nix itself consumes,
# listed below), and each attribute of the HCL schema must be settable
# through some option (its own name or an alias). The result is a list of
# problems (empty: all good), printed by nixos_test.go's
# TestModuleOptionsMatchTranslation.
{ moduleDir }:

let
  lib = import ./nixos/lib.nix;
  pkgs = import ./nixos/pkgs.nix { inherit lib; };
  translate = import (moduleDir + "/translate.nix");

  eval = lib.evalModules {
    modules = [ ./nixos/nixos-options.nix (moduleDir + "/module.nix") { _module.args = { inherit pkgs; }; } ];
  };
  top = eval.options.services.nspawnctl;

  # Options module.nix turns into other options before translation: aliases
  # made with mkAliasOptionModule, and nixpkgs containers.<name> options it
  # maps itself (README.md, "Migrating from containers.<name>").
  moduleConsumed = {
    machine = [
      "timeoutStartSec" "timeoutStopSec" "additionalCapabilities" "macvlans" "hostBridge"
      "hostAddress" "localAddress" "hostAddress6" "localAddress6"
      "privateNetwork" "enableTun" "allowedDevices" "mountDaemonSocket"
      # Refused with a reason (an assertion): no nspawnctl equivalent yet.
      "extraFlags" "credentials"
    ];
  };

  # The options of a submodule type, through nullOr, listOf, attrsOf and either.
  subOptions = t:
    let
      direct = t.getSubOptions [ ];
      fromEither = lib.foldl' (acc: n: acc // subOptions t.nestedTypes.${n}) { } (lib.filter (n: t.nestedTypes ? ${n}) [ "left" "right" ]);
      found = if direct != { } then direct else fromEither;
    in
    lib.filterAttrs (n: _: !(lib.hasPrefix "_" n)) found;

  # Which translate.nix schema each module submodule corresponds to, by path.
  pairs = {
    "machines" = "machine";
    "machines.root" = "root";
    "machines.root.bootstrap" = "bootstrap";
    "machines.limits" = "limits";
    "machines.forwardPorts" = "forwardPort";
    "machines.hostNetworkConfig" = "hostNetwork";
    "machines.hostNetworkConfig.ipv6Prefixes" = "ipv6Prefix";
    "machines.hostNetworkConfig.prefixDelegation" = "prefixDelegation";
    "machines.containerNetworkConfig" = "containerNetwork";
    "machines.nebula" = "nebula";
    "machines.nebula.inbound" = "nebulaRule";
    "machines.nebula.outbound" = "nebulaRule";
    "zones" = "zone";
    "zones.prefixDelegation" = "prefixDelegation";
    "bridges" = "bridge";
    "defaults" = "defaults";
  };
  # Submodules that translate.nix handles by hand: nixpkgs' bindMounts,
  # python-nixos-nspawn's activation = { strategy; autoStart; }.
  unpaired = [ "machines.bindMounts" "machines.activation" ];

  check = path: opts:
    let
      schemaName = pairs.${path} or null;
      consumed = moduleConsumed.${schemaName} or [ ];
      declared = lib.filter (n: !(builtins.elem n consumed)) (builtins.attrNames opts);
      accepted = translate.accepted.${schemaName};
      schema = translate.schemas.${schemaName};
      aliasesTo = c: map (p: builtins.elemAt p 0) (builtins.filter (p: builtins.elemAt p 1 == c) (translate.aliasesOf.${schemaName} or [ ]));
      canonical = (schema.attrs or [ ]) ++ (schema.raw or [ ]) ++ builtins.attrNames (schema.blocks or { });
      notAccepted = builtins.filter (n: !(builtins.elem n accepted)) declared;
      notSettable = builtins.filter
        (c: !(builtins.elem c declared)
          && !(builtins.any (a: builtins.elem a declared) (aliasesTo c))
          && !(schemaName == "machine" && c == "network"))
        canonical;
      # Every other spelling translate.nix accepts (aliases, networkd
      # sections) is an option of the module: a documented spelling the
      # module does not declare would be an "option does not exist" error.
      spellings = builtins.filter (n: !(builtins.elem n canonical) && !(schemaName == "machine" && n == "network")) accepted;
      notDeclared = builtins.filter (n: !(opts ? ${n})) spellings;
      # Every field of the network block is set by some flat option.
      networkFields = if schemaName != "machine" then [ ] else
        builtins.filter
          (f: !(builtins.any (n: builtins.elem n declared && translate.flatNetwork.${n} == f) (builtins.attrNames translate.flatNetwork)))
          (translate.knownNames translate.schemas.network);
      # A block translate.nix reads free-form networkd keys in must be
      # free-form in the module too, and the other way round.
      here =
        (if schemaName == null then [ "module option ${path} is a submodule that tests/module-options.nix does not pair with a translate.nix schema" ] else
          map (n: "module option ${path}.${n} is not accepted by translate.nix's ${schemaName} block") notAccepted
          ++ map (n: "translate.nix's ${schemaName} block accepts ${n}, but module option ${path} does not declare it") notDeclared
          ++ map (c: "translate.nix's ${schemaName} block has ${c} (HCL ${translate.camelToSnake c}), but module option ${path} has no option for it") notSettable
          ++ map (f: "the machine's network.${f} cannot be set through the module's flat options") networkFields);
      nested = builtins.concatMap
        (n:
          let sub = subOptions opts.${n}.type; p = "${path}.${n}"; in
          if sub == { } || builtins.elem p unpaired || builtins.elem n consumed then [ ] else check p sub)
        (builtins.attrNames opts);
    in
    here ++ nested;

  # Free-form blocks: the module's submodule has a freeformType exactly
  # where translate.nix turns capitalised names into networkd keys.
  freeformOf = t: (t.getSubOptions [ ]) ? _freeformOptions || (t.nestedTypes ? elemType && freeformOf t.nestedTypes.elemType);
  machineOpts = subOptions top.machines.type;
  freeformProblems = lib.concatLists (lib.mapAttrsToList
    (schemaName: type:
      let want = builtins.elem schemaName translate.freeform; have = freeformOf type; in
      lib.optional (want != have) "the module's ${schemaName} block is ${if have then "" else "not "}free-form, translate.nix's is ${if want then "" else "not"}")
    {
      hostNetwork = machineOpts.hostNetworkConfig.type;
      containerNetwork = machineOpts.containerNetworkConfig.type;
      zone = top.zones.type;
      bridge = top.bridges.type;
    });

  topNames = builtins.attrNames top;
  expectedTop = [ "bridges" "checkConfig" "configFile" "defaults" "enable" "extraArgs" "machines" "package" "trustContainerInterfaces" "zones" ];
in
(if topNames != expectedTop then [ "services.nspawnctl has options ${toString topNames}; the test expects ${toString expectedTop}" ] else [ ])
++ check "machines" machineOpts
++ check "zones" (subOptions top.zones.type)
++ check "bridges" (subOptions top.bridges.type)
++ check "defaults" (subOptions top.defaults.type)
++ freeformProblems
