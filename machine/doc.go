// Package machine is the parent of nspawnctl's machine pipeline; it holds no
// code itself. Data flows one way through its sub-packages:
//
//	machine/config   HCL schema, parser, decode (diagnostics with ranges)
//	machine/resolve  validation, defaults, allocation: the resolved model
//	machine/render   pure artefacts of a resolved machine and its NAT model
//	machine/engine   plan, apply, create, start, stop, remove, rollback, status
//	machine/state    the state directory: records, owned directories, generations
//	machine/nebula   the Nebula sidecar
//	machine/doctor   host checks
//
// See ARCHITECTURE.md at the repository root.
package machine
