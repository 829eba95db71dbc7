// Package docs holds nspawnctl's user documentation (config.md, the
// configuration language reference) and the test that keeps it in step with
// the schema: every block and attribute the decoder accepts must be
// documented, and nothing that the decoder does not accept may be.
//
// The package has no code of its own; it exists because Go tests must live
// in a package.
package docs
