package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
)

// quietConfig is a machine without forward_port: it needs only outbound NAT.
func quietConfig(name string) string {
	return fmt.Sprintf("machine %q {\n  root {\n    tarball = %q\n  }\n}\n", name, testhost.WebTarballPath)
}

// pingClient pings the client's IPv4 and IPv6 addresses from inside the
// machine, as a user would check its outbound connectivity. The client has
// no route to the machines' networks (a /28 and a ULA /64 each), so an
// answer proves outbound NAT.
func pingClient(ctx context.Context, h *testhost.Host, name string) testhost.Result {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return h.Nspawnctl(ctx, "shell", name, "--", "sh", "-c",
		"busybox ping -c 1 -W 1 "+testhost.ClientIPv4+" && busybox ping -c 1 -W 1 "+testhost.ClientIPv6)
}

// waitOutbound pings until every machine gets an answer, bounded by
// timeout.
func waitOutbound(t *testing.T, ctx context.Context, h *testhost.Host, timeout time.Duration, names ...string) {
	t.Helper()
	t0 := time.Now()
	for _, name := range names {
		for {
			r := pingClient(ctx, h, name)
			if r.Code == 0 {
				break
			}
			if time.Since(t0) > timeout {
				t.Fatalf("machine %s gets no answer from the client (%s, %s) after %s: %s\n%s", name, testhost.ClientIPv4, testhost.ClientIPv6, timeout, r, nftList(ctx, h))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func nftList(ctx context.Context, h *testhost.Host) string {
	out, _, _ := h.Exec(ctx, "nft", "list", "table", "ip", "io.systemd.nat")
	return out
}

// TestRestoreAfterFirewallReload: a machine without forwards and one with a
// forward, on a host whose nftables.service loads Debian's stock
// /etc/nftables.conf (which starts with "flush ruleset"). After "nft flush
// ruleset" plus a restart or reload of nftables.service, and after a bare
// flush plus "nspawnctl nat restore", both machines reach the client
// through outbound NAT again and the forward answers; doctor sees the loss
// in between. The restore unit comes with the first NATed machine, which
// has no forward, and goes with the last.
func TestRestoreAfterFirewallReload(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	if out := mustRun(t, ctx, h, "cat", "/etc/nftables.conf"); !strings.Contains(out, "flush ruleset") {
		t.Fatalf("the test host's /etc/nftables.conf does not flush the ruleset, so this scenario would prove nothing:\n%s", out)
	}
	mustRun(t, ctx, h, "systemctl", "enable", "--now", "nftables.service")

	if err := h.WriteFile(ctx, "/root/quiet.hcl", quietConfig("quiet"), 0o644); err != nil {
		t.Fatal(err)
	}
	timed(t, "create quiet", func() { mustNspawnctl(t, ctx, h, "create", "--config", "/root/quiet.hcl", "--start") })
	if out := mustRun(t, ctx, h, "systemctl", "is-enabled", "nspawnctl-nat-restore.service"); strings.TrimSpace(out) != "enabled" {
		t.Fatalf("after creating a machine without forwards, nspawnctl-nat-restore.service is %q, want enabled", out)
	}
	timed(t, "create web", func() { createWeb(t, ctx, h, "web", 8181) })
	timed(t, "first outbound and forward", func() {
		waitOutbound(t, ctx, h, 90*time.Second, "quiet", "web")
		webReachable(t, ctx, h, 8181, "hello from", 90*time.Second)
	})

	for _, c := range []struct {
		name, script string
		restore      []string // nspawnctl command run after the script, if any
	}{
		{name: "flush + restart nftables", script: "nft flush ruleset && systemctl restart nftables.service"},
		{name: "flush + reload nftables", script: "nft flush ruleset && systemctl reload nftables.service"},
		{name: "bare flush + nat restore", script: "nft flush ruleset", restore: []string{"nat", "restore"}},
	} {
		t0 := time.Now()
		mustRun(t, ctx, h, "sh", "-c", c.script)
		ran := time.Since(t0)
		if c.restore != nil {
			// Without the restore, nothing brings outbound NAT back: the
			// check below can fail, and doctor says so.
			if r := pingClient(ctx, h, "quiet"); r.Code == 0 {
				t.Fatalf("%s: machine quiet still reaches the client before nat restore", c.name)
			}
			if code, checks, r := runDoctor(t, ctx, h); code != 1 || checks["nat-state"].Status != "fail" || !strings.Contains(checks["nat-state"].Summary, "outbound NAT is missing for quiet, web") {
				t.Errorf("%s: doctor before the restore: exit %d, nat-state %+v\n%s", c.name, code, checks["nat-state"], r)
			}
			t0 = time.Now()
			mustNspawnctl(t, ctx, h, c.restore...)
			ran = time.Since(t0)
		}
		waitOutbound(t, ctx, h, 60*time.Second, "quiet", "web")
		// A ping that finds no NAT yet waits its 1 s timeout: the
		// resolution of this measurement is about a second.
		t.Logf("%s: outbound NAT of both machines back %s after the command started (the command took %s)",
			c.name, time.Since(t0).Round(time.Millisecond), ran.Round(time.Millisecond))
		webReachable(t, ctx, h, 8181, "hello from", 30*time.Second)
		if _, checks, r := runDoctor(t, ctx, h); checks["nat-state"].Status != "ok" {
			t.Errorf("%s: doctor nat-state after the restore: %+v\n%s", c.name, checks["nat-state"], r)
		}
		phase(t, c.name, t0)
	}

	mustNspawnctl(t, ctx, h, "remove", "web")
	if r := h.Run(ctx, "test", "-e", "/etc/systemd/system/nspawnctl-nat-restore.service"); r.Code != 0 {
		t.Errorf("removing web removed the restore unit, which quiet still needs")
	}
	mustNspawnctl(t, ctx, h, "remove", "quiet")
	if r := h.Run(ctx, "test", "-e", "/etc/systemd/system/nspawnctl-nat-restore.service"); r.Code == 0 {
		t.Errorf("removing the last NATed machine left the restore unit")
	}
}
