# Checks, without nixpkgs, that module.nix's options and translate.nix agree.
#
# module.nix is imported with a stub `lib` that records option declarations
# instead of implementing the module system; its `config` part is never
# forced (Nix is lazy), so only the option tree is evaluated. For every block,
# each option the module declares must be a name translate.nix accepts, and
# each attribute of the HCL schema must be settable through some option (its
# own name or an alias). The result is a list of problems (empty: all good),
# printed by nixos_test.go's TestModuleOptionsMatchTranslation.
{ moduleDir }:

let
  translate = import (moduleDir + "/translate.nix");

  # --- a stub of nixpkgs' lib, just enough for module.nix's options ---------
  ty = name: extra: { _stubType = name; } // extra;
  stubTypes = {
    bool = ty "bool" { };
    str = ty "str" { };
    path = ty "path" { };
    package = ty "package" { };
    port = ty "port" { };
    anything = ty "anything" { };
    unspecified = ty "unspecified" { };
    ints = { unsigned = ty "int" { }; positive = ty "int" { }; u32 = ty "int" { }; };
    enum = values: ty "enum" { inherit values; };
    nullOr = t: ty "nullOr" { elem = [ t ]; };
    listOf = t: ty "listOf" { elem = [ t ]; };
    attrsOf = t: ty "attrsOf" { elem = [ t ]; };
    either = a: b: ty "either" { elem = [ a b ]; };
    submodule = m: ty "submodule" { module = m; };
  };
  stubLib = {
    types = stubTypes;
    mkOption = args: { _stubOption = true; } // args;
    mkEnableOption = d: { _stubOption = true; type = stubTypes.bool; description = d; };
    mkOptionType = args: ty "custom" args;
    mkIf = c: v: v;
    mkMerge = vs: vs;
    mkDefault = v: v;
    literalExpression = e: e;
    mkAliasOptionModule = from: to: { _stubAlias = { inherit from to; }; };
    mapAttrsToList = f: set: map (n: f n set.${n}) (builtins.attrNames set);
    attrNames = builtins.attrNames;
    filterAttrs = f: set: builtins.listToAttrs (builtins.filter (x: f x.name x.value) (map (n: { name = n; value = set.${n}; }) (builtins.attrNames set)));
    mapAttrs = builtins.mapAttrs;
    flatten = x: if builtins.isList x then builtins.concatMap stubLib.flatten x else [ x ];
    escapeShellArgs = builtins.concatStringsSep " ";
  };

  module = import (moduleDir + "/module.nix") {
    lib = stubLib;
    config = throw "module-options.nix: the stub evaluates options only";
    pkgs = { path = "/nonexistent-nixpkgs"; callPackage = _: _: { }; stdenv = { }; };
  };

  top = module.options.services.nspawnctl;

  # The submodule inside a type (through nullOr, listOf, attrsOf, either).
  submoduleOf = t:
    if t._stubType == "submodule" then t.module
    else if t ? elem then
      let found = builtins.filter (x: x != null) (map submoduleOf t.elem); in
      if found == [ ] then null else builtins.head found
    else null;

  # A submodule's options (and the aliases it imports).
  moduleOptions = m:
    let
      r = if builtins.isFunction m then m { name = "NAME"; config = { }; options = { }; } else m;
    in
    {
      options = r.options;
      aliases = map (i: builtins.head i._stubAlias.from) (builtins.filter (i: i ? _stubAlias) (r.imports or [ ]));
    };

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
  # Submodules that translate.nix handles by hand (nixpkgs' bindMounts).
  unpaired = [ "machines.bindMounts" ];

  # Names of a block that are covered without an option of their own: the
  # machine's network block is set through the flat options.
  coveredElsewhere = { machine = [ "network" ]; };

  check = path: m:
    let
      mo = moduleOptions m;
      declared = builtins.attrNames mo.options ++ mo.aliases;
      schemaName = pairs.${path} or null;
      accepted = translate.accepted.${schemaName};
      schema = translate.schemas.${schemaName};
      aliasesTo = c: map (p: builtins.elemAt p 0) (builtins.filter (p: builtins.elemAt p 1 == c) (translate.aliasesOf.${schemaName} or [ ]));
      canonical = (schema.attrs or [ ]) ++ (schema.raw or [ ]) ++ builtins.attrNames (schema.blocks or { });
      flatFor = c: if schemaName == "machine" then builtins.filter (n: translate.flatNetwork.${n} == c) (builtins.attrNames translate.flatNetwork) else [ ];
      notAccepted = builtins.filter (n: !(builtins.elem n accepted)) declared;
      notSettable = builtins.filter
        (c: !(builtins.elem c declared)
          && !(builtins.any (a: builtins.elem a declared) (aliasesTo c))
          && !(builtins.elem c (coveredElsewhere.${schemaName} or [ ])))
        canonical;
      # Every field of the network block is set by some flat option.
      networkFields = if schemaName != "machine" then [ ] else
        builtins.filter
          (f: !(builtins.any (n: builtins.elem n declared && translate.flatNetwork.${n} == f) (builtins.attrNames translate.flatNetwork)))
          (translate.knownNames translate.schemas.network);
      here =
        (if schemaName == null then [ "module option ${path} is a submodule that tests/module-options.nix does not pair with a translate.nix schema" ] else
          map (n: "module option ${path}.${n} is not accepted by translate.nix's ${schemaName} block") notAccepted
          ++ map (c: "translate.nix's ${schemaName} block has ${c} (HCL ${translate.camelToSnake c}), but module option ${path} has no option for it") notSettable
          ++ map (f: "the machine's network.${f} cannot be set through the module's flat options") networkFields);
      nested = builtins.concatMap
        (n:
          let sub = submoduleOf mo.options.${n}.type; p = "${path}.${n}"; in
          if sub == null || builtins.elem p unpaired then [ ] else check p sub)
        (builtins.attrNames mo.options);
    in
    here ++ nested;

  topNames = builtins.attrNames top;
  expectedTop = [ "bridges" "configFile" "defaults" "enable" "extraArgs" "machines" "package" "trustContainerInterfaces" "zones" ];
in
(if topNames != expectedTop then [ "services.nspawnctl has options ${toString topNames}; the test expects ${toString expectedTop}" ] else [ ])
++ check "machines" (submoduleOf top.machines.type)
++ check "zones" (submoduleOf top.zones.type)
++ check "bridges" (submoduleOf top.bridges.type)
++ check "defaults" (submoduleOf top.defaults.type)
