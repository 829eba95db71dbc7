machine "web" {
  bind = [
    "srv/data:/data",              # ERROR: the host path "srv/data": the path is relative
    "/srv/data:data",              # ERROR: the container path "data": the path is relative
    "/srv/../etc:/data",           # ERROR: contains '..'
    "/srv/a:/a:rbind:extra",       # ERROR: more than three ':'-separated fields
    "/srv/b:/b:ro",                # ERROR: Invalid bind mount option
    "/srv/c:/c:rbind,idmap",
    "/srv/d",
    "/srv/e/:/e",                  # ERROR: canonical form
  ]
  bind_ro = ["/nix/store", "./x"] # ERROR: Invalid bind mount
}
