# The HCL twin of nixpkgs-addresses.nix.
machine "pair" {
  root {
    directory = "/var/lib/machines/pair"
  }
  network {
    host {
      # 10.231.136.8/30 holds .9 and .10, neither its first nor its last address.
      address = ["10.231.136.9/30", "fc00::1/126"]
    }
    container {
      address = ["10.231.136.10/30", "fc00::2/126"]
    }
  }
}

machine "lan" {
  root {
    directory = "/var/lib/machines/lan"
  }
  network {
    host {
      address = ["10.232.0.1/24"]
    }
    container {
      address = ["10.232.0.2/24"]
    }
  }
}

machine "alone" {
  root {
    directory = "/var/lib/machines/alone"
  }
  network {
    host {
      address = ["10.233.0.1/30"]
    }
  }
}

# .10 and .11 share a /31, and .11 would be the broadcast address of
# 10.234.0.8/30: both get a /29.
machine "edge" {
  root {
    directory = "/var/lib/machines/edge"
  }
  network {
    host {
      address = ["10.234.0.10/29"]
    }
    container {
      address = ["10.234.0.11/29"]
    }
  }
}

bridge "br0" {}

machine "bridged" {
  root {
    directory = "/var/lib/machines/bridged"
  }
  network {
    bridge = "br0"
  }
}

machine "shared" {
  root {
    directory = "/var/lib/machines/shared"
  }
  network {
    mode = "host"
  }
}
