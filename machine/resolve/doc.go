// Package resolve turns a decoded configuration (machine/config) into the
// resolved model every later stage works on: Validate checks every setting
// (HCL diagnostics with file:line:col), fills in defaults, and allocates
// addresses and subnets against the host facts. The result (Resolved) is a
// pure function of the configuration and HostFacts; rendering
// (machine/render) and the lifecycle (machine.Manager) read only it.
package resolve
