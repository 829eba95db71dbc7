# nixpkgs' lib/ (the module system), vendored next to the repository: CI
# clones the repository beside a copy of shared/ (see shared/vendor/README.md).
# Every file of this test harness takes lib from here, so the path is written
# once. Debian 12's nix-instantiate (Nix 2.8) evaluates it: of the builtins
# this lib uses, Nix 2.8 lacks only readFileType (lib.filesystem.pathType,
# lib.fileset), gitLsFiles (mentioned in a comment) and warn (lib.warn falls
# back to trace); none of them is reached by the module system.
import ../../../../shared/vendor/nixpkgs-lib/lib
