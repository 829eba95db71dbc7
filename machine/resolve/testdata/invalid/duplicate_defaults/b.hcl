# A second defaults block, in another file, is an error at its own header.
defaults { # ERROR: Duplicate defaults block
  machines_dir = "/srv/machines"
}
