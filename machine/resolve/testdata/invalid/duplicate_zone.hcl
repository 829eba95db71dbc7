zone "lab" {}
zone "dmz" {}
zone "lab" {} # ERROR: Duplicate zone
