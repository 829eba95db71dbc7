# gohcl converts numbers to strings with big.Float.Text: 1e100000000 would
# take minutes and gigabytes, so such magnitudes are refused while parsing.
machine "web" {
  forward_port {
    host_port = 1e100000000 # ERROR: Number out of range
  }
  limits {
    tasks_max = 1e-100000000 # ERROR: Number out of range
  }
}
