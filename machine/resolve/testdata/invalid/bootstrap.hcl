machine "web" {
  root {
    bootstrap {
      variant  = "tiny" # ERROR: Invalid bootstrap variant
      packages = ["nginx", "two words", ""] # ERROR: "two words" is not a Debian package name # ERROR: "" is not a Debian package name
    }
  }
}
