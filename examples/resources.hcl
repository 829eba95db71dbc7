# Resource limits, bind mounts, environment and privileges. Limits go into the
# unit drop-in (MemoryMax=, CPUQuota=, TasksMax= on systemd-nspawn@ci.service),
# except nofile, which nspawn applies to the container's processes
# (LimitNOFILE= in the .nspawn file).
defaults {
  # Machine roots on a separate file system.
  machines_dir = "/srv/machines"
}

machine "ci" {
  root {
    bootstrap {
      suite    = "bookworm"
      mirror   = "http://deb.debian.org/debian"
      variant  = "minbase"
      packages = ["git", "build-essential", "ca-certificates"]
    }
  }

  limits {
    memory_max = "4G"
    # Two CPUs' worth of time.
    cpu_quota = "200%"
    tasks_max = 2048
    nofile    = 65536
  }

  # host:container[:options]; a single path binds to the same path.
  bind    = ["/srv/ci/work:/work", "/srv/ci/cache:/var/cache/ci:norbind"]
  bind_ro = ["/srv/ci/secrets"]

  environment = {
    CI          = "true"
    RUNNER      = "builder-1"
    HTTPS_PROXY = "http://proxy.example.net:3128"
  }

  # The runner starts nested containers for jobs.
  capabilities       = ["CAP_NET_ADMIN"]
  drop_capabilities  = ["CAP_SYS_BOOT"]
  system_call_filter = ["@system-service", "@mount"]

  autostart     = true
  timeout_start = "2min"
  timeout_stop  = "30s"
  activation    = "restart"
}
