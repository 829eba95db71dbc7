// Package nixosmodule holds the tests of the NixOS module in this directory.
//
// The module itself is Nix (module.nix, translate.nix, package.nix, and the
// repository's flake.nix); this Go package exists so that `go test ./...`
// checks it with the same tools as the rest of nspawnctl. The tests evaluate
// translate.nix with nix-instantiate (no nixpkgs needed: it uses builtins
// only) on the option sets under tests/, keep its JSON output as golden files
// under testdata/, and prove that each JSON document is a valid nspawnctl
// configuration that renders to exactly the same files as its HCL twin.
package nixosmodule
