machine "web" {
  root { # ERROR: Conflicting root sources
    directory = "/srv/web"
    image     = "/var/lib/machines/web.raw"
  }
}
machine "db" {
  root { # ERROR: sets tarball and bootstrap
    tarball = "/srv/db.tar.zst"
    bootstrap {}
  }
}
