# Two containers on a zone: the networking guide's "Zones". systemd-nspawn
# creates the bridge vz-backend when the first member starts and plugs each
# member's vb- port into it; nspawnctl writes the bridge's host-side
# configuration (20-vz-backend.network) and gives each member a static address
# in the zone's /24 and /64.
#
# The members reach each other directly over the bridge and resolve each other
# by name with LLMNR (systemd-resolved, UDP/TCP 5355): from app,
# `ping db` works. Open port 5355 in the containers' firewalls if they have one.
zone "backend" {
  # LLMNR is on by default; said here because the example relies on it.
  llmnr = true
  # mDNS ($hostname.local, UDP 5353) stays off: LLMNR is enough between
  # systemd-resolved hosts.
  mdns = false
}

machine "app" {
  root {
    bootstrap {
      suite    = "bookworm"
      packages = ["python3", "python3-psycopg2"]
    }
  }

  network {
    zone = "backend"
  }

  # Forwards to a zone member go to its address in the zone.
  forward_port {
    host_port = 8080
  }
}

machine "db" {
  root {
    bootstrap {
      suite    = "bookworm"
      packages = ["postgresql"]
    }
  }

  network {
    zone = "backend"
  }
}
