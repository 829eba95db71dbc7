package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
)

// Helpers every nspawnctl scenario shares.

// nspawnctlHost boots a test host with nspawnctl installed and the web guest
// tarball (testhost.WebTarballPath) in place, and logs how long that took.
func nspawnctlHost(t *testing.T) (*testhost.Host, context.Context) {
	t.Helper()
	t0 := time.Now()
	h, ctx := nspawnctlBareHost(t)
	if err := h.PrepareWebTarball(ctx); err != nil {
		t.Fatal(err)
	}
	phase(t, "boot+install+tarball", t0)
	return h, ctx
}

// nspawnctlBareHost boots a test host with nspawnctl installed, for
// scenarios that bring their own root.
func nspawnctlBareHost(t *testing.T) (*testhost.Host, context.Context) {
	t.Helper()
	testhost.SkipUnlessEnabled(t)
	bin := testhost.NspawnctlBinary(t)
	t0 := time.Now()
	h := testhost.Start(t)
	ctx := testhost.Context(t)
	setupNspawnctl(t, ctx, h, bin)
	phase(t, "boot+install", t0)
	return h, ctx
}

// setupNspawnctl installs nspawnctl into a booted test host, and stops its
// machines before the host is torn down.
func setupNspawnctl(t *testing.T, ctx context.Context, h *testhost.Host, bin string) {
	t.Helper()
	// Nested machines go first (cleanups run last-in first-out): a test
	// host powering off with a running machine takes 20 s more.
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _, _ = h.Sh(c, `for m in $(machinectl list --no-legend | awk '{print $1}'); do machinectl terminate "$m"; done; true`)
	})
	if err := h.InstallNspawnctl(ctx, bin); err != nil {
		t.Fatal(err)
	}
}

// timed logs the run time of one scenario step.
func timed(t *testing.T, name string, f func()) {
	t.Helper()
	t0 := time.Now()
	f()
	phase(t, name, t0)
}

// phase logs how long a step that began at start took.
func phase(t *testing.T, name string, start time.Time) {
	t.Helper()
	t.Logf("phase %-36s %s", name, time.Since(start).Round(time.Millisecond))
}

// mustNspawnctl runs nspawnctl in the test host and fails the test unless it
// exits 0
// within three minutes.
func mustNspawnctl(t *testing.T, ctx context.Context, h *testhost.Host, args ...string) testhost.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	r := h.Nspawnctl(ctx, args...)
	if r.Code != 0 || r.Err != nil {
		t.Fatalf("nspawnctl %s: %s", strings.Join(args, " "), r)
	}
	t.Logf("nspawnctl %s: %s", strings.Join(args, " "), r.Duration.Round(time.Millisecond))
	return r
}

// mustRun runs a command in the test host and fails the test unless it
// exits 0 within a minute; it returns the output.
func mustRun(t *testing.T, ctx context.Context, h *testhost.Host, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	r := h.Run(ctx, args...)
	if r.Code != 0 || r.Err != nil {
		t.Fatalf("%s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}
