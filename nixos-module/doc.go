// Package nixosmodule holds the tests of the NixOS module in this directory.
//
// The module itself is Nix (module.nix, translate.nix, package.nix, and the
// repository's flake.nix); this Go package exists so that `go test ./...`
// checks it with the same tools as the rest of nspawnctl. The tests run
// nix-instantiate (Debian's nix-bin) in two ways:
//
//   - module_test.go evaluates module.nix, and the flake's
//     nixosModules.default, with nixpkgs' real module system (the vendored
//     nixpkgs lib next to the repository) and NixOS's options as the harness
//     in tests/nixos/ declares them: every option set and example module
//     must produce a JSON document that renders byte-identical to its HCL
//     twin; invalid modules must fail with a message naming the option; the
//     unit graph and the build-time check (run with nspawnctl built from this
//     tree) are shown from the evaluated options.
//   - nixos_test.go evaluates translate.nix alone (builtins only) on the
//     option sets under tests/, keeps its JSON output as golden files under
//     testdata/, and compares translate.nix's schema with nspawnctl's Go
//     structs and with the module's options, in both directions.
package nixosmodule
