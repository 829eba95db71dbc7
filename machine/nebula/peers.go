package nebula

import "fmt"

// localAPIVersion introduced the control socket (local_api), the first local
// interface that can list peers (README.md, "1.12's control socket").
var localAPIVersion = Version{1, 12, 0}

// PeersNote says why `nspawnctl nebula status` shows no peer list, naming
// the nebula that runs the sidecar and what that release offers. Before
// 1.12, peers are listed only by the SSH debug console (sshd.enabled,
// `list-hostmap`), which nspawnctl does not enable: it is a shell-like
// interface with keys of its own. 1.12's control socket is not configured
// by nspawnctl yet. Either way the sidecar's journal shows the handshakes.
func PeersNote(machine string, v Version, detectErr error) string {
	journal := "handshakes are in journalctl -u " + SidecarInstance(machine)
	switch {
	case detectErr != nil:
		return fmt.Sprintf("not shown: the nebula version is unknown (%v); %s", detectErr, journal)
	case !v.Less(localAPIVersion):
		return fmt.Sprintf("not shown: nebula %s has a control socket (local_api), which nspawnctl does not configure yet; %s", v, journal)
	}
	return fmt.Sprintf("not shown: nebula %s lists peers only in its SSH debug console (sshd), which nspawnctl leaves off; %s", v, journal)
}
