machine "web" {
  root {
    directory = "srv/web" # ERROR: Invalid root path
  }
}
machine "db" {
  root {
    tarball = "/srv/../db.tar" # ERROR: contains '..'
  }
}
machine "cache" {
  root {
    directory = "/srv/cache dir" # ERROR: contains ':' or a space
  }
}
