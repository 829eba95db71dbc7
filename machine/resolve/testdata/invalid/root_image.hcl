machine "web" {
  root {
    image = "/var/lib/machines/web.qcow2" # ERROR: must end in .raw
  }
}
