# A root outside the machine pool goes on the drop-in's ExecStart= line,
# where systemd would expand % specifiers and $ variables.
machine "web" {
  root {
    directory = "/srv/%n" # ERROR: Invalid root path
  }
}
machine "db" {
  root {
    directory = "/srv/$HOME" # ERROR: would expand
  }
}
