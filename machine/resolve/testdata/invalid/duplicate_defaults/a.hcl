defaults {
  state_dir = "/var/lib/nspawnctl"
}
machine "web" {}
