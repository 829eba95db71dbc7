# The NixOS module of nspawnctl: services.nspawnctl.
#
# It declares containers in Nix, writes them as one nspawnctl configuration
# in HCL's JSON syntax (/etc/nspawnctl/nixos.hcl.json, made by the pure
# translate.nix), and lets nspawnctl itself make the host match it:
# `nspawnctl apply --prune` runs on every activation whose configuration
# changed and at boot, before machines.target. So a NixOS host and a Debian
# host run exactly the same code path; this module only adds what NixOS owns
# (the host prerequisites, and evaluating NixOS containers' systems).
#
# Defaults are nspawnctl's: nearly every option is null by default and left
# out of the JSON, so `nspawnctl validate`'s rules and defaults apply.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib) mkOption mkEnableOption mkIf mkMerge mkDefault types literalExpression;

  cfg = config.services.nspawnctl;
  translate = import ./translate.nix;

  # The host, for the NixOS containers' evaluation (platform and pkgs).
  host = { inherit config pkgs; };

  nullOr = types.nullOr;
  optional = type: description: mkOption { type = nullOr type; default = null; inherit description; };
  list = description: mkOption { type = types.listOf types.str; default = [ ]; inherit description; };
  # networkd pass-through: { Section = { Key = value or [ values ]; }; }.
  raw = description: mkOption { type = types.attrsOf (types.attrsOf types.anything); default = { }; inherit description; };
  ruleValue = types.either types.bool types.str;
  # One networkd key's value, as NixOS' systemd.network.networks sections take
  # it (a list repeats the key).
  networkdAtom = types.oneOf [ types.bool types.int types.str ];
  networkdValue = types.either networkdAtom (types.listOf networkdAtom);
  networkdSection = description: mkOption { type = types.attrsOf networkdValue; default = { }; inherit description; };
  # The spellings of NixOS' systemd.network.networks (python-nixos-nspawn
  # passes hostNetworkConfig/containerNetworkConfig and its zones' network
  # config there): sections as options, and any other capitalised name as a
  # [Network] key (freeformType; translate.nix refuses lower-case ones).
  networkdSpellings = {
    freeformType = types.attrsOf networkdValue;
    options = {
      networkConfig = networkdSection "[Network] keys (same as extra.Network).";
      linkConfig = networkdSection "[Link] keys (same as extra.Link).";
      dhcpServerConfig = networkdSection "[DHCPServer] keys (same as extra.DHCPServer).";
    };
  };
  masqueradeType = types.either types.bool (types.enum [ "ipv4" "ipv6" "both" "no" ]);

  # --- nested blocks ------------------------------------------------------

  bootstrapOptions = {
    options = {
      suite = optional types.str "Debian release to bootstrap (nspawnctl's default: bookworm).";
      mirror = optional types.str "Archive URL for mmdebstrap.";
      variant = optional types.str "mmdebstrap variant (default minbase).";
      packages = list "Packages installed besides systemd and dbus.";
    };
  };

  rootOptions = {
    options = {
      directory = optional types.str "An existing root directory (default /var/lib/machines/NAME).";
      image = optional types.str "An existing disk image (.raw) under /var/lib/machines.";
      tarball = optional types.str "A tarball imported on creation.";
      nixosSystem = optional types.path ''
        A NixOS system closure the machine boots (Boot=no, Parameters=SYSTEM/init,
        /nix/store read-only). Set automatically from `config` or `path`.
      '';
      bootstrap = optional (types.submodule bootstrapOptions) "Bootstrap a Debian-family root with mmdebstrap.";
    };
  };

  limitsOptions = {
    options = {
      memoryMax = optional types.str "MemoryMax= of the container's unit, e.g. \"2G\".";
      cpuQuota = optional types.str "CPUQuota= of the container's unit, e.g. \"150%\".";
      tasksMax = optional types.ints.unsigned "TasksMax= of the container's unit.";
      nofile = optional types.ints.unsigned "RLIMIT_NOFILE of the container's processes.";
    };
  };

  forwardPortOptions = {
    options = {
      protocol = optional (types.enum [ "tcp" "udp" ]) "tcp (nspawnctl's default) or udp.";
      hostPort = mkOption {
        type = types.either types.port types.str;
        description = "Port (8080) or range (\"8000-8010\") on the host.";
      };
      containerPort = optional (types.either types.port types.str) "Port or range in the container (default: hostPort).";
      hostAddress = optional types.str "Bind the forward to this host address (IPv4 or IPv6).";
      allowFrom = list "Only these source prefixes may use the forward.";
    };
  };

  ipv6PrefixOptions = {
    options = {
      prefix = optional types.str "The prefix to announce on the link.";
      assign = optional types.bool "Also give the host side an address from it.";
      # networkd's and NixOS' spellings of the same ([IPv6Prefix] Prefix=, Assign=).
      Prefix = optional types.str "networkd's spelling of prefix.";
      Assign = optional (types.either types.bool types.str) "networkd's spelling of assign (a bool, or yes/no).";
      ipv6PrefixConfig = optional (types.attrsOf types.anything) "Older NixOS spelling: { Prefix; Assign; }.";
    };
  };

  prefixDelegationType = types.submodule {
    options = {
      uplink = optional types.str "Interface receiving the delegated prefix (default :auto).";
      subnetId = optional types.str "Subnet of the delegated prefix (hexadecimal).";
    };
  };

  hostNetworkOptions = {
    imports = [ networkdSpellings ];
    options = {
      address = list "Host side addresses in CIDR form (empty: allocated from the pool).";
      pool = optional types.str "IPv4 pool a /28 is allocated from.";
      ipv6Prefixes = mkOption {
        type = types.listOf (types.submodule ipv6PrefixOptions);
        default = [ ];
        description = "IPv6 prefixes announced on the link ([IPv6Prefix]).";
      };
      ula = optional types.bool "Give the link a /64 of the host's ULA /48 (nspawnctl's default: true).";
      masquerade = optional masqueradeType "IPMasquerade= (true means both).";
      dhcpServer = optional types.bool "Run networkd's DHCPv4 server on the link (default true).";
      prefixDelegation = optional prefixDelegationType "Take a subnet of an uplink's DHCPv6 prefix delegation.";
      proxyNdp = list "Uplinks on which the container's IPv6 addresses are answered by proxy NDP.";
      proxyNDP = list "python-nixos-nspawn's spelling of proxyNdp.";
      Address = list "networkd's spelling of address.";
      extra = raw "Raw networkd sections merged into the host side's .network file.";
    };
  };

  containerNetworkOptions = {
    imports = [ networkdSpellings ];
    options = {
      address = list "Static container addresses (empty: the allocated address, or DHCP).";
      gateway = list "Default gateways (empty: the host side).";
      dhcp = optional (types.either types.bool (types.enum [ "yes" "no" "ipv4" "ipv6" ])) "networkd's DHCP=.";
      dns = list "DNS servers for the container.";
      llmnr = optional types.bool "LLMNR= on the link (default yes).";
      mdns = optional types.bool "MulticastDNS= on the link (default no).";
      multicastDNS = optional types.bool "networkd's spelling of mdns.";
      multicastDns = optional types.bool "Another spelling of mdns.";
      Address = list "networkd's spelling of address.";
      Gateway = list "networkd's spelling of gateway.";
      DNS = list "networkd's spelling of dns.";
      extra = raw "Raw networkd sections merged into the container's .network file.";
    };
  };

  nebulaRuleOptions = {
    options = {
      port = optional (types.either types.port types.str) "any, N or N-M.";
      proto = optional (types.enum [ "any" "tcp" "udp" "icmp" ]) "Protocol.";
      host = optional types.str "Overlay host name, or any.";
      group = optional types.str "Certificate group.";
      groups = list "All of these certificate groups.";
      cidr = optional types.str "Source overlay prefix.";
      caName = optional types.str "Issuing CA's name.";
      caSha = optional types.str "Issuing CA's fingerprint.";
      localCidr = optional types.str "Local prefix (Nebula 1.7 or newer).";
    };
  };

  nebulaOptions = {
    options = {
      network = mkOption { type = types.str; description = "Name of the overlay."; };
      ca = mkOption { type = types.str; description = "Path of the CA certificate on the host."; };
      cert = optional types.str "Path of this machine's certificate.";
      key = optional types.str "Path of this machine's key.";
      caKey = optional types.str "Path of the CA key: nspawnctl signs a certificate.";
      address = optional types.str "Overlay address in CIDR form, when signing.";
      pool = optional types.str "Overlay prefix to allocate from, when signing.";
      groups = list "Groups put into a signed certificate.";
      lighthouses = list "Overlay addresses of the lighthouses.";
      amLighthouse = optional types.bool "This machine is a lighthouse.";
      staticHostMap = mkOption {
        type = types.attrsOf (types.listOf types.str);
        default = { };
        description = "Overlay address -> underlay \"host:port\" endpoints.";
      };
      listenPort = optional types.port "UDP port inside the container (0: random).";
      punchy = optional types.bool "NAT hole punching (default true).";
      device = optional types.str "tun device name (default nebula1).";
      mtu = optional types.ints.positive "tun MTU (default 1300).";
      advertiseAddrs = list "Underlay addresses (the host's) where other hosts reach this machine; listenPort is forwarded.";
      amRelay = optional types.bool "Relay for peers that cannot reach each other directly.";
      useRelays = optional types.bool "Reach peers through their relays (default true).";
      relays = list "Overlay addresses of relays peers may use to reach this machine.";
      address6 = optional types.str "IPv6 overlay address in CIDR form, when signing a version 2 certificate.";
      certVersion = optional (types.enum [ 1 2 ]) "Certificate version to sign (2 needs nebula 1.10 or later on every host).";
      duration = optional types.str "Lifetime of a signed certificate (a Go duration such as \"720h\").";
      renewBefore = optional types.str "How long before expiry `nspawnctl nebula renew` re-signs (a Go duration).";
      inbound = mkOption { type = types.listOf (types.submodule nebulaRuleOptions); default = [ ]; description = "Inbound firewall rules."; };
      outbound = mkOption { type = types.listOf (types.submodule nebulaRuleOptions); default = [ ]; description = "Outbound firewall rules."; };
    };
  };

  # nixpkgs `containers.<name>.bindMounts` entries.
  bindMountOptions = { name, ... }: {
    options = {
      mountPoint = mkOption { type = types.str; default = name; description = "Mount point in the container."; };
      hostPath = optional types.str "Source on the host (default: the mount point).";
      isReadOnly = mkOption { type = types.bool; default = true; description = "Mount read-only (nixpkgs' default)."; };
    };
  };

  # --- a machine ----------------------------------------------------------

  # python-nixos-nspawn and nixpkgs spellings of machine options; the
  # aliases appear in the evaluated config too, so they are removed before
  # translation (translate.nix would see both names set).
  machineAliases = {
    timeoutStartSec = "timeoutStart";
    timeoutStopSec = "timeoutStop";
    additionalCapabilities = "capabilities";
    macvlans = "macvlan";
    hostBridge = "bridge";
  };

  # nixpkgs containers.<name> options that this module maps onto the
  # options above (in the machine's `config` below) or onto NixOS' own unit
  # tree (allowedDevices); translate.nix never sees them.
  compatOptions = [
    "hostAddress" "localAddress" "hostAddress6" "localAddress6"
    "privateNetwork" "enableTun" "allowedDevices" "mountDaemonSocket"
  ] ++ lib.attrNames unsupported;

  # nixpkgs and python-nixos-nspawn options nspawnctl has no equivalent for:
  # declared (hidden) so that a migrated definition fails with this reason
  # and an alternative instead of "does not exist".
  unsupported = {
    extraFlags = "nspawnctl owns systemd-nspawn's command line; use the options that become .nspawn settings (bind, bindReadOnly, capabilities, privateUsers, ...) instead";
    credentials = "nspawnctl has no credentials setting yet (systemd-nspawn takes credentials only as --load-credential=/--set-credential= flags); bind the file read-only (bindReadOnly) instead";
  };

  machineOptions = { name, config, options, ... }: {
    imports = lib.mapAttrsToList (from: to: lib.mkAliasOptionModule [ from ] [ to ]) machineAliases;

    options = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Whether this machine is part of the configuration (false: apply --prune removes it).";
      };

      config = mkOption {
        description = ''
          A NixOS configuration for the container, as in nixpkgs' containers.<name>.config.
          It is evaluated with nixpkgs' eval-config.nix and its
          system.build.toplevel becomes root.nixosSystem.
        '';
        # As nixpkgs' containers module does: every definition of `config`
        # is a module of one NixOS evaluation, so the option merges like a
        # NixOS configuration and the result is that evaluation's config.
        type = lib.mkOptionType {
          name = "Toplevel NixOS config";
          merge = loc: defs:
            (import "${toString config.nixpkgs}/nixos/lib/eval-config.nix" {
              modules = [ (guestModule name config) ] ++ map (d: d.value) defs;
              prefix = [ "services" "nspawnctl" "machines" name "config" ];
              inherit (config) specialArgs;
              # The platform comes from the host (guestModule); null drops
              # eval-config's non-hermetic builtins.currentSystem default.
              system = null;
            }).config;
        };
      };

      nixpkgs = mkOption {
        type = types.path;
        default = pkgs.path;
        defaultText = literalExpression "pkgs.path";
        description = "The nixpkgs whose eval-config.nix evaluates `config`.";
      };

      specialArgs = mkOption {
        type = types.attrsOf types.unspecified;
        default = { };
        description = "Extra arguments of the modules in `config`.";
      };

      path = optional types.path "A built NixOS system to boot instead of `config` (nixpkgs' containers.<name>.path).";

      root = optional (types.submodule rootOptions) "Where the root file system comes from.";
      boot = optional types.bool "Run an init (nspawnctl's default: true; NixOS systems boot through their own init).";
      command = optional (types.listOf types.str) "The command to run, or the init's arguments.";
      ephemeral = optional types.bool "Run on a throw-away snapshot of the root.";
      privateUsers = optional (types.either types.ints.unsigned (types.enum [ "no" "yes" "pick" "identity" ])) "PrivateUsers= (no, yes, pick, identity, or a UID base).";
      bind = list "Bind mounts \"host:container[:options]\".";
      bindReadOnly = list "Read-only bind mounts \"host:container[:options]\".";
      tmpfs = list ''
        Mounts a set of tmpfs file systems into the container (nixpkgs' containers.<name>.tmpfs):
        "PATH" or "PATH:OPTIONS" with tmpfs mount options, e.g. [ "/var" "/var/tmp:mode=1777,size=1G" ].
      '';
      bindMounts = optional (types.either (types.listOf types.str) (types.attrsOf (types.submodule bindMountOptions))) ''
        Bind mounts as python-nixos-nspawn writes them (a list of "host:container[:options]")
        or as nixpkgs' containers do ({ "/path" = { hostPath; isReadOnly; }; }, read-only by default).
      '';
      environment = mkOption { type = types.attrsOf types.str; default = { }; description = "Environment of the container's init or command."; };
      capabilities = list "Capabilities added to the bounding set.";
      dropCapabilities = list "Capabilities removed from the bounding set.";
      systemCallFilter = mkOption {
        type = types.either types.str (types.listOf types.str);
        default = [ ];
        description = "SystemCallFilter= groups and calls (a string is one entry, as python-nixos-nspawn writes it).";
      };
      userNamespacing = optional types.bool "python-nixos-nspawn's switch: true is privateUsers = \"pick\", false is \"no\".";
      limits = optional (types.submodule limitsOptions) "Resource limits of the container's unit.";
      autoStart = optional types.bool "Start the machine at boot (machines.target).";
      timeoutStart = optional types.str "Start timeout, a systemd time span (e.g. \"2min\").";
      timeoutStop = optional types.str "Stop timeout, a systemd time span.";
      activation = optional (types.either activationStrategy (types.submodule {
        options = {
          strategy = optional activationStrategy "As activation itself.";
          autoStart = optional types.bool "As autoStart.";
        };
      })) ''
        How an apply takes effect on a running machine; "dynamic" (python-nixos-nspawn) is "auto".
        python-nixos-nspawn's `{ strategy; autoStart; }` is accepted too.
      '';

      networkMode = optional (types.enum [ "veth" "zone" "bridge" "macvlan" "ipvlan" "host" "none" ]) "network.mode (default: derived, else veth).";
      zone = optional types.str "Put the machine on the zone vz-ZONE.";
      bridge = optional types.str "Put the machine on this bridge.";
      macvlan = list "Host interfaces to create a macvlan on.";
      ipvlan = list "Host interfaces to create an ipvlan on.";
      directRouting = optional types.bool "network.direct_routing: other hosts may connect to the container's private addresses directly (veth machines; a zone sets it in zones.<name>; default false: only forwards reach it).";
      isolated = optional types.bool "network.isolated: no new connections to or from machines on the host's other links, except forwards (veth machines; a zone sets it in zones.<name>; default false).";
      hostNetworkConfig = optional (types.submodule hostNetworkOptions) "The host side of the veth link (network.host).";
      containerNetworkConfig = optional (types.submodule containerNetworkOptions) "The container's interface (network.container).";
      forwardPorts = mkOption {
        type = types.listOf (types.submodule forwardPortOptions);
        default = [ ];
        description = "Port forwards in io.systemd.nat (forward_port blocks).";
      };
      nebula = optional (types.submodule nebulaOptions) "A Nebula mesh sidecar.";

      # --- nixpkgs containers.<name> options (compatOptions) ---
      privateNetwork = optional types.bool ''
        nixpkgs' meaning: false shares the host's network (networkMode = "host"), true gives the
        container its own veth link. Unlike nixpkgs (default false), nspawnctl's default is a
        private veth link; leave it null for that.
      '';
      hostAddress = optional types.str "IPv4 address of the host side of the veth link (nixpkgs): hostNetworkConfig.address.";
      localAddress = optional types.str "IPv4 address of the container (nixpkgs): containerNetworkConfig.address.";
      hostAddress6 = optional types.str "IPv6 address of the host side (nixpkgs).";
      localAddress6 = optional types.str "IPv6 address of the container (nixpkgs).";
      enableTun = mkOption {
        type = types.bool;
        default = false;
        description = "Let the container create tun/tap devices (nixpkgs): adds CAP_NET_ADMIN; systemd-nspawn@.service already allows /dev/net/tun.";
      };
      allowedDevices = mkOption {
        type = types.listOf (types.submodule {
          options = {
            node = mkOption { type = types.str; example = "/dev/net/tun"; description = "Device node or class (DeviceAllow=)."; };
            modifier = mkOption { type = types.strMatching "[rwm]+"; example = "rw"; description = "r, w and/or m."; };
          };
        });
        default = [ ];
        description = "DeviceAllow= entries added to the container's unit (nixpkgs); bind the node in as well if nspawn does not create it.";
      };
      # Refused with a reason (see unsupported); hidden from the documentation.
      extraFlags = unsupportedOption;
      credentials = unsupportedOption;
      mountDaemonSocket = mkOption {
        type = types.bool;
        default = false;
        description = "Bind the host's nix daemon socket read-only into the container, so that `nix` inside uses the host's daemon (NIX_REMOTE=daemon).";
      };

      extraConfig = mkOption {
        type = types.attrsOf types.anything;
        default = { };
        description = "HCL-JSON attributes merged over this machine's block, for attributes newer than this module.";
      };
    };

    config = mkMerge [
      { root = mkIf options.config.isDefined { nixosSystem = config.config.system.build.toplevel; }; }
      (mkIf (config.privateNetwork == false) { networkMode = "host"; })
      (mkIf (config.hostAddress != null || config.hostAddress6 != null) {
        hostNetworkConfig.address = lib.filter (a: a != null) [
          (withPrefix config.hostAddress config.localAddress)
          (withPrefix config.hostAddress6 config.localAddress6)
        ];
      })
      (mkIf (config.localAddress != null || config.localAddress6 != null) {
        containerNetworkConfig.address = lib.filter (a: a != null) [
          (withPrefix config.localAddress config.hostAddress)
          (withPrefix config.localAddress6 config.hostAddress6)
        ];
      })
      (mkIf config.enableTun { capabilities = [ "CAP_NET_ADMIN" ]; })
      (mkIf config.mountDaemonSocket { bindReadOnly = [ daemonSocket ]; })
    ];
  };

  unsupportedOption = mkOption { type = types.anything; default = null; visible = false; description = "Not supported (see the assertion)."; };

  activationStrategy = types.enum [ "auto" "restart" "reload" "none" "dynamic" ];
  daemonSocket = "/nix/var/nix/daemon-socket";

  # nixpkgs' hostAddress/localAddress are plain addresses of a point-to-point
  # pair (a /32 or /128 each, with a route to the other); nspawnctl's links
  # share a subnet, of at least two addresses besides the IPv4 network and
  # broadcast addresses. An address without a prefix length gets the longest
  # prefix that holds both ends (10.231.136.1 and .2: /30), at most /30
  # (/126), and shorter while an end would be the IPv4 subnet's first or last
  # address; so the routes are the same. One end alone: /30 (/126). An
  # address with a prefix length is kept, and gives the other end its length.
  withPrefix = addr: peer:
    let
      v6 = lib.hasInfix ":" addr;
      other = if peer == null then addr else lib.head (lib.splitString "/" peer);
      longest = if v6 then 126 else 30;
      common = lib.min longest (commonPrefix addr other);
    in
    if addr == null then null
    else if lib.hasInfix "/" addr then addr
    # The other end's prefix length says how large the subnet is.
    else if peer != null && lib.hasInfix "/" peer then "${addr}/${lib.last (lib.splitString "/" peer)}"
    else "${addr}/${toString (if v6 then common else fitIPv4 (ipv4Int addr) (ipv4Int other) common)}";

  ipv4Int = x: lib.foldl' (acc: o: acc * 256 + lib.toInt o) 0 (lib.splitString "." x);
  pow2 = n: if n == 0 then 1 else 2 * pow2 (n - 1);
  # The longest prefix, from p down, in which neither a nor b is the
  # subnet's network or broadcast address.
  fitIPv4 = a: b: p:
    let size = pow2 (32 - p); edge = x: lib.mod x size == 0 || lib.mod x size == size - 1; in
    if p > 0 && (edge a || edge b) then fitIPv4 a b (p - 1) else p;

  # The number of leading bits two addresses of one family share.
  commonPrefix = a: b:
    let
      v6 = lib.hasInfix ":" a;
      groups = x:
        if v6 then map lib.fromHexString (lib.splitString ":" (lib.network.ipv6.fromString x).address)
        else map lib.toInt (lib.splitString "." x);
      width = if v6 then 16 else 8;
      # Leading equal bits of one group pair.
      equalBits = x: y:
        let d = lib.bitXor x y; count = n: v: if v == 0 then n else count (n - 1) (v / 2); in
        count width d;
      go = xs: ys:
        if xs == [ ] then 0
        else let e = equalBits (lib.head xs) (lib.head ys); in
          if e < width then e else width + go (lib.tail xs) (lib.tail ys);
    in
    if lib.hasInfix ":" b != v6 then throw "nspawnctl: ${a} and ${b} are not of the same address family"
    else go (groups a) (groups b);

  # The base of every NixOS container: what a system booted by nspawn with
  # the host's /nix/store, managed by nspawnctl, needs.
  guestModule = name: mcfg: { options, ... }: {
    _file = "${toString ./module.nix} (the base module of services.nspawnctl.machines.${name}.config)";
    config = {
      nixpkgs =
        if options.nixpkgs ? hostPlatform
        then { inherit (host.pkgs.stdenv) hostPlatform; }
        else { localSystem = host.pkgs.stdenv.hostPlatform; };
      boot.isNspawnContainer = true;
      networking.hostName = mkDefault name;
      # The host's networkd configures the host side; the container's
      # networkd the container side, from containerNetworkConfig.
      networking.useNetworkd = mkDefault true;
      networking.useDHCP = false;
      # nixpkgs' container profile (container-config.nix) sets
      # useHostResolvConf = mkDefault true for every container; here the
      # container has its own link and resolved, which refuses a copied
      # resolv.conf (resolved.nix's assertion). A second mkDefault would
      # conflict with nixpkgs', so this is one step stronger than mkDefault
      # and still weaker than a plain definition in the user's config.
      networking.useHostResolvConf = lib.mkOverride 900 false;
      services.resolved.enable = mkDefault true;
      systemd.network.networks."20-nspawnctl-host0" = guestNetwork mcfg;
    };
  };

  # The container's own .network for host0 (veth, zone, bridge) or the
  # macvlan/ipvlan link. nspawnctl writes no files into a NixOS root, so the
  # container side comes from here: DHCP by default (the host's networkd
  # hands out the allocated address, pinned by a static lease), static when
  # containerNetworkConfig.address is set.
  guestNetwork = mcfg:
    let
      c = mcfg.containerNetworkConfig;
      h = mcfg.hostNetworkConfig;
      # Every spelling the option set has (translate.nix resolves the same
      # aliases for the HCL document).
      given = f: alt: if c == null then [ ] else c.${f} ++ c.${alt};
      firstSet = names: lib.findFirst (v: v != null) null (map (n: if c == null then null else c.${n}) names);
      address = given "address" "Address";
      static = address != [ ];
      # A static container address has no DHCP lease to bring a default
      # route: as nspawnctl does for other roots, the gateway is the host
      # side of the link.
      hostSide = if h == null then [ ] else map (a: lib.head (lib.splitString "/" a)) (h.address ++ h.Address);
      gateway = let g = given "gateway" "Gateway"; in if g == [ ] && static then hostSide else g;
      dhcp = if c != null && c.dhcp != null then (if builtins.isBool c.dhcp then (if c.dhcp then "yes" else "no") else c.dhcp)
             else if static then "no" else "yes";
      mdns = firstSet [ "mdns" "multicastDNS" "multicastDns" ];
      freeKeys = if c == null then { } else lib.filterAttrs (n: _: builtins.match "[A-Z].*" n != null && !(builtins.elem n [ "Address" "Gateway" "DNS" ])) (removeAttrs c [ "_module" ]);
    in
    {
      matchConfig = {
        Virtualization = "container";
        Name = "host0 mv-* iv-*";
      };
      address = address;
      inherit gateway;
      dns = given "dns" "DNS";
      networkConfig = lib.mapAttrs (_: mkDefault) {
        DHCP = dhcp;
        IPv6AcceptRA = true;
        LinkLocalAddressing = "yes";
        LLMNR = if c != null && c.llmnr != null then c.llmnr else true;
        MulticastDNS = if mdns != null then mdns else false;
      } // (if c != null then c.networkConfig // freeKeys else { });
      linkConfig = if c != null then c.linkConfig else { };
    };

  # --- zones, bridges, defaults ------------------------------------------

  zoneOptions = {
    imports = [ networkdSpellings ];
    options = {
      enable = mkOption { type = types.bool; default = true; description = "Whether this zone is part of the configuration."; };
      address = list "The zone bridge's addresses (empty: a /24 from the pool).";
      pool = optional types.str "IPv4 pool a /24 is allocated from.";
      ula = optional types.bool "Give the zone a /64 of the host's ULA /48 (default true).";
      dhcpServer = optional types.bool "Run networkd's DHCPv4 server on the zone (default true).";
      llmnr = optional types.bool "LLMNR on the zone (default true).";
      mdns = optional types.bool "mDNS on the zone (default false).";
      masquerade = optional masqueradeType "IPMasquerade= (true means both; default both).";
      prefixDelegation = optional prefixDelegationType "Give the zone a subnet of an uplink's DHCPv6 prefix delegation.";
      multicastDNS = optional types.bool "networkd's spelling of mdns.";
      multicastDns = optional types.bool "Another spelling of mdns.";
      Address = list "networkd's spelling of address.";
      directRouting = optional types.bool "The members' default for directRouting (default false).";
      isolated = optional types.bool "The members' default for isolated (default false).";
      extra = raw "Raw networkd sections merged into vz-ZONE's .network file.";
    };
  };

  bridgeOptions = {
    options = {
      enable = mkOption { type = types.bool; default = true; description = "Whether this bridge is part of the configuration."; };
      address = list "The bridge's own addresses.";
      uplink = optional types.str "Host interface enslaved to the bridge.";
      dhcp = optional (types.either types.bool (types.enum [ "yes" "no" "ipv4" "ipv6" ])) "networkd's DHCP= on the bridge.";
      dhcpServer = optional types.bool "Run networkd's DHCPv4 server on the bridge (default false).";
      masquerade = optional masqueradeType "IPMasquerade= (default no).";
      extra = raw "Raw networkd sections for the bridge's .network file.";
      netdevExtra = raw "Raw sections for the bridge's .netdev file.";
    };
  };

  defaultsOptions = {
    options = {
      stateDir = optional types.str "nspawnctl's state directory (default /var/lib/nspawnctl).";
      machinesDir = optional types.str "Where machine roots live (default /var/lib/machines).";
      # /etc/systemd/system is a read-only link into the Nix store on NixOS,
      # so drop-ins go to the runtime unit directory; the apply unit runs at
      # every boot before machines.target and writes them again.
      unitDir = mkOption {
        type = nullOr types.str;
        default = "/run/systemd/system";
        description = "Where unit drop-ins and autostart links go.";
      };
      ipv4Pool = optional types.str "Pool of the per-machine IPv4 /28s.";
      zoneIpv4Pool = optional types.str "Pool of the per-zone IPv4 /24s.";
      ulaPrefix = optional types.str "ULA /48 instead of the one derived from the machine id.";
      nebulaPool = optional types.str "Default overlay pool for Nebula certificates.";
    };
  };

  # --- the document -------------------------------------------------------

  # Only the options translate.nix knows; module-only ones (config, nixpkgs,
  # specialArgs) are ignored there, and `config` has become root.nixosSystem.
  document = translate {
    machines = lib.mapAttrs (_: m: removeAttrs m (lib.attrNames machineAliases ++ compatOptions)) cfg.machines;
    inherit (cfg) zones bridges defaults;
  };
  # Pretty-printed (nixpkgs' formats.json runs jq), so that nspawnctl's
  # diagnostics point at a line of their own.
  configFile = (pkgs.formats.json { }).generate "nspawnctl-nixos.hcl.json" document;

  enabledMachines = lib.filterAttrs (_: m: m.enable) cfg.machines;
  # autoStart as translate.nix reads it: also python-nixos-nspawn's
  # activation.autoStart.
  autostarts = m: m.autoStart == true || (builtins.isAttrs m.activation && m.activation.autoStart == true);
  autostarted = lib.attrNames (lib.filterAttrs (_: autostarts) enabledMachines);

  # A root that apply fetches (mmdebstrap, or a tarball given as a URL) needs
  # the network on the first boot that creates it.
  fetchesRoot = m: m.root != null && (m.root.bootstrap != null || (m.root.tarball != null && builtins.match "[a-z]+://.*" m.root.tarball != null));
  needsNetworkOnline = lib.any fetchesRoot (lib.attrValues enabledMachines);

  # The build-time check: nspawnctl's own validation of the generated
  # configuration, in a derivation that system.checks pulls into
  # `nixos-rebuild build`. It needs no host: the machine id (from which only
  # the ULA prefix and MAC addresses are derived) is a fixed one.
  validateCommand = "${cfg.package}/bin/nspawnctl validate --machine-id 00000000000000000000000000000001 ${configFile} > $out";
  validateCheck = pkgs.runCommand "nspawnctl-validate" { } validateCommand;

  # Unit hooks call nspawnctl through the system profile, so that a package
  # update does not change every rendered drop-in (and restart containers).
  binary = "/run/current-system/sw/bin/nspawnctl";

  containerInterfaces = if config.networking.nftables.enable then [ "ve-*" "vz-*" "vb-*" ] else [ "ve-+" "vz-+" "vb-+" ];
in
{
  options.services.nspawnctl = {
    enable = mkEnableOption "nspawnctl, declarative systemd-nspawn containers";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = literalExpression "pkgs.callPackage ./package.nix { } (the flake sets its packages.default)";
      description = "The nspawnctl package.";
    };

    machines = mkOption {
      type = types.attrsOf (types.submodule machineOptions);
      default = { };
      description = "Containers, one `machine \"NAME\"` block each.";
    };

    zones = mkOption {
      type = types.attrsOf (types.submodule zoneOptions);
      default = { };
      description = "Zones (vz-NAME bridges shared by machines).";
    };

    bridges = mkOption {
      type = types.attrsOf (types.submodule bridgeOptions);
      default = { };
      description = "Bridges nspawnctl creates.";
    };

    defaults = mkOption {
      type = types.submodule defaultsOptions;
      default = { };
      description = "The global defaults block.";
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "--force" ];
      description = "Extra arguments of `nspawnctl apply`.";
    };

    trustContainerInterfaces = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Trust ve-, vz- and vb- links in the host firewall, so that DHCP, DNS,
        LLMNR and mDNS from containers reach the host.
      '';
    };

    checkConfig = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Run `nspawnctl validate` on the generated configuration when the system is built
        (a system.checks derivation), so that `nixos-rebuild build` stops with nspawnctl's
        diagnostic instead of nspawnctl-apply.service failing after a switch.
      '';
    };

    configFile = mkOption {
      type = types.path;
      readOnly = true;
      default = configFile;
      defaultText = literalExpression "the translation of services.nspawnctl";
      description = "The generated configuration, also at /etc/nspawnctl/nixos.hcl.json.";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = lib.flatten (lib.mapAttrsToList
        (name: m: [
          {
            assertion = !(m.path != null && m.root != null);
            message = "services.nspawnctl.machines.${name}: set one of config, path and root (config sets root.nixosSystem).";
          }
        ]
        ++ lib.mapAttrsToList
          (option: reason: {
            assertion = lib.elem m.${option} [ null [ ] { } ];
            message = "services.nspawnctl.machines.${name}.${option}: ${reason}.";
          })
          unsupported
        ++ [
          {
            assertion = !(m.zone != null && m.hostNetworkConfig != null);
            message = "services.nspawnctl.machines.${name}: zone and hostNetworkConfig cannot be combined (a zone's host side is the zone's).";
          }
        ])
        enabledMachines)
      ++ [
        {
          assertion = config.systemd.network.enable;
          message = "services.nspawnctl needs systemd-networkd (systemd.network.enable or networking.useNetworkd).";
        }
        {
          assertion = builtins.elem "mymachines" config.system.nssDatabases.hosts;
          message = "services.nspawnctl: add \"mymachines\" to system.nssDatabases.hosts so container names resolve on the host.";
        }
      ];

      system.checks = mkIf cfg.checkConfig [ validateCheck ];

      environment.systemPackages = [ cfg.package ];
      environment.etc."nspawnctl/nixos.hcl.json".source = configFile;

      # networkd configures the host side of every container link; it runs
      # beside scripted networking, dhcpcd or NetworkManager, which must
      # leave those links alone.
      systemd.network.enable = mkDefault true;
      networking.dhcpcd.denyInterfaces = [ "ve-*" "vz-*" "vb-*" ];
      networking.networkmanager.unmanaged = [ "interface-name:ve-*" "interface-name:vz-*" "interface-name:vb-*" ];

      # Routing for the containers and the port forwards' DNAT (doctor's
      # forwarding checks). networkd's IPMasquerade= would turn IPv4 on too,
      # but only once a link is configured.
      boot.kernel.sysctl = {
        "net.ipv4.ip_forward" = mkDefault 1;
        "net.ipv6.conf.all.forwarding" = mkDefault 1;
      };

      networking.firewall.trustedInterfaces = mkIf cfg.trustContainerInterfaces containerInterfaces;

      # machines.target at boot, as nixpkgs' nspawn.nix has it; autostarted
      # machines come through nspawnctl-autostart (below).
      systemd.targets.multi-user.wants = [ "machines.target" ];

      systemd.services.nspawnctl-apply = {
        description = "Apply the declared systemd-nspawn containers (nspawnctl)";
        documentation = [ "https://github.com/nspawnctl/nspawnctl" ];
        wantedBy = [ "multi-user.target" "machines.target" ];
        before = [ "machines.target" ];
        # A bootstrap or a tarball download on the first boot needs the
        # network up, not just networkd started.
        wants = [ "network.target" "systemd-networkd.service" ] ++ lib.optional needsNetworkOnline "network-online.target";
        after = [ "network.target" "systemd-networkd.service" "dbus.service" "systemd-machined.service" "nftables.service" ]
          ++ lib.optional needsNetworkOnline "network-online.target";
        # A changed configuration (or package) restarts this unit on
        # `nixos-rebuild switch`: that is the "apply on activation".
        restartTriggers = [ configFile ];
        path = [ cfg.package config.systemd.package ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = lib.escapeShellArgs ([
            "${cfg.package}/bin/nspawnctl"
            "apply"
            "--prune"
            "--binary"
            binary
          ] ++ cfg.extraArgs ++ [ "/etc/nspawnctl/nixos.hcl.json" ]);
        };
      };

      # `nft flush ruleset` (nftables.service starting, restarting or
      # reloading) deletes io.systemd.nat; this puts nspawnctl's forwards and
      # networkd's masquerading back (doctor's nftables-flush check).
      systemd.services.nspawnctl-nat-restore = {
        description = "Restore nspawnctl's port forwards after a firewall reload";
        after = [ "nftables.service" "systemd-networkd.service" ];
        partOf = [ "nftables.service" ];
        wantedBy = [ "nftables.service" "multi-user.target" ];
        # A reload of nftables.service flushes too; PartOf= propagates only
        # stop and restart, so follow reloads explicitly.
        unitConfig.ReloadPropagatedFrom = [ "nftables.service" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${cfg.package}/bin/nspawnctl nat restore";
          ExecReload = "${cfg.package}/bin/nspawnctl nat restore";
        };
      };
    }
    {
      # Autostart at boot. nspawnctl's drop-ins (limits, NAT hooks, a root
      # outside /var/lib/machines) live in /run/systemd/system (unitDir),
      # which is empty after a reboot until apply has written them and
      # reloaded systemd; a container that machines.target started beside
      # apply would run once without them and then be restarted by apply.
      # So the containers are started by this unit, after apply has
      # finished. Not by ordering systemd-nspawn@NAME itself after apply:
      # apply starts (and restarts) machines and waits for the job, and a job
      # ordered after the running apply would wait for apply in turn, a
      # deadlock at every first start or restart. --no-block: the boot does
      # not wait for the containers, whose own units report failures.
      # restartIfChanged = false: it runs at boot (and when first added);
      # on a switch, apply itself starts newly created autostarted machines.
      systemd.services.nspawnctl-autostart = mkIf (autostarted != [ ]) {
        description = "Start the autostarted systemd-nspawn containers after nspawnctl apply";
        wantedBy = [ "machines.target" ];
        before = [ "machines.target" ];
        wants = [ "nspawnctl-apply.service" ];
        after = [ "nspawnctl-apply.service" ];
        restartIfChanged = false;
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = lib.escapeShellArgs ([ "${config.systemd.package}/bin/systemctl" "start" "--no-block" ]
            ++ map (n: "systemd-nspawn@${n}.service") autostarted);
        };
      };
    }
    {
      # nixpkgs' allowedDevices: DeviceAllow= in a drop-in of the machine's
      # unit in NixOS' own unit tree (an instance of a template unit is a
      # drop-in, overrideStrategy, as nixpkgs documents for
      # systemd-nspawn@NAME).
      systemd.services = lib.mapAttrs'
        (name: m: lib.nameValuePair "systemd-nspawn@${name}" {
          overrideStrategy = "asDropin";
          serviceConfig.DeviceAllow = map (d: "${d.node} ${d.modifier}") m.allowedDevices;
        })
        (lib.filterAttrs (_: m: m.allowedDevices != [ ]) enabledMachines);
    }
  ]);
}
