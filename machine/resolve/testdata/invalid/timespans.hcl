machine "web" {
  timeout_start = "soon" # ERROR: Invalid time span
  timeout_stop  = "-5s"  # ERROR: is not a systemd time span
}
machine "db" {
  timeout_start = "2min 30s"
  timeout_stop  = "infinity"
}
