package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/nat"
)

// A --netns that cannot be opened is a usage error (exit 2), found before
// the kernel is touched.
func TestNatMissingNamespaceIsUsage(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "nat", "check", "web", "--state-dir", dir, "--netns", filepath.Join(dir, "missing"))
	if code != exitUsage || !strings.Contains(stderr, "open network namespace") {
		t.Errorf("exit %d, stderr %q; want %d and the namespace named", code, stderr, exitUsage)
	}
}

// natErr classifies by type, not by message: a nat.MachineError, even
// wrapped, is exit 3; an error whose text merely starts with "machine " is
// not.
func TestNatErrClassification(t *testing.T) {
	_, planErr := nat.Plan([]nat.Machine{{Name: "web", Link: "ve-web"}, {Name: "web", Link: "ve-web"}})
	for _, c := range []struct {
		name string
		err  error
		want int
	}{
		{"definition error", planErr, exitInvalid},
		{"wrapped definition error", fmt.Errorf("up: %w", planErr), exitInvalid},
		{"kernel refusal", errors.New("machine web: netlink: operation not permitted"), exitFailure},
	} {
		code := exitFailure
		var ee *exitError
		if errors.As(natErr(c.err), &ee) {
			code = ee.code
		}
		if code != c.want {
			t.Errorf("%s (%v): exit %d, want %d", c.name, c.err, code, c.want)
		}
	}
}
