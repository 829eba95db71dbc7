machine "web" {}
machine "db" {}
machine "web" { # ERROR: Duplicate machine
  autostart = true
}
