machine "web" {
  environment = {
    GOOD    = "value"
    "1FOO"  = "x"        # ERROR: Invalid environment variable name
    "A-B"   = "x"        # ERROR: is not a valid variable name
    LINE    = "a\nb"     # ERROR: The value of environment variable LINE cannot go into a unit file
  }
}
