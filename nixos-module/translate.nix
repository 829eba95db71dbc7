# The translation from the NixOS module's options (camelCase, Nix style) to
# nspawnctl's configuration in HCL's JSON syntax (the document the module
# writes to /etc/nspawnctl/nixos.hcl.json).
#
# It uses only builtins, never nixpkgs' lib, so that it can be evaluated and
# tested anywhere `nix-instantiate` runs:
#
#   nix-instantiate --eval --strict --json -E \
#     'import ./translate.nix (import ./tests/quickstart.nix)'
#
# Input:  { machines ? {}; zones ? {}; bridges ? {}; defaults ? null; }
#         (the value of services.nspawnctl, or a hand-written subset of it)
# Output: an attribute set that builtins.toJSON turns into a *.hcl.json file.
#
# Rules, so that nspawnctl stays the single source of defaults:
# - an option that is null is left out, so nspawnctl's own default applies;
# - an empty list or attribute set given for an attribute is left out too;
# - an empty block ({ } for root, bootstrap, limits, ...) is kept, because a
#   block's presence means something (bootstrap = { } bootstraps Debian);
# - an unknown option name is an error, never silently dropped;
# - keys of pass-through values (extra, environment, staticHostMap) are
#   copied verbatim: they are networkd section and key names, variables, ...
#
# The mapping (and the accepted python-nixos-nspawn and nixpkgs `containers`
# names) is documented in README.md next to this file.
let
  inherit (builtins)
    attrNames
    concatLists
    concatStringsSep
    elem
    filter
    foldl'
    genList
    hasAttr
    isAttrs
    isBool
    isInt
    isList
    isString
    listToAttrs
    map
    removeAttrs
    replaceStrings
    stringLength
    substring
    throw
    toString
    typeOf
    ;

  upper = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  lower = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  toLower = replaceStrings upper lower;
  chars = s: genList (i: substring i 1 s) (stringLength s);

  # camelToSnake "dhcpServer" == "dhcp_server"; "zoneIpv4Pool" == "zone_ipv4_pool".
  # Every HCL attribute name is the snake_case of its option name, except
  # for the names in a schema's `rename`.
  camelToSnake = s: concatStringsSep "" (map (c: if elem c upper then "_" + toLower c else c) (chars s));

  isEmpty = v: v == null || v == [ ] || v == { };
  optionalAttr = name: v: if isEmpty v then { } else { ${name} = v; };
  mergeAll = foldl' (a: b: a // b) { };

  # --- value conversions -------------------------------------------------

  # Ports may be written as numbers in Nix; HCL's forward_port takes strings
  # ("8080", "8000-8010"), which is what HCL itself converts 8080 to.
  portString = v: if isInt v then toString v else v;

  # A store path may be given as a derivation (config.system.build.toplevel)
  # or a path; toString keeps the string context, so the host's system
  # closure references (and keeps alive) the container's system.
  storePath = v: if isAttrs v then v.outPath else toString v;

  # python-nixos-nspawn's userNamespacing is a bool; nixpkgs' privateUsers
  # is "no", "identity", "pick" or a UID base.
  privateUsers = v:
    if isBool v then (if v then "pick" else "no")
    else if isInt v then toString v
    else v;

  # networkd's IPMasquerade= also accepts a bool in NixOS habits.
  masquerade = v: if isBool v then (if v then "both" else "no") else v;

  # networkd's DHCP= as a bool, the way networkConfig.DHCP is often written.
  yesNo = v: if isBool v then (if v then "yes" else "no") else v;

  # [IPv6Prefix] Assign= written as networkd would ("yes"/"no") or a bool.
  boolish = v:
    if isBool v then v
    else if elem v [ "yes" "true" "on" "1" ] then true
    else if elem v [ "no" "false" "off" "0" ] then false
    else throw "nspawnctl: expected a boolean (or yes/no), got ${toString v}";

  # python-nixos-nspawn's activation.strategy "dynamic" is nspawnctl's "auto".
  activationString = v: if v == "dynamic" then "auto" else v;

  # --- the schema --------------------------------------------------------
  #
  # A schema describes one HCL block:
  #   attrs   option names of plain attributes (HCL name: camelToSnake)
  #   raw     option names whose value is copied verbatim (pass-through)
  #   rename  option name -> HCL name, where camelToSnake is not it
  #   convert option name -> function applied to the value
  #   blocks  option name -> { hcl; schema; many ? false; } nested blocks
  #   ignore  option names that the NixOS module consumes itself

  schemas = rec {
    defaults = {
      attrs = [ "stateDir" "machinesDir" "unitDir" "ipv4Pool" "zoneIpv4Pool" "ulaPrefix" "nebulaPool" ];
    };

    bootstrap = {
      attrs = [ "suite" "mirror" "variant" "packages" ];
    };

    root = {
      attrs = [ "directory" "image" "tarball" "nixosSystem" ];
      convert.nixosSystem = storePath;
      blocks.bootstrap = { hcl = "bootstrap"; schema = bootstrap; };
    };

    limits = {
      attrs = [ "memoryMax" "cpuQuota" "tasksMax" "nofile" ];
    };

    forwardPort = {
      attrs = [ "protocol" "hostPort" "containerPort" "hostAddress" "allowFrom" ];
      convert = { hostPort = portString; containerPort = portString; };
    };

    ipv6Prefix = {
      attrs = [ "prefix" "assign" ];
      convert.assign = boolish;
    };

    prefixDelegation = {
      attrs = [ "uplink" "subnetId" ];
    };

    hostNetwork = {
      attrs = [ "address" "pool" "ula" "masquerade" "dhcpServer" "proxyNdp" ];
      raw = [ "extra" ];
      convert.masquerade = masquerade;
      blocks = {
        ipv6Prefixes = { hcl = "ipv6_prefix"; schema = ipv6Prefix; many = true; };
        prefixDelegation = { hcl = "prefix_delegation"; schema = prefixDelegation; };
      };
    };

    containerNetwork = {
      attrs = [ "address" "gateway" "dhcp" "dns" "llmnr" "mdns" ];
      raw = [ "extra" ];
      convert.dhcp = yesNo;
    };

    network = {
      attrs = [ "mode" "zone" "bridge" "macvlan" "ipvlan" "directRouting" "isolated" ];
      blocks = {
        host = { hcl = "host"; schema = hostNetwork; };
        container = { hcl = "container"; schema = containerNetwork; };
      };
    };

    nebulaRule = {
      attrs = [ "port" "proto" "host" "group" "groups" "cidr" "caName" "caSha" "localCidr" ];
      convert.port = portString;
    };

    nebula = {
      attrs = [
        "network" "ca" "cert" "key" "caKey" "address" "pool" "groups" "lighthouses"
        "amLighthouse" "listenPort" "punchy" "device" "mtu"
        "advertiseAddrs" "amRelay" "useRelays" "relays"
        "address6" "certVersion" "duration" "renewBefore"
      ];
      raw = [ "staticHostMap" ];
      rename.staticHostMap = "static_host_map";
      blocks = {
        inbound = { hcl = "inbound"; schema = nebulaRule; many = true; };
        outbound = { hcl = "outbound"; schema = nebulaRule; many = true; };
      };
    };

    machine = {
      attrs = [
        "boot" "command" "ephemeral" "privateUsers" "bind" "bindRo" "tmpfs" "capabilities"
        "dropCapabilities" "systemCallFilter" "autostart" "timeoutStart" "timeoutStop" "activation"
      ];
      raw = [ "environment" ];
      convert = { privateUsers = privateUsers; activation = activationString; };
      blocks = {
        root = { hcl = "root"; schema = root; };
        limits = { hcl = "limits"; schema = limits; };
        network = { hcl = "network"; schema = network; };
        forwardPorts = { hcl = "forward_port"; schema = forwardPort; many = true; };
        nebula = { hcl = "nebula"; schema = nebula; };
      };
      # Consumed by module.nix (config is evaluated into root.nixosSystem),
      # or by the aliases below before the schema sees the machine.
      ignore = [ "enable" "config" "nixpkgs" "specialArgs" "extraConfig" ];
    };

    zone = {
      attrs = [ "address" "pool" "ula" "dhcpServer" "llmnr" "mdns" "masquerade" "directRouting" "isolated" ];
      raw = [ "extra" ];
      convert.masquerade = masquerade;
      blocks.prefixDelegation = { hcl = "prefix_delegation"; schema = prefixDelegation; };
      ignore = [ "enable" ];
    };

    bridge = {
      attrs = [ "address" "uplink" "dhcp" "dhcpServer" "masquerade" ];
      raw = [ "extra" "netdevExtra" ];
      convert = { masquerade = masquerade; dhcp = yesNo; };
      ignore = [ "enable" ];
    };
  };

  # Every option name a schema accepts (for error messages and the module test).
  knownNames = s:
    (s.attrs or [ ]) ++ (s.raw or [ ]) ++ attrNames (s.blocks or { }) ++ (s.ignore or [ ]);

  hclName = s: n: s.rename.${n} or (camelToSnake n);

  # translateBlock schema where attrs: the HCL-JSON object of one block.
  # Evaluated NixOS submodules carry a `_module` attribute; it is not an option.
  translateBlock = s: where: v0:
    let
      v = if isAttrs v0 then removeAttrs v0 [ "_module" ] else v0;
      known = knownNames s;
      unknown = filter (n: !(elem n known)) (attrNames v);
      present = n: hasAttr n v && v.${n} != null;
      conv = n: x: if hasAttr n (s.convert or { }) then s.convert.${n} x else x;
      attrPart = map (n: if present n then optionalAttr (hclName s n) (conv n v.${n}) else { })
        ((s.attrs or [ ]) ++ (s.raw or [ ]));
      blockPart = map
        (n:
          let b = s.blocks.${n}; where' = "${where}.${n}"; in
          if !(present n) then { }
          else if b.many or false then
            (if !(isList v.${n}) then throw "nspawnctl: ${where'} must be a list, not a ${typeOf v.${n}}"
             else optionalAttr b.hcl (genList (i: translateBlock b.schema "${where'}[${toString i}]" (builtins.elemAt v.${n} i)) (builtins.length v.${n})))
          else if !(isAttrs v.${n}) then throw "nspawnctl: ${where'} must be an attribute set, not a ${typeOf v.${n}}"
          else { ${b.hcl} = translateBlock b.schema where' v.${n}; })
        (attrNames (s.blocks or { }));
    in
    if !(isAttrs v) then throw "nspawnctl: ${where} must be an attribute set, not a ${typeOf v}"
    else if unknown != [ ] then
      throw "nspawnctl: ${where}: unknown option(s) ${concatStringsSep ", " unknown}; known: ${concatStringsSep ", " known}"
    else mergeAll (attrPart ++ blockPart);

  # --- aliases -----------------------------------------------------------
  #
  # alias: move option `from` to `to` (in the same attribute set), refusing
  # to have both set.
  # An empty value (null, [ ], { }) counts as not set: the NixOS module
  # declares every spelling, so all of them are present in its config.
  alias = where: from: to: v:
    if !(hasAttr from v) || isEmpty v.${from} then removeAttrs v [ from ]
    else if hasAttr to v && !(isEmpty v.${to}) then
      throw "nspawnctl: ${where}: set ${to} or its alias ${from}, not both"
    else removeAttrs v [ from ] // { ${to} = v.${from}; };

  aliases = where: pairs: v: foldl' (acc: p: alias where (builtins.elemAt p 0) (builtins.elemAt p 1) acc) v pairs;

  # Alias tables: [ from to ] pairs, from the python-nixos-nspawn and nixpkgs
  # `containers` option names to this module's.
  machineAliases = [
    [ "autoStart" "autostart" ]
    [ "timeoutStartSec" "timeoutStart" ]
    [ "timeoutStopSec" "timeoutStop" ]
    [ "additionalCapabilities" "capabilities" ]
    [ "userNamespacing" "privateUsers" ]
    [ "bindReadOnly" "bindRo" ]
  ];
  hostNetworkAliases = [ [ "proxyNDP" "proxyNdp" ] [ "Address" "address" ] ];
  containerNetworkAliases = [
    [ "multicastDns" "mdns" ]
    [ "multicastDNS" "mdns" ]
    [ "Address" "address" ]
    [ "Gateway" "gateway" ]
    [ "DNS" "dns" ]
  ];
  zoneAliases = [ [ "multicastDns" "mdns" ] [ "multicastDNS" "mdns" ] [ "Address" "address" ] ];

  # The flat network options of python-nixos-nspawn (zone, bridge,
  # hostNetworkConfig, containerNetworkConfig) and nixpkgs (macvlans), and
  # the attribute of the network block each one sets.
  flatNetwork = {
    networkMode = "mode";
    zone = "zone";
    bridge = "bridge";
    macvlan = "macvlan";
    macvlans = "macvlan";
    ipvlan = "ipvlan";
    directRouting = "directRouting";
    isolated = "isolated";
    hostNetworkConfig = "host";
    containerNetworkConfig = "container";
  };

  # NixOS systemd.network.networks attributes accepted as sections of extra.
  networkdSectionNames = { networkConfig = "Network"; linkConfig = "Link"; dhcpServerConfig = "DHCPServer"; };

  # A capitalised name in a network block is a networkd [Network] key given
  # free-form, as NixOS' systemd.network.networks would not take it but
  # python-nixos-nspawn users write it (IPv6SendRA = true;). Aliases with
  # capitals (Address, DNS, ...) are resolved before.
  isNetworkdKey = n: builtins.match "[A-Z].*" n != null;

  # python-nixos-nspawn's hostNetworkConfig/containerNetworkConfig and
  # nixos.containers.zones are NixOS systemd.network.networks values; their
  # networkConfig/linkConfig/dhcpServerConfig become sections of `extra`.
  networkdSections = where: v0:
    let
      free = filter isNetworkdKey (attrNames v0);
      freeKeys = listToAttrs (map (n: { name = n; value = v0.${n}; }) (filter (n: v0.${n} != null) free));
      networkConfig = if hasAttr "networkConfig" v0 && v0.networkConfig != null then v0.networkConfig else { };
      dupFree = filter (n: hasAttr n networkConfig) (attrNames freeKeys);
      v = removeAttrs v0 free // (if freeKeys == { } then { } else { networkConfig = networkConfig // freeKeys; });
      sections = networkdSectionNames;
      given = filter (n: hasAttr n v && !(isEmpty v.${n})) (attrNames sections);
      extra = (if hasAttr "extra" v && v.extra != null then v.extra else { })
        // listToAttrs (map (n: { name = sections.${n}; value = v.${n}; }) given);
      dup = filter (n: hasAttr sections.${n} (v.extra or { })) given;
    in
    if dupFree != [ ] then throw "nspawnctl: ${where}: ${concatStringsSep ", " dupFree} set both directly and in networkConfig"
    else if dup != [ ] then throw "nspawnctl: ${where}: ${concatStringsSep ", " dup} and extra both set the same section"
    else removeAttrs v (attrNames sections) // (if extra == { } then { } else { inherit extra; });

  # ipv6Prefixes entries: { prefix; assign; } or networkd's spelling
  # { Prefix; Assign; } or the older { ipv6PrefixConfig = { Prefix; ... }; }.
  normaliseIPv6Prefix = p0:
    let
      # The module's submodule has every spelling, unset ones as null.
      p = listToAttrs (map (n: { name = n; value = p0.${n}; }) (filter (n: p0.${n} != null && n != "_module") (attrNames p0)));
      q = p.ipv6PrefixConfig or p;
    in
    if hasAttr "Prefix" q || hasAttr "Assign" q then
      removeAttrs q [ "Prefix" "Assign" ]
      // (if hasAttr "Prefix" q then { prefix = q.Prefix; } else { })
      // (if hasAttr "Assign" q then { assign = q.Assign; } else { })
    else q;

  normaliseHostNetwork = where: v:
    let
      v1 = networkdSections where (aliases where hostNetworkAliases v);
    in
    if v1 ? ipv6Prefixes && isList v1.ipv6Prefixes
    then v1 // { ipv6Prefixes = map normaliseIPv6Prefix v1.ipv6Prefixes; }
    else v1;

  normaliseContainerNetwork = where: v:
    networkdSections where (aliases where containerNetworkAliases v);

  # bindMounts: python-nixos-nspawn's list of "host:container[:options]", or
  # nixpkgs' attribute set { "/path" = { hostPath; mountPoint; isReadOnly; }; }
  # (read-only unless isReadOnly = false, as in nixpkgs).
  bindMounts = where: bm:
    if bm == null then { rw = [ ]; ro = [ ]; }
    else if isList bm then { rw = bm; ro = [ ]; }
    else if isAttrs bm then
      let
        entries = map
          (n:
            let
              e = bm.${n};
              mountPoint = if e.mountPoint or null == null then n else e.mountPoint;
              hostPath = if e.hostPath or null == null then mountPoint else e.hostPath;
              spec = if hostPath == mountPoint then mountPoint else "${hostPath}:${mountPoint}";
            in
            { inherit spec; ro = e.isReadOnly or true; })
          (attrNames bm);
      in
      {
        rw = map (e: e.spec) (filter (e: !e.ro) entries);
        ro = map (e: e.spec) (filter (e: e.ro) entries);
      }
    else throw "nspawnctl: ${where}.bindMounts must be a list or an attribute set";

  orEmpty = v: n: if hasAttr n v && v.${n} != null then v.${n} else [ ];

  normaliseMachine = name: m0:
    let
      where = "machines.${name}";
      # Renames of nixpkgs containers and python-nixos-nspawn options.
      m1 = aliases where machineAliases m0;

      # python-nixos-nspawn: activation = { strategy; autoStart; }.
      m2 =
        if m1 ? activation && isAttrs m1.activation then
          let a = m1.activation; in
          removeAttrs m1 [ "activation" ]
          // (if a.strategy or null != null then { activation = a.strategy; } else { })
          // (if a.autoStart or null == null then { }
              else if m1 ? autostart && m1.autostart != null then throw "nspawnctl: ${where}: set autostart or activation.autoStart, not both"
              else { autostart = a.autoStart; })
        else m1;

      # nixpkgs: path = the system closure; python-nixos-nspawn's string systemCallFilter.
      m3 =
        (if m2 ? path && m2.path != null then
          (if m2 ? root && m2.root != null then throw "nspawnctl: ${where}: set root or path, not both"
           else removeAttrs m2 [ "path" ] // { root = { nixosSystem = m2.path; }; })
        else removeAttrs m2 [ "path" ])
        // (if m2 ? systemCallFilter && isString m2.systemCallFilter
            then { systemCallFilter = [ m2.systemCallFilter ]; } else { });

      binds = bindMounts where (m3.bindMounts or null);
      m4 = removeAttrs m3 [ "bindMounts" ] // {
        bind = orEmpty m3 "bind" ++ binds.rw;
        bindRo = orEmpty m3 "bindRo" ++ binds.ro;
      };

      # The flat network options go into the network block; `network`
      # itself may also be given nested.
      flat = flatNetwork;
      flatGiven = filter (n: hasAttr n m4 && !(isEmpty m4.${n})) (attrNames flat);
      nested = if m4 ? network && m4.network != null then m4.network else null;
      network0 = foldl'
        (acc: n:
          if hasAttr flat.${n} acc && !(isEmpty acc.${flat.${n}})
          then throw "nspawnctl: ${where}: ${n} is set twice (as ${n} and as network.${flat.${n}}, or through an alias)"
          else acc // { ${flat.${n}} = m4.${n}; })
        (if nested == null then { } else nested)
        flatGiven;
      network1 = network0
        // (if network0 ? host && network0.host != null
            then { host = normaliseHostNetwork "${where}.hostNetworkConfig" network0.host; } else { })
        // (if network0 ? container && network0.container != null
            then { container = normaliseContainerNetwork "${where}.containerNetworkConfig" network0.container; } else { });
      m5 = removeAttrs m4 (attrNames flat ++ [ "network" ])
        // (if nested == null && flatGiven == [ ] then { } else { network = network1; });
    in
    m5;

  normaliseZone = name: z:
    networkdSections "zones.${name}"
      (aliases "zones.${name}" zoneAliases z);

  # A machine's extraConfig is HCL-JSON merged over its translated block: an
  # escape hatch for attributes newer than this module.
  machineBlock = name: m:
    translateBlock schemas.machine "machines.${name}" (normaliseMachine name m)
    // (if m.extraConfig or null == null then { } else m.extraConfig);

  enabled = set: filter (n: set.${n}.enable or true) (attrNames set);
  labelled = set: f:
    let names = enabled set; in
    if names == [ ] then { }
    else listToAttrs (map (n: { name = n; value = f n set.${n}; }) names);

  translate = opts:
    let
      o = if opts == null then { } else opts;
      unknown = filter (n: !(elem n topLevel)) (attrNames o);
      nonNull = n: if hasAttr n o && o.${n} != null then o.${n} else { };
      machines = labelled (nonNull "machines") machineBlock;
      zones = labelled (nonNull "zones") (n: z: translateBlock schemas.zone "zones.${n}" (normaliseZone n z));
      bridges = labelled (nonNull "bridges") (n: b: translateBlock schemas.bridge "bridges.${n}" b);
      defaults = if o.defaults or null == null then null else translateBlock schemas.defaults "defaults" o.defaults;
    in
    if unknown != [ ] then throw "nspawnctl: unknown top-level option(s) ${concatStringsSep ", " unknown}; known: ${concatStringsSep ", " topLevel}"
    else
      { "//" = "Generated by the nspawnctl NixOS module from services.nspawnctl; edit the NixOS configuration, not this file."; }
      // (if defaults == null || defaults == { } then { } else { inherit defaults; })
      // optionalAttr "machine" machines
      // optionalAttr "zone" zones
      // optionalAttr "bridge" bridges;

  # The options of services.nspawnctl that make up the document (module.nix
  # passes only these).
  topLevel = [ "machines" "zones" "bridges" "defaults" ];
in
{
  # Calling the set translates: (import ./translate.nix) options.
  __functor = _self: translate;

  # The schema and the helpers, for the tests (tests/module-options.nix).
  inherit schemas knownNames camelToSnake flatNetwork;

  # The HCL names each block emits, for the Go test that compares them with
  # the hcl tags of nspawnctl's schema structs.
  hclNames = builtins.mapAttrs
    (_: s: map (hclName s) ((s.attrs or [ ]) ++ (s.raw or [ ]))
      ++ map (n: s.blocks.${n}.hcl) (attrNames (s.blocks or { })))
    schemas;

  # Every option name translate accepts per block, aliases included.
  accepted =
    let froms = map (p: builtins.elemAt p 0); sections = attrNames networkdSectionNames; in
    builtins.mapAttrs (_: knownNames) schemas // {
      machine = knownNames schemas.machine ++ froms machineAliases ++ attrNames flatNetwork ++ [ "bindMounts" "path" "network" ];
      hostNetwork = knownNames schemas.hostNetwork ++ froms hostNetworkAliases ++ sections;
      containerNetwork = knownNames schemas.containerNetwork ++ froms containerNetworkAliases ++ sections;
      zone = knownNames schemas.zone ++ froms zoneAliases ++ sections;
      ipv6Prefix = knownNames schemas.ipv6Prefix ++ [ "Prefix" "Assign" "ipv6PrefixConfig" ];
    };

  # Blocks whose capitalised names are networkd [Network] keys (free-form).
  freeform = [ "hostNetwork" "containerNetwork" "zone" ];

  # For each block, the canonical names and the aliases that also set them.
  aliasesOf = {
    machine = machineAliases;
    hostNetwork = hostNetworkAliases;
    containerNetwork = containerNetworkAliases;
    zone = zoneAliases;
  };
}
