package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/machine/engine"
)

// TestPlanNeedsNoBus plans a configuration with only a state directory and
// a machine id file: no systemd, machined or networkd connection is made
// (the project machine has no system bus at all), and the text and JSON
// plans both list the machine's creation.
func TestPlanNeedsNoBus(t *testing.T) {
	dir := t.TempDir()
	idFile := filepath.Join(dir, "machine-id")
	if err := os.WriteFile(idFile, []byte(testMachineID+"\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "web.hcl", "machine \"web\" {\n  forward_port {\n    host_port = 8181\n  }\n}\n")
	args := []string{"plan", "--state-dir", filepath.Join(dir, "state"), "--machine-id-file", idFile, "--binary", "/usr/bin/nspawnctl", cfg}
	code, stdout, stderr := runCLI(t, args...)
	if code != 0 || !strings.Contains(stdout, "+ web (create; running machine:") || !strings.Contains(stdout, "nat + tcp") {
		t.Fatalf("plan: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, append([]string{"plan", "--json"}, args[1:]...)...)
	var plans []engine.MachinePlan
	if code != 0 || json.Unmarshal([]byte(stdout), &plans) != nil || len(plans) != 1 || plans[0].Action != engine.ActionCreate {
		t.Fatalf("plan --json: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}
