package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
)

// lifecycleHost boots a test host with nspawnctl installed and the web guest
// tarball (testhost.WebTarballPath) in place, and logs how long that took.
func lifecycleHost(t *testing.T) (*testhost.Host, context.Context) {
	t.Helper()
	testhost.SkipUnlessEnabled(t)
	bin := testhost.NspawnctlBinary(t)
	t0 := time.Now()
	h := testhost.Start(t)
	ctx := testhost.Context(t)
	if err := h.InstallNspawnctl(ctx, bin); err != nil {
		t.Fatal(err)
	}
	if err := h.PrepareWebTarball(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("phase %-28s %s", "boot+install+tarball", time.Since(t0).Round(time.Millisecond))
	return h, ctx
}

// timed logs the run time of one scenario step.
func timed(t *testing.T, name string, f func()) {
	t.Helper()
	t0 := time.Now()
	f()
	t.Logf("phase %-28s %s", name, time.Since(t0).Round(time.Millisecond))
}

// webConfig is the README quickstart with the derived web tarball as root.
func webConfig(name string, hostPort int, extra string) string {
	return fmt.Sprintf(`machine %q {
  root {
    tarball = %q
  }
  forward_port {
    host_port      = %d
    container_port = 80
  }
%s}
`, name, testhost.WebTarballPath, hostPort, extra)
}

// mustNspawnctl runs nspawnctl in the test host and fails the test unless it
// exits 0.
func mustNspawnctl(t *testing.T, ctx context.Context, h *testhost.Host, args ...string) testhost.Result {
	t.Helper()
	r := h.Nspawnctl(ctx, args...)
	if r.Code != 0 || r.Err != nil {
		t.Fatalf("nspawnctl %s: %s", strings.Join(args, " "), r)
	}
	t.Logf("nspawnctl %s: %s", strings.Join(args, " "), r.Duration.Round(time.Millisecond))
	return r
}

// mustRun runs a command in the test host and fails the test unless it exits 0.
func mustRun(t *testing.T, ctx context.Context, h *testhost.Host, args ...string) string {
	t.Helper()
	r := h.Run(ctx, args...)
	if r.Code != 0 || r.Err != nil {
		t.Fatalf("%s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

func clientURL4(port int) string { return fmt.Sprintf("http://%s:%d/", testhost.HostIPv4, port) }
func clientURL6(port int) string { return fmt.Sprintf("http://[%s]:%d/", testhost.HostIPv6, port) }
func localURL(port int) string   { return fmt.Sprintf("http://127.0.0.1:%d/", port) }

// webReachable checks a forward from the client (IPv4 and IPv6) and from the
// test host's localhost, waiting up to timeout for the first answer.
func webReachable(t *testing.T, ctx context.Context, h *testhost.Host, port int, want string, timeout time.Duration) {
	t.Helper()
	for _, c := range []struct {
		where string
		get   func(context.Context, string) (string, error)
		url   string
	}{
		{"client IPv4", h.ClientGet, clientURL4(port)},
		{"client IPv6", h.ClientGet, clientURL6(port)},
		{"host localhost", h.HostGet, localURL(port)},
	} {
		_, d, err := testhost.WaitGet(ctx, c.get, c.url, want, timeout)
		if err != nil {
			t.Fatalf("%s: %v", c.where, err)
		}
		t.Logf("%s %s answered after %s", c.where, c.url, d.Round(time.Millisecond))
	}
}

// webUnreachable checks that a forward is gone from every side.
func webUnreachable(t *testing.T, ctx context.Context, h *testhost.Host, port int) {
	t.Helper()
	for _, c := range []struct {
		get func(context.Context, string) (string, error)
		url string
	}{{h.ClientGet, clientURL4(port)}, {h.ClientGet, clientURL6(port)}, {h.HostGet, localURL(port)}} {
		if err := testhost.WaitRefused(ctx, c.get, c.url, 10*time.Second); err != nil {
			t.Error(err)
		}
	}
}

// createWeb writes the quickstart config for name and runs create --start.
func createWeb(t *testing.T, ctx context.Context, h *testhost.Host, name string, port int) {
	t.Helper()
	cfg := "/root/" + name + ".hcl"
	if err := h.WriteFile(ctx, cfg, webConfig(name, port, ""), 0o644); err != nil {
		t.Fatal(err)
	}
	mustNspawnctl(t, ctx, h, "create", "--config", cfg, "--start")
}

// TestLifecycleQuickstart is the README quickstart: create --start of a
// Debian container with a forward, reached from another host over IPv4 and
// IPv6 and from the host's localhost.
func TestLifecycleQuickstart(t *testing.T) {
	h, ctx := lifecycleHost(t)
	timed(t, "create --start", func() { createWeb(t, ctx, h, "web", 8181) })
	timed(t, "first answers", func() { webReachable(t, ctx, h, 8181, "hello from", 90*time.Second) })
}
