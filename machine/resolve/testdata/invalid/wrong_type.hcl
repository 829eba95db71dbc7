machine "web" {
  autostart = "sometimes" # ERROR: Unsuitable value type
}
