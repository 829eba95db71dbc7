# Machines from all files of a configuration share one name space.
machine "web" {}
