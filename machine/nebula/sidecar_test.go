package nebula

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeNebula writes an executable that answers -version like nebula does.
func fakeNebula(t *testing.T, version string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nebula")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho 'Version: "+version+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// The sidecar's start is refused when the installed nebula is older than
// its config needs (here: older than MinVersion, a config that records
// nothing), and when there is no config to check.
func TestCheckSidecarVersion(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(conf, []byte("tun:\n  dev: \"nebula1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := CheckSidecarVersion(ctx, "m1", conf, fakeNebula(t, MinVersion.String())); err != nil {
		t.Errorf("nebula %s: %v, want accepted", MinVersion, err)
	}
	err := CheckSidecarVersion(ctx, "m1", conf, fakeNebula(t, "1.5.0"))
	if err == nil || !strings.Contains(err.Error(), "machine m1 needs nebula "+MinVersion.String()) {
		t.Errorf("nebula 1.5.0: err = %v, want a refusal naming %s", err, MinVersion)
	}
	err = CheckSidecarVersion(ctx, "m1", filepath.Join(t.TempDir(), "missing.yml"), fakeNebula(t, "1.9.0"))
	if err == nil || !strings.Contains(err.Error(), "apply a configuration with a nebula block") {
		t.Errorf("missing config: err = %v, want what to do", err)
	}
}

func TestDeviceFromConfig(t *testing.T) {
	if got := DeviceFromConfig([]byte("pki:\n  ca: x\ntun:\n  dev: \"nebula1\"\n  mtu: 1300\n")); got != "nebula1" {
		t.Errorf("DeviceFromConfig = %q, want nebula1", got)
	}
	if got := DeviceFromConfig([]byte("tun:\n  mtu: 1300\n")); got != "" {
		t.Errorf("DeviceFromConfig without dev = %q, want empty", got)
	}
	// What a scan for the line "  dev: " got wrong: a dev key of another
	// section before tun (it took the first), and a value without quotes
	// or in single quotes (it read only JSON strings).
	for conf, want := range map[string]string{
		"sshd:\n  dev: \"other\"\ntun:\n  dev: \"nebula1\"\n": "nebula1",
		"tun:\n  dev: neb0\n":           "neb0",
		"tun:\n  dev: 'neb0'\n":         "neb0",
		"tun: {dev: neb0, mtu: 1300}\n": "neb0",
		"tun: [\n":                      "",
	} {
		if got := DeviceFromConfig([]byte(conf)); got != want {
			t.Errorf("DeviceFromConfig(%q) = %q, want %q", conf, got, want)
		}
	}
}

// RequiredFromConfig reads the header RenderConfig writes wherever YAML
// puts the comment, and only the header: a line in a PEM block or a later
// comment is not the config's requirement.
func TestRequiredFromConfig(t *testing.T) {
	for conf, want := range map[string]Version{
		"# x\n" + requiresPrefix + "1.7.0\npki:\n  ca: x\n":     {1, 7, 0},
		requiresPrefix + "1.10.0\n\npki:\n  ca: x\n":            {1, 10, 0},
		"pki:\n  ca: |\n    " + requiresPrefix + "1.7.0\n":      {},
		"pki:\n  ca: x\n" + requiresPrefix + "1.7.0\ntun: {}\n": {},
		"tun:\n  dev: \"nebula1\"\n":                            {},
	} {
		got, err := RequiredFromConfig([]byte(conf))
		if err != nil || got != want {
			t.Errorf("RequiredFromConfig(%q) = %v, %v; want %v", conf, got, err, want)
		}
	}
	if _, err := RequiredFromConfig([]byte("pki: [\n")); err == nil {
		t.Error("RequiredFromConfig accepted a config that is not YAML")
	}
}

// Without the console keys apply writes, peers are not queried and the
// error says what to do; without a namespace, the link is described so.
func TestSidecarWithoutKeysOrNamespace(t *testing.T) {
	dir := t.TempDir()
	_, err := QueryMachinePeers(context.Background(), dir, filepath.Join(dir, "netns"))
	if err == nil || !strings.Contains(err.Error(), "apply the configuration again") {
		t.Errorf("QueryMachinePeers without keys: err = %v", err)
	}
	if state, addrs := LinkIn(filepath.Join(dir, "netns"), "nebula1"); !strings.HasPrefix(state, "no namespace") || addrs != nil {
		t.Errorf("LinkIn without a namespace = %q %v", state, addrs)
	}
}
