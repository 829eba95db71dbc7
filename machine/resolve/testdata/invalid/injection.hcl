# Values that would start a new line or section in a rendered file.
machine "web" {
  command            = ["/bin/sh", "-c\n[Service]\nExecStart=/bin/evil"] # ERROR: Value cannot be rendered safely
  system_call_filter = ["@system-service\r\nExecStart=/bin/evil"] # ERROR: line break
  environment = {
    PATH = "/bin\u0000" # ERROR: control character
  }
  bind    = ["/srv\n[Service]:/srv"] # ERROR: Value cannot be rendered safely
  limits {
    memory_max = "1G\n[Service]" # ERROR: Invalid memory limit
  }
  timeout_start = "90s\nExecStart=/bin/evil" # ERROR: Invalid time span
  timeout_stop  = "90\n5s" # ERROR: Invalid time span
  network {
    container {
      dns     = ["fe80::1%eth0\n[Service]"] # ERROR: Invalid DNS server
      gateway = ["fe80::1%x\ny"] # ERROR: Invalid gateway
    }
  }
}
machine "db" {
  command = ["ends-with\\"] # ERROR: ends with a backslash
  network {
    bridge = "br\u001b0" # ERROR: Invalid bridge name
  }
}
