machine "web" {
  networks { # ERROR: Unsupported block type
    zone = "lab"
  }
}
