# nspawn names the zone's bridge vz-NAME and never shortens it: 12 characters at most.
zone "abcdefghijkl" {}
zone "abcdefghijklm" {} # ERROR: Invalid zone name
