package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
)

// nebCheckPeers asserts, after from has pinged to over the overlay, that
// "nspawnctl nebula status FROM" lists to (by certificate name and overlay
// address, with the underlay address in use) and the lighthouse, read from
// the sidecar's console by the host. (That a client in the container
// without nspawnctl's key is refused is TestOverlay's, machine/nebula.)
func nebCheckPeers(t *testing.T, ctx context.Context, h *testhost.Host, from, to nebSidecar) {
	t.Helper()
	var st nebStatus
	deadline := time.Now().Add(30 * time.Second)
	for {
		st = nebGetStatus(t, ctx, h, from.machine)
		if nebHasPeer(st, to.machine, to.overlay) && nebHasPeer(st, "", nebLighthouse) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if !nebHasPeer(st, to.machine, to.overlay) || !nebHasPeer(st, "", nebLighthouse) {
		t.Fatalf("nebula status %s lists peers %+v (note %q), want %s (%s) and the lighthouse %s with underlay addresses\n%s",
			from.machine, st.Peers, st.PeersNote, to.machine, to.overlay, nebLighthouse, nebJournals(h, from.machine))
	}
	t.Logf("nebula status %s lists its peers: %+v", from.machine, st.Peers)
	text := mustNspawnctl(t, ctx, h, "nebula", "status", from.machine).Stdout
	if !strings.Contains(text, to.overlay) || !strings.Contains(text, to.machine) {
		t.Errorf("nebula status %s (text) does not list %s (%s):\n%s", from.machine, to.machine, to.overlay, text)
	}
}

// nebHasPeer: st lists a peer at overlay (named name, unless name is "")
// with an underlay address in use.
func nebHasPeer(st nebStatus, name, overlay string) bool {
	for _, p := range st.Peers {
		if len(p.Addresses) > 0 && p.Addresses[0] == overlay && (name == "" || p.Name == name) && p.Remote != "" {
			return true
		}
	}
	return false
}
