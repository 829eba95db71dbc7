machine "db" {}
machine "web" {} # ERROR: already declared at testdata/invalid/duplicate_machine_files/a.hcl:2
