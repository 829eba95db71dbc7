machine "web" {
  tmpfs = [
    "/var/tmp:mode=1777,size=1G",
    "/run/cache",
    "var/cache",                   # ERROR: the path "var/cache": the path is relative
    "/srv/../etc",                 # ERROR: contains '..'
    "/srv/data/",                  # ERROR: canonical form
    "/",                           # ERROR: would hide the container's root
    "/my dir",                     # ERROR: contains a space, a tab or a backslash
    "/a\\b",                       # ERROR: contains a space, a tab or a backslash
    "/x:",                         # ERROR: Invalid tmpfs mount options
    "/y:mode=0700,,size=1M",       # ERROR: has an empty option
    "/z:mode=0700 size=1M",        # ERROR: one with a space
    "/run/cache:size=10M",         # ERROR: is mounted twice (entries 2 and 12)
    "/q\u0007",                    # ERROR: control character
  ]
}
