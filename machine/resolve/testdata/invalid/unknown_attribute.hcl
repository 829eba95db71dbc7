machine "web" {
  autostart = true
  hostname  = "web" # ERROR: Unsupported argument
}
