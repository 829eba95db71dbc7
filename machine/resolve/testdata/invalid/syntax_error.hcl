machine "web" {
  autostart = true
  bind = ["/a",
} # ERROR: Invalid expression
