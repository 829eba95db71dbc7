package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every command that reads configuration goes through readConfig and
// resolveConfig: exit code 3, the diagnostics with their locations on
// stderr, and each command's own last line. Errors of decoding stop create
// and apply before they connect to systemd, so these run without a bus;
// plan validates offline too.
func TestInvalidConfigurationWording(t *testing.T) {
	dir := t.TempDir()
	syntax := filepath.Join(dir, "syntax.hcl")
	if err := os.WriteFile(syntax, []byte("machine \"web\" {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	invalid := writeConfig(t, "bad.hcl", invalidConfig)
	idFile := filepath.Join(dir, "machine-id")
	if err := os.WriteFile(idFile, []byte(testMachineID+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	offline := []string{"--state-dir", filepath.Join(dir, "state"), "--machine-id-file", idFile}
	for _, tt := range []struct {
		args     []string
		location string // a diagnostic's first line that stderr must have
		last     string // the command's last line
	}{
		{[]string{"validate", "--machine-id", testMachineID, invalid}, "bad.hcl:2:32: error: Invalid time span", "nspawnctl: 2 error(s) in the configuration; nothing was written"},
		{[]string{"validate", "--machine-id", testMachineID, syntax}, "syntax.hcl:1:", "nspawnctl: 1 error(s) in the configuration; nothing was written"},
		{[]string{"render", "--root", filepath.Join(dir, "out"), "--machine-id", testMachineID, invalid}, "bad.hcl:5:17: error: Invalid host port", "nspawnctl: 2 error(s) in the configuration; nothing was written"},
		{[]string{"doctor", "--machine-id", testMachineID, invalid}, "bad.hcl:2:32: error: Invalid time span", "nspawnctl: 2 error(s) in the configuration; nothing was written"},
		{[]string{"create", "-c", syntax}, "syntax.hcl:1:", "nspawnctl: the configuration has errors; nothing was created"},
		{[]string{"apply", syntax}, "syntax.hcl:1:", "nspawnctl: the configuration has errors; nothing was changed"},
		{append(append([]string{"plan"}, offline...), syntax), "syntax.hcl:1:", "nspawnctl: the configuration has errors; nothing was changed"},
		{append(append([]string{"plan"}, offline...), invalid), "bad.hcl:2:32: error: Invalid time span", "nspawnctl: the configuration has errors; nothing was changed"},
	} {
		t.Run(strings.Join(tt.args[:1], " ")+" "+filepath.Base(tt.args[len(tt.args)-1]), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != exitInvalid {
				t.Fatalf("%v exited %d, want %d; stderr:\n%s", tt.args, code, exitInvalid, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout: %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, tt.location) {
				t.Errorf("stderr lacks %q:\n%s", tt.location, stderr)
			}
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if got := lines[len(lines)-1]; got != tt.last {
				t.Errorf("last line %q, want %q", got, tt.last)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Error("render of an invalid configuration created its root")
	}
}

// A path that is not there is an invalid configuration for every command,
// named before anything else happens.
func TestMissingConfigurationPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere.hcl")
	for _, args := range [][]string{
		{"validate", "--machine-id", testMachineID, missing},
		{"render", "--root", t.TempDir(), "--machine-id", testMachineID, missing},
		{"create", "-c", missing},
		{"apply", missing},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != exitInvalid || !strings.Contains(stderr, "nspawnctl: configuration "+missing+": stat ") {
			t.Errorf("%s: exit %d, stderr %q; want %d naming %s", args[0], code, stderr, exitInvalid, missing)
		}
	}
}
