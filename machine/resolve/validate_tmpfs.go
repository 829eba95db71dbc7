package resolve

import (
	"strings"

	"github.com/nspawnctl/nspawnctl/internal/diag"
	"github.com/nspawnctl/nspawnctl/machine/config"
)

// tmpfs checks the machine's tmpfs mounts, "PATH[:OPTIONS]", each of which
// becomes a TemporaryFileSystem= line of the .nspawn file. nspawn splits
// the value at its first ':' and treats a backslash in the path as an
// escape, so the path may contain neither; the options are the mount
// options of tmpfs (mode=, size=, ...), comma-separated, handed to mount(2)
// as they are.
func (v *validator) tmpfs(m *config.Machine) {
	seen := map[string]int{}
	for i, t := range m.TemporaryFileSystems {
		rng := diag.Elem(m.Body, "tmpfs", i, m.DefRange)
		if msg := unsafeValueProblem(t); msg != "" {
			v.errf(rng, "Value cannot be rendered safely", "tmpfs: %s.", msg)
			continue
		}
		p, opts, hasOpts := strings.Cut(t, ":")
		switch {
		case strings.ContainsAny(p, " \t\\"):
			v.errf(rng, "Invalid tmpfs mount", "tmpfs: the path %q contains a space, a tab or a backslash, which nspawn's TemporaryFileSystem= would not take literally; choose a path without them.", p)
			continue
		case p == "/":
			v.errf(rng, "Invalid tmpfs mount", "tmpfs: a tmpfs over / would hide the container's root; set ephemeral = true for a root that does not persist.")
			continue
		}
		if msg := absPathProblem(p); msg != "" {
			v.errf(rng, "Invalid tmpfs mount", "tmpfs: the path %q: %s.", p, msg)
			continue
		}
		if hasOpts {
			for _, o := range strings.Split(opts, ",") {
				if o == "" || strings.ContainsAny(o, " \t") {
					v.errf(rng, "Invalid tmpfs mount options", "tmpfs: %q has an empty option or one with a space; write PATH:OPTION[,OPTION...], e.g. \"/var/tmp:mode=1777,size=1G\", or only the path for nspawn's default (mode=0755).", t)
					break
				}
			}
		}
		if j, dup := seen[p]; dup {
			v.errf(rng, "Duplicate tmpfs mount", "tmpfs: %q is mounted twice (entries %d and %d); keep one entry per path.", p, j+1, i+1)
			continue
		}
		seen[p] = i
	}
}
