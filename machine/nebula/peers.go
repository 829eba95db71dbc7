package nebula

import "fmt"

// PeersNote says why `nspawnctl nebula status` shows no peer list: err is
// what went wrong asking the sidecar's console (QueryPeers). The sidecar's
// journal shows the handshakes either way.
func PeersNote(machine string, err error) string {
	return fmt.Sprintf("not shown: %v; handshakes are in journalctl -u %s", err, SidecarInstance(machine))
}
