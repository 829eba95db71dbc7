# examples/resources.hcl as services.nspawnctl options: defaults, limits,
# binds, environment, capabilities and lifecycle settings.
{
  defaults.machinesDir = "/srv/machines";

  machines.ci = {
    root.bootstrap = {
      suite = "bookworm";
      mirror = "http://deb.debian.org/debian";
      variant = "minbase";
      packages = [ "git" "build-essential" "ca-certificates" ];
    };
    limits = {
      memoryMax = "4G";
      cpuQuota = "200%";
      tasksMax = 2048;
      nofile = 65536;
    };
    bind = [ "/srv/ci/work:/work" "/srv/ci/cache:/var/cache/ci:norbind" ];
    bindReadOnly = [ "/srv/ci/secrets" ];
    environment = {
      CI = "true";
      RUNNER = "builder-1";
      HTTPS_PROXY = "http://proxy.example.net:3128";
    };
    capabilities = [ "CAP_NET_ADMIN" ];
    dropCapabilities = [ "CAP_SYS_BOOT" ];
    systemCallFilter = [ "@system-service" "@mount" ];
    autoStart = true;
    timeoutStart = "2min";
    timeoutStop = "30s";
    activation = "restart";
  };
}
