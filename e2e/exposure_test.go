package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// The exposure scenario (issue 11): both attacks, each shown to work
// without the protections (after "nft flush ruleset") and to fail with them,
// on the booted test host with real systemd, networkd and nftables.

const probePath = "/usr/local/bin/probe"

// buildProbe builds e2e/probe statically, installs it in the test host and
// returns the binary's path here.
func buildProbe(t *testing.T, ctx context.Context, h *testhost.Host) string {
	t.Helper()
	root, err := testhost.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "probe")
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(bctx, "go", "build", "-o", out, "./e2e/probe")
	cmd.Dir = root
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./e2e/probe: %v\n%s", err, b)
	}
	if err := h.CopyIn(ctx, out, probePath); err != nil {
		t.Fatal(err)
	}
	return out
}

// loopbackWitness listens on the test host's 127.0.0.1:9999 only (TCP and
// UDP) and returns a function reporting what reached it since its last call:
// half-open connections (SYN-RECV, each once), connections and datagrams.
func loopbackWitness(t *testing.T, ctx context.Context, h *testhost.Host) func() []string {
	t.Helper()
	pid, _, err := h.Sh(ctx, "setsid "+probePath+" listen 127.0.0.1:9999 >/tmp/probe.log 2>&1 </dev/null & echo $!; sleep 0.5; ss -Hltn 'sport = :9999' | grep -q 127.0.0.1")
	if err != nil {
		t.Fatalf("start the 127.0.0.1-only listener: %v", err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _, _ = h.Exec(c, "kill", strings.TrimSpace(pid))
	})
	seen := map[string]bool{}
	logged := 0
	return func() []string {
		var got []string
		out, _, _ := h.Sh(ctx, "ss -Htn state syn-recv 'sport = :9999'")
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 0 && !seen[f[len(f)-1]] {
				seen[f[len(f)-1]] = true
				got = append(got, "SYN-RECV from "+f[len(f)-1])
			}
		}
		log, _, _ := h.Sh(ctx, "cat /tmp/probe.log")
		lines := strings.Split(strings.TrimSpace(log), "\n")
		if strings.TrimSpace(log) == "" {
			lines = nil
		}
		got = append(got, lines[min(logged, len(lines)):]...)
		logged = len(lines)
		return got
	}
}

// attackLoopback is what root in machine can do: route 127.0.0.1 through
// its link, then connect and send to the host's 127.0.0.1:9999.
func attackLoopback(t *testing.T, ctx context.Context, h *testhost.Host, machine string) string {
	t.Helper()
	r := h.MachineSh(ctx, machine, probePath+" send 127.0.0.1:9999; sleep 0.5")
	if r.Err != nil {
		t.Fatalf("attack from %s: %s", machine, r)
	}
	return strings.TrimSpace(r.Stdout)
}

// clientReaches reports whether the client (a LAN neighbour) gets the
// page from url within a few tries.
func clientReaches(ctx context.Context, h *testhost.Host, url, want string) bool {
	_, _, err := testhost.WaitGet(ctx, h.ClientGet, url, want, 8*time.Second)
	return err == nil
}

// exposureTraffic is the part of nspawnctl status --json this scenario reads.
type exposureTraffic struct {
	Traffic *struct {
		Protected bool `json:"protections_installed"`
		Forwards  []struct {
			Forward string `json:"forward"`
			Packets uint64 `json:"packets"`
			Bytes   uint64 `json:"bytes"`
		} `json:"forwards"`
		Dropped  struct{ Packets uint64 } `json:"dropped"`
		Loopback struct{ Packets uint64 } `json:"host_loopback_dropped"`
	} `json:"traffic"`
}

// doctorExposure returns the exposure check of nspawnctl doctor --json.
func doctorExposure(t *testing.T, ctx context.Context, h *testhost.Host) (status, summary string) {
	t.Helper()
	r := h.Nspawnctl(ctx, "doctor", "--json")
	var rep struct {
		Checks []struct{ ID, Status, Summary, Detail string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("nspawnctl doctor --json: %v\n%s", err, r)
	}
	for _, c := range rep.Checks {
		if c.ID == "exposure" {
			return c.Status, c.Summary + "\n" + c.Detail
		}
	}
	t.Fatalf("nspawnctl doctor --json has no exposure check:\n%s", r.Stdout)
	return "", ""
}

// TestExposure: a container that routes 127.0.0.1 through its link gets
// nothing delivered to the host's 127.0.0.1-only TCP and UDP services; a LAN
// neighbour with a route to the machines' private addresses reaches no
// unpublished port; forwards (client IPv4/IPv6, localhost, hairpin) keep
// working; direct_routing opens a machine, isolated closes it to the other
// machine; status and doctor show it; after nft flush ruleset + nat restore
// all of it is back.
func TestExposure(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	var probe string
	timed(t, "build probe", func() { probe = buildProbe(t, ctx, h) })
	config := fmt.Sprintf(`machine "web" {
  %[1]s
  forward_port {
    host_port      = 8181
    container_port = 80
  }
}
machine "open" {
  %[1]s
  network {
    direct_routing = true
    isolated       = true
  }
  forward_port {
    host_port      = 8282
    container_port = 80
  }
}
`, webRoot)
	createMachines(t, ctx, h, "exposure", config, "web", "open")
	var web4, web6, open4 netip.Addr
	timed(t, "addresses", func() {
		web4 = machineAddr(t, ctx, h, "web", networkd.DefaultIPv4Pool)
		web6 = machineAddr(t, ctx, h, "web", ula)
		open4 = machineAddr(t, ctx, h, "open", networkd.DefaultIPv4Pool)
	})
	t.Logf("web has %s and %s, open has %s", web4, web6, open4)

	// The attackers: the client routes the machines' addresses via the
	// test host, web's root routes 127.0.0.1 via its host link.
	for _, a := range []netip.Addr{web4, open4} {
		fromClient(t, ctx, h, "route "+a.String()+" via the test host", "ip", "route", "replace", a.String()+"/32", "via", testhost.HostIPv4)
	}
	fromClient(t, ctx, h, "route "+web6.String()+" via the test host", "ip", "-6", "route", "replace", web6.String()+"/128", "via", testhost.HostIPv6)
	if err := h.CopyIn(ctx, probe, "/var/lib/machines/web"+probePath); err != nil {
		t.Fatal(err)
	}
	inMachine(t, ctx, h, "web", "route 127.0.0.1 via the host link", `set -e
echo 1 > /proc/sys/net/ipv4/conf/host0/route_localnet
set -- $(ip -4 route show default)
ip route del local 127.0.0.0/8 dev lo table local 2>/dev/null || true
ip route del local 127.0.0.1 dev lo table local 2>/dev/null || true
ip route replace 127.0.0.1/32 via "$3" dev host0`)
	witness := loopbackWitness(t, ctx, h)
	if got := h.Run(ctx, "cat", "/proc/sys/net/ipv4/conf/ve-web/route_localnet"); strings.TrimSpace(got.Stdout) != "1" {
		t.Fatalf("route_localnet on ve-web = %q: the localhost forward should have set it", got.Stdout)
	}

	protected := func(when string) {
		t.Helper()
		timed(t, when+": forwards", func() {
			webReachable(t, ctx, h, 8181, "machine web", 60*time.Second)
			inMachine(t, ctx, h, "web", "hairpin", wgetIn(clientURL(testhost.HostIPv4, 8181), "machine web"))
		})
		timed(t, when+": localhost attack", func() {
			out := attackLoopback(t, ctx, h, "web")
			if got := witness(); len(got) > 0 {
				t.Errorf("%s: the host's 127.0.0.1-only services were reached from web (%s): %s", when, out, strings.Join(got, "; "))
			}
		})
		timed(t, when+": LAN attack", func() {
			for _, u := range []string{url(web4, 80), url(web6, 80)} {
				if clientReaches(ctx, h, u, "machine web") {
					t.Errorf("%s: the client reaches web's unpublished port: %s", when, u)
				}
			}
		})
		timed(t, when+": direct routing and isolation", func() {
			if !clientReaches(ctx, h, url(open4, 80), "machine open") {
				t.Errorf("%s: direct_routing = true, but the client does not reach %s", when, url(open4, 80))
			}
			if r := h.MachineSh(ctx, "web", "busybox timeout 5 busybox wget -O - "+url(open4, 80)); r.Code == 0 {
				t.Errorf("%s: open is isolated, but web reaches it directly: %s", when, r)
			}
			inMachine(t, ctx, h, "web", "web to isolated open through its forward", wgetIn(clientURL(testhost.HostIPv4, 8282), "machine open"))
		})
	}
	protected("protected")

	timed(t, "status and doctor", func() {
		r := mustNspawnctl(t, ctx, h, "status", "web", "--json")
		var st exposureTraffic
		if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil || st.Traffic == nil {
			t.Fatalf("nspawnctl status web --json has no traffic (%v):\n%s", err, r.Stdout)
		}
		tr := st.Traffic
		if !tr.Protected || len(tr.Forwards) != 2 || tr.Forwards[0].Packets == 0 || tr.Forwards[0].Bytes == 0 || tr.Dropped.Packets == 0 || tr.Loopback.Packets == 0 {
			t.Errorf("nspawnctl status web --json traffic: %+v", *tr)
		}
		t.Logf("web: %+v", *tr)
		text := mustNspawnctl(t, ctx, h, "status", "web").Stdout
		for _, want := range []string{"Protections:", "installed", "Forward traffic:", "packets", "Dropped:", "Loopback drops:"} {
			if !strings.Contains(text, want) {
				t.Errorf("nspawnctl status web lacks %q:\n%s", want, text)
			}
		}
		t.Logf("nspawnctl status web:\n%s", text)
		if s, d := doctorExposure(t, ctx, h); s != "ok" || !strings.Contains(d, "in place for open, web") {
			t.Errorf("doctor exposure: %s %s", s, d)
		}
		if out, err := h.NftOwn(ctx); err != nil || !strings.Contains(strings.Join(out, "\n"), "counter packets") {
			t.Errorf("nft list shows no counters of nspawnctl's objects (%v)", err)
		}
	})

	timed(t, "nft flush ruleset: both attacks work", func() {
		mustRun(t, ctx, h, "nft", "flush", "ruleset")
		if s, d := doctorExposure(t, ctx, h); s != "fail" || !strings.Contains(d, "ve-web has route_localnet=1") {
			t.Errorf("doctor exposure after a flush: %s %s", s, d)
		}
		attackLoopback(t, ctx, h, "web")
		if got := witness(); len(got) == 0 {
			t.Error("without protections the attack from web should reach the host's 127.0.0.1 services (the test cannot fail otherwise)")
		} else {
			t.Logf("without protections the host's 127.0.0.1 services got: %s", strings.Join(got, "; "))
		}
		if !clientReaches(ctx, h, url(web4, 80), "machine web") {
			t.Error("without protections the client should reach web's port 80 directly (the test cannot fail otherwise)")
		}
	})
	timed(t, "nat restore", func() { mustNspawnctl(t, ctx, h, "nat", "restore") })
	protected("after flush and restore")
	if s, d := doctorExposure(t, ctx, h); s != "ok" {
		t.Errorf("doctor exposure after restore: %s %s", s, d)
	}
}
