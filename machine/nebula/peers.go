package nebula

import "fmt"

// PeersNote says why `nspawnctl nebula status` shows no peer list, naming
// the nebula that runs the sidecar. No release up to 1.11 has a local
// control socket: peers are listed only by the SSH debug console
// (sshd.enabled, `list-hostmap`), which nspawnctl does not enable because it
// opens a shell-like interface with its own keys. What to look at instead is
// the sidecar's journal, where nebula logs every handshake.
func PeersNote(machine string, v Version, detectErr error) string {
	which := "the installed nebula"
	switch {
	case detectErr != nil:
		which = fmt.Sprintf("nebula (version unknown: %v)", detectErr)
	case !v.IsZero():
		which = "nebula " + v.String()
	}
	return fmt.Sprintf("not shown: %s lists peers only in its SSH debug console (sshd), which nspawnctl leaves off; handshakes are in journalctl -u %s", which, SidecarInstance(machine))
}
