package engine

import (
	"os"
	"path/filepath"

	"github.com/nspawnctl/nspawnctl/internal/atomicfile"
	"github.com/nspawnctl/nspawnctl/machine/render"
)

// TreeWrite is what WriteTree did with one artefact.
type TreeWrite struct {
	// Path is the artefact's path on a host, without the tree's root.
	Path string
	// Written is false when the file (or link) already had exactly the
	// rendered content, mode or target and was left alone.
	Written bool
}

// WriteTree writes artefacts under root, each at its path on a host
// (root/etc/systemd/nspawn/NAME.nspawn, ...), for nspawnctl render --root:
// a tree to inspect, package or copy, not the host itself, so nothing is
// recorded, reloaded or undone. Each file is replaced atomically, and one
// that already has the rendered content is not touched, so a second run
// changes nothing. It stops at the first artefact it cannot write and
// returns what it did up to there with the error.
func WriteTree(root string, arts []render.Artifact) ([]TreeWrite, error) {
	var done []TreeWrite
	for _, a := range arts {
		changed, err := writeArtifact(filepath.Join(root, a.Path), a)
		if err != nil {
			return done, err
		}
		done = append(done, TreeWrite{Path: a.Path, Written: changed})
	}
	return done, nil
}

// writeArtifact puts a at dst, a file or a symlink, atomically; changed is
// false when dst already was exactly that.
func writeArtifact(dst string, a render.Artifact) (changed bool, err error) {
	if a.Symlink != "" {
		return atomicfile.Symlink(a.Symlink, dst)
	}
	return atomicfile.Write(dst, a.Content, os.FileMode(a.Mode))
}
