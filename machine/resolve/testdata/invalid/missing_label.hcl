zone { # ERROR: Missing name for zone
}
