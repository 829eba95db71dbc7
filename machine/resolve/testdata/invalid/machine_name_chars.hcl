# Machine names must be valid hostnames (systemd's hostname_is_valid).
machine "web_1" {} # ERROR: Invalid machine name
machine "web 2" {} # ERROR: is not allowed
machine "wéb" {} # ERROR: Invalid machine name
machine "" {} # ERROR: the name is empty
machine "ok" {}
