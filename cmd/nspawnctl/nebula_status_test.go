package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/machine/nebula"
)

// Without a running sidecar (no namespace to enter), status says what is
// missing, in text and JSON, and still shows the rest.
func TestNebulaStatusSaysWhyNoPeers(t *testing.T) {
	dir := t.TempDir()
	confRoot := filepath.Join(dir, "conf")
	writeNebulaMachine(t, dir, confRoot, nil)
	args := []string{"nebula", "status", "m1", "--config-root", confRoot, "--netns-dir", filepath.Join(dir, "netns"), "--timeout", "5s"}
	code, stdout, stderr := runCLI(t, args...)
	if code != exitOK {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "peers:       not shown: opening the network namespace") || !strings.Contains(stdout, "are the machine and its sidecar running?") {
		t.Errorf("status does not say why peers are missing:\n%s", stdout)
	}
	code, stdout, stderr = runCLI(t, append(args, "--json")...)
	if code != exitOK {
		t.Fatalf("status --json: exit %d: %s", code, stderr)
	}
	var st nebula.MachineStatus
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st.Peers == nil || len(st.Peers) != 0 || !strings.Contains(st.PeersNote, "sidecar running?") {
		t.Errorf("status --json: peers %v, note %q", st.Peers, st.PeersNote)
	}
}
