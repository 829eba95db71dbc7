// Package render turns the resolved model (machine/resolve) into the files
// nspawnctl installs — a machine's .nspawn file and unit drop-in, networkd
// files of zones, bridges and proxy NDP — and into the nat.Machine that
// package nat builds the io.systemd.nat ruleset from. Everything here is a
// pure function of resolve.Resolved and RenderOptions: no file system, no
// D-Bus, so golden files and the lifecycle's plan compare its output
// byte for byte with what is on disk.
package render
