// Package host holds nspawnctl's adapters to the running system: systemd's
// unit manager, systemd-machined and systemd-networkd over one shared
// system-bus connection (Bus), and the runner of external programs (tar,
// mmdebstrap). Each is an interface the machine packages depend on (Units,
// Machines, Networkd, and the Run function type of Manager) so their tests
// use the fakes in hostfake; the real implementations here are tested
// against a private dbus-daemon (bus_test.go) and on booted test hosts (e2e/).
package host
