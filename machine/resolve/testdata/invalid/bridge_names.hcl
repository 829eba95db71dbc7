bridge "br0" {}
bridge "vz-lab" {} # ERROR: Reserved bridge name
bridge "br-0123456789abc" {} # ERROR: Invalid bridge name
bridge "br0" {} # ERROR: Duplicate bridge
bridge "br:1" {} # ERROR: Invalid bridge name
bridge "12" {} # ERROR: all digits
