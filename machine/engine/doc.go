// Package engine is nspawnctl's lifecycle engine: Manager plans and applies
// a resolved configuration (create, start, stop, remove, rollback, status),
// records what it installed in the state directory (machine/state) and
// removes exactly that again. The stages before it live in sub-packages:
// machine/config (HCL schema, parser), machine/resolve (validation,
// allocation, the resolved model), machine/render (pure artefacts); the
// running system is reached through internal/host's interfaces. See
// ARCHITECTURE.md.
package engine
