package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// status names the nebula release that runs the sidecar and what it lacks,
// instead of claiming every release is 1.6 (seen with 1.9.3 and 1.11.0).
func TestNebulaStatusNamesTheRunningVersion(t *testing.T) {
	dir := t.TempDir()
	confRoot := filepath.Join(dir, "conf")
	writeNebulaMachine(t, dir, confRoot, nil)
	for _, version := range []string{"1.9.3", "1.11.0", "1.6.1", "1.12.0"} {
		// A stand-in that answers -version as that release does.
		bin := filepath.Join(dir, "nebula-"+version)
		os.WriteFile(bin, []byte("#!/bin/sh\necho 'Version: "+version+"'\n"), 0o755)
		code, stdout, stderr := runCLI(t, "nebula", "status", "m1", "--config-root", confRoot, "--netns-dir", filepath.Join(dir, "netns"), "--nebula", bin, "--timeout", "5s")
		if code != exitOK {
			t.Fatalf("status with nebula %s: exit %d: %s", version, code, stderr)
		}
		want := "nebula " + version + " lists peers only in its SSH debug console"
		if version == "1.12.0" {
			want = "nebula 1.12.0 has a control socket (local_api), which nspawnctl does not configure yet"
		}
		if !strings.Contains(stdout, want) {
			t.Errorf("status with nebula %s does not say what that release offers:\n%s", version, stdout)
		}
		if version != "1.6.1" && strings.Contains(stdout, "1.6") {
			t.Errorf("status with nebula %s still speaks of 1.6:\n%s", version, stdout)
		}
	}
}
