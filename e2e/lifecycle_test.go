package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
)

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
	h, ctx := nspawnctlHost(t)
	timed(t, "create --start", func() { createWeb(t, ctx, h, "web", 8181) })
	timed(t, "first answers", func() { webReachable(t, ctx, h, 8181, "hello from", 90*time.Second) })
}

// status is the part of nspawnctl's list/status JSON the scenarios check.
type status struct {
	Name      string       `json:"name"`
	Managed   string       `json:"managed"`
	State     string       `json:"state"`
	Running   bool         `json:"running"`
	Leader    int          `json:"leader"`
	Addresses []netip.Addr `json:"addresses"`
	HostLink  string       `json:"host_link"`
	Forwards  []string     `json:"forwards"`
	RootDir   string       `json:"root"`
}

// families reports whether addrs hold a global IPv4 and a non-link-local
// IPv6 address.
func families(addrs []netip.Addr) (v4, v6 bool) {
	for _, a := range addrs {
		switch {
		case a.Is4() && !a.IsLinkLocalUnicast():
			v4 = true
		case a.Is6() && !a.IsLinkLocalUnicast():
			v6 = true
		}
	}
	return v4, v6
}

// waitStatus polls nspawnctl status NAME --json until the machine shows an
// IPv4 and an IPv6 address (the container's IPv6 address passes DAD a moment
// after boot), bounded by timeout.
func waitStatus(t *testing.T, ctx context.Context, h *testhost.Host, name string, timeout time.Duration) status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := h.Nspawnctl(ctx, "status", name, "--json")
		var s status
		if r.Code == 0 {
			if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
				t.Fatalf("nspawnctl status %s --json: %v\n%s", name, err, r.Stdout)
			}
			if v4, v6 := families(s.Addresses); v4 && v6 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nspawnctl status %s --json shows no IPv4 and IPv6 address after %s: %s", name, timeout, r)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestLifecycleIntrospection checks that systemd's tools and nspawnctl's
// list, status and shell all see a created machine.
func TestLifecycleIntrospection(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	timed(t, "create --start", func() { createWeb(t, ctx, h, "web", 8181) })
	timed(t, "first answer", func() {
		if _, _, err := testhost.WaitGet(ctx, h.ClientGet, clientURL4(8181), "hello from", 90*time.Second); err != nil {
			t.Fatal(err)
		}
	})

	timed(t, "systemd tools", func() {
		if out := mustRun(t, ctx, h, "machinectl", "list", "--no-legend"); !strings.Contains(out, "web") || !strings.Contains(out, "container") {
			t.Errorf("machinectl list does not show web as a container:\n%s", out)
		}
		if out := mustRun(t, ctx, h, "machinectl", "status", "web", "--no-pager"); !strings.Contains(out, "systemd-nspawn@web.service") {
			t.Errorf("machinectl status web does not name its unit:\n%s", out)
		}
		mustRun(t, ctx, h, "machinectl", "shell", "web", "/bin/true")
		out := mustRun(t, ctx, h, "systemctl", "status", "systemd-nspawn@web.service", "--no-pager")
		for _, want := range []string{"active (running)", "nspawnctl.conf"} {
			if !strings.Contains(out, want) {
				t.Errorf("systemctl status systemd-nspawn@web lacks %q:\n%s", want, out)
			}
		}
	})

	var st status
	timed(t, "nspawnctl status/list", func() {
		st = waitStatus(t, ctx, h, "web", 30*time.Second)
		checkStatus(t, "nspawnctl status web --json", st, 8181)
		r := mustNspawnctl(t, ctx, h, "list", "--json")
		var list []status
		if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil {
			t.Fatalf("nspawnctl list --json: %v\n%s", err, r.Stdout)
		}
		found := false
		for _, s := range list {
			if s.Name == "web" {
				found = true
				checkStatus(t, "nspawnctl list --json", s, 8181)
			}
		}
		if !found {
			t.Errorf("nspawnctl list --json does not list web:\n%s", r.Stdout)
		}
		if r := mustNspawnctl(t, ctx, h, "status", "web"); !strings.Contains(r.Stdout, "imperative") || !strings.Contains(r.Stdout, "ve-web") {
			t.Errorf("nspawnctl status web:\n%s", r.Stdout)
		}
	})
	t.Logf("status: %+v", st)

	timed(t, "nspawnctl shell", func() {
		r := h.Nspawnctl(ctx, "shell", "web", "--", "/bin/echo", "hi")
		if r.Code != 0 || r.Stdout != "hi\n" {
			t.Errorf("nspawnctl shell web -- /bin/echo hi: want \"hi\\n\" and exit 0, got %s", r)
		}
		r = h.Nspawnctl(ctx, "shell", "web", "--", "/bin/false")
		if r.Code != 1 {
			t.Errorf("nspawnctl shell web -- /bin/false: want exit 1, got %s", r)
		}
	})
	// With a terminal (script(1) gives it one) a command runs on a
	// terminal of nspawnctl's own, and its exit code comes back; a login
	// shell (no command) and --uid go through machined's OpenMachineShell
	// (a PTY passed over D-Bus).
	timed(t, "nspawnctl shell (pty)", func() {
		r := h.Run(ctx, "script", "-qec", testhost.NspawnctlPath+" shell web -- /bin/echo hi-from-pty", "/dev/null")
		if r.Code != 0 || !strings.Contains(r.Stdout, "hi-from-pty") {
			t.Errorf("nspawnctl shell web -- /bin/echo on a terminal: want hi-from-pty and exit 0, got %s", r)
		}
		r = h.Run(ctx, "script", "-qec", testhost.NspawnctlPath+` shell web -- /bin/sh -c "test -t 0 && test -t 1 && echo on-a-tty; exit 3"`, "/dev/null")
		if r.Code != 3 || !strings.Contains(r.Stdout, "on-a-tty") {
			t.Errorf("nspawnctl shell web -- sh -c '...; exit 3' on a terminal: want on-a-tty and exit 3, got %s", r)
		}
		r = h.Run(ctx, "script", "-qec", testhost.NspawnctlPath+" shell -u root web -- /bin/echo hi-via-machined", "/dev/null")
		if r.Code != 0 || !strings.Contains(r.Stdout, "hi-via-machined") {
			t.Errorf("nspawnctl shell -u root web -- /bin/echo on a terminal: want hi-via-machined and exit 0, got %s", r)
		}
	})
}

// checkStatus checks one machine's list/status entry.
func checkStatus(t *testing.T, what string, s status, port int) {
	t.Helper()
	if s.Managed != "imperative" || !s.Running || s.State != "active" {
		t.Errorf("%s: managed %q running %v state %q, want imperative, running, active", what, s.Managed, s.Running, s.State)
	}
	if v4, v6 := families(s.Addresses); !v4 || !v6 {
		t.Errorf("%s: addresses %v lack IPv4 or IPv6", what, s.Addresses)
	}
	if s.HostLink != "ve-"+s.Name {
		t.Errorf("%s: host link %q, want ve-%s", what, s.HostLink, s.Name)
	}
	want := fmt.Sprintf(":%d ", port)
	if len(s.Forwards) == 0 || !strings.Contains(strings.Join(s.Forwards, "|"), want) {
		t.Errorf("%s: forwards %q lack host port %d", what, s.Forwards, port)
	}
}

// nftMentions returns the nspawnctl/element lines of the ruleset that name
// machine (elements carry the machine's name as their comment).
func nftMentions(t *testing.T, ctx context.Context, h *testhost.Host, machine string) []string {
	t.Helper()
	own, err := h.NftOwn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range own {
		if strings.Contains(l, `"`+machine+`"`) {
			out = append(out, l)
		}
	}
	return out
}

// TestLifecycleStopStart checks that forwards follow the container: stop
// removes them, start (nspawnctl's or machinectl's) restores them, and a
// networkd restart does not break them.
func TestLifecycleStopStart(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	timed(t, "create --start", func() { createWeb(t, ctx, h, "web", 8181) })
	timed(t, "first answers", func() { webReachable(t, ctx, h, 8181, "hello from", 90*time.Second) })

	stopped := func(how string) {
		if l := nftMentions(t, ctx, h, "web"); len(l) > 0 {
			t.Errorf("after %s, nft still has forwards of web:\n%s", how, strings.Join(l, "\n"))
		}
		webUnreachable(t, ctx, h, 8181)
	}
	timed(t, "nspawnctl stop", func() {
		mustNspawnctl(t, ctx, h, "stop", "web")
		stopped("nspawnctl stop")
		// A stopped managed machine is still listed, as stopped.
		r := mustNspawnctl(t, ctx, h, "status", "web", "--json")
		var s status
		if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
			t.Fatalf("nspawnctl status web --json: %v\n%s", err, r.Stdout)
		}
		if s.Name != "web" || s.Running || s.State != "inactive" || s.Managed != "imperative" {
			t.Errorf("nspawnctl status of the stopped web: %+v, want name web, not running, inactive, imperative", s)
		}
	})
	timed(t, "nspawnctl start", func() {
		mustNspawnctl(t, ctx, h, "start", "web")
		webReachable(t, ctx, h, 8181, "hello from", 90*time.Second)
	})
	timed(t, "machinectl stop", func() {
		mustRun(t, ctx, h, "machinectl", "stop", "web")
		if _, err := h.WaitUnitState(ctx, "systemd-nspawn@web.service", 60*time.Second, "inactive", "failed"); err != nil {
			t.Fatal(err)
		}
		stopped("machinectl stop")
	})
	timed(t, "machinectl start", func() {
		mustRun(t, ctx, h, "machinectl", "start", "web")
		webReachable(t, ctx, h, 8181, "hello from", 90*time.Second)
	})
	timed(t, "nspawnctl restart", func() {
		pid := leaderOf(t, ctx, h, "web")
		mustNspawnctl(t, ctx, h, "restart", "web")
		webReachable(t, ctx, h, 8181, "hello from", 90*time.Second)
		if now := leaderOf(t, ctx, h, "web"); now == pid {
			t.Errorf("nspawnctl restart web kept the leader %d", pid)
		}
	})
	timed(t, "networkd restart", func() {
		mustRun(t, ctx, h, "systemctl", "restart", "systemd-networkd")
		webReachable(t, ctx, h, 8181, "hello from", 60*time.Second)
	})
}

// stateSkeleton accepts the entries nspawnctl's first run leaves for every
// later machine: the state directory with its lock and empty subdirectories.
func stateSkeleton(e string) bool {
	switch strings.TrimPrefix(strings.TrimPrefix(e, "+ "), "- ") {
	case "file /var/lib/nspawnctl", "file /var/lib/nspawnctl/lock", "file /var/lib/nspawnctl/machines",
		"file /var/lib/nspawnctl/nat", "file /var/lib/nspawnctl/nat/lock", "file /var/lib/nspawnctl/generations":
		return true
	}
	return false
}

// snapshot takes a testhost.Snapshot or fails the test.
func snapshot(t *testing.T, ctx context.Context, h *testhost.Host) []string {
	t.Helper()
	s, err := h.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLifecycleRemoveLeavesNothing compares the host before create and after
// remove: no file, unit, drop-in, nft object, link or allocation is left.
func TestLifecycleRemoveLeavesNothing(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	before := snapshot(t, ctx, h)
	timed(t, "create --start", func() { createWeb(t, ctx, h, "web", 8181) })
	timed(t, "first answers", func() { webReachable(t, ctx, h, 8181, "hello from", 90*time.Second) })
	during := snapshot(t, ctx, h)
	t.Logf("while web runs, the host has in addition:\n%s", strings.Join(testhost.DiffSnapshots(before, during, nil), "\n"))
	timed(t, "remove", func() { mustNspawnctl(t, ctx, h, "remove", "web") })
	// systemd unloads a stopped unit only when its garbage collection gets to
	// it, which under load can come a moment after remove has returned (the
	// unit then shows as "loaded inactive dead" of the stock template). Give
	// that a few seconds; anything nspawnctl left stays and fails the test.
	var d []string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		if d = testhost.DiffSnapshots(before, snapshot(t, ctx, h), stateSkeleton); len(d) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(d) > 0 {
		t.Errorf("remove left a difference to the host before create:\n%s", strings.Join(d, "\n"))
	}
	webUnreachable(t, ctx, h, 8181)
	if r := h.Run(ctx, "systemctl", "cat", "systemd-nspawn@web.service"); strings.Contains(r.Stdout, "nspawnctl") {
		t.Errorf("systemd still has nspawnctl's drop-in for web:\n%s", r.Stdout)
	}
}

// TestLifecycleConcurrentCreate runs two creates at once: they get distinct
// addresses and both machines serve their own forward.
func TestLifecycleConcurrentCreate(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	names := []string{"alpha", "beta"}
	ports := map[string]int{"alpha": 8281, "beta": 8282}
	for _, n := range names {
		if err := h.WriteFile(ctx, "/root/"+n+".hcl", webConfig(n, ports[n], ""), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	timed(t, "two concurrent creates", func() {
		var wg sync.WaitGroup
		res := make([]testhost.Result, len(names))
		for i, n := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i] = h.Nspawnctl(ctx, "create", "--config", "/root/"+n+".hcl", "--start")
			}()
		}
		wg.Wait()
		for i, n := range names {
			if res[i].Code != 0 || res[i].Err != nil {
				t.Fatalf("concurrent create of %s: %s", n, res[i])
			}
			t.Logf("create %s: %s", n, res[i].Duration.Round(time.Millisecond))
		}
	})
	// Tell the two apart: each serves its own name.
	for _, n := range names {
		if err := h.WriteFile(ctx, "/var/lib/machines/"+n+"/srv/www/index.html", "machine "+n+"\n", 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[netip.Addr]string{}
	for _, n := range names {
		st := waitStatus(t, ctx, h, n, 60*time.Second)
		for _, a := range st.Addresses {
			if a.IsLinkLocalUnicast() {
				continue
			}
			if other, ok := seen[a]; ok {
				t.Errorf("machines %s and %s share the address %s", other, n, a)
			}
			seen[a] = n
		}
		timed(t, "answers of "+n, func() { webReachable(t, ctx, h, ports[n], "machine "+n, 90*time.Second) })
	}
	out := mustRun(t, ctx, h, "sh", "-c", "cat /var/lib/nspawnctl/machines/*.json")
	t.Logf("state records:\n%s", out)
}

// TestLifecycleFailedCreate checks that a create failing half-way leaves
// nothing, that a second create of a name is refused unless --force, and that
// starting a machine whose root is gone names the missing root.
func TestLifecycleFailedCreate(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	before := snapshot(t, ctx, h)
	if _, _, err := h.Sh(ctx, `head -c 65536 /dev/urandom > /var/tmp/corrupt.tar`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, tarball, want string }{
		{"missing", "/var/tmp/does-not-exist.tar", "/var/tmp/does-not-exist.tar"},
		{"corrupt", "/var/tmp/corrupt.tar", "/var/tmp/corrupt.tar"},
	} {
		timed(t, "failing create: "+c.name, func() {
			cfg := strings.Replace(webConfig("web", 8181, ""), testhost.WebTarballPath, c.tarball, 1)
			if err := h.WriteFile(ctx, "/root/bad.hcl", cfg, 0o644); err != nil {
				t.Fatal(err)
			}
			r := h.Nspawnctl(ctx, "create", "--config", "/root/bad.hcl", "--start")
			if r.Code == 0 {
				t.Fatalf("create with a %s tarball succeeded: %s", c.name, r)
			}
			if !strings.Contains(r.Stderr, c.want) {
				t.Errorf("create with a %s tarball: the error does not name %s: %s", c.name, c.want, r)
			}
			t.Logf("create with a %s tarball: %s", c.name, r)
			if d := testhost.DiffSnapshots(before, snapshot(t, ctx, h), stateSkeleton); len(d) > 0 {
				t.Errorf("the failed create (%s tarball) left:\n%s", c.name, strings.Join(d, "\n"))
			}
		})
	}

	// Half-way for real: the root is imported and the .nspawn file and
	// drop-in are written when the host-side network file cannot be (a
	// directory is in its way); the undo must take all of it back.
	timed(t, "failing create: half-way", func() {
		blocker := "/etc/systemd/network/20-ve-web.network"
		mustRun(t, ctx, h, "mkdir", "-p", blocker+"/in-the-way")
		defer mustRun(t, ctx, h, "rm", "-rf", blocker)
		before := snapshot(t, ctx, h)
		if err := h.WriteFile(ctx, "/root/web.hcl", webConfig("web", 8181, ""), 0o644); err != nil {
			t.Fatal(err)
		}
		r := h.Nspawnctl(ctx, "create", "--config", "/root/web.hcl", "--start")
		if r.Code == 0 || !strings.Contains(r.Stderr, blocker) {
			t.Fatalf("create with %s in the way: want a failure naming it, got %s", blocker, r)
		}
		t.Logf("create with a blocked network file: %s", r)
		if d := testhost.DiffSnapshots(before, snapshot(t, ctx, h), stateSkeleton); len(d) > 0 {
			t.Errorf("the create that failed half-way left:\n%s", strings.Join(d, "\n"))
		}
	})

	timed(t, "create, refused re-create", func() {
		if err := h.WriteFile(ctx, "/root/web.hcl", webConfig("web", 8181, ""), 0o644); err != nil {
			t.Fatal(err)
		}
		mustNspawnctl(t, ctx, h, "create", "--config", "/root/web.hcl")
		r := h.Nspawnctl(ctx, "create", "--config", "/root/web.hcl")
		if r.Code == 0 || !strings.Contains(r.Stderr, "--force") {
			t.Errorf("a second create of web: want a refusal that mentions --force, got %s", r)
		}
		mustNspawnctl(t, ctx, h, "create", "--config", "/root/web.hcl", "--force")
	})
	timed(t, "start without root", func() {
		mustRun(t, ctx, h, "rm", "-rf", "/var/lib/machines/web")
		r := h.Nspawnctl(ctx, "start", "web")
		if r.Code == 0 || !strings.Contains(r.Stderr, "/var/lib/machines/web") {
			t.Errorf("start of web without its root: want a failure naming /var/lib/machines/web, got %s", r)
		}
		t.Logf("start without root: %s", r)
	})
	// A machine whose root is gone can still be removed, completely.
	timed(t, "remove without root", func() {
		mustNspawnctl(t, ctx, h, "remove", "web")
		if d := testhost.DiffSnapshots(before, snapshot(t, ctx, h), stateSkeleton); len(d) > 0 {
			t.Errorf("remove of web without its root left:\n%s", strings.Join(d, "\n"))
		}
	})
}

// leaderOf returns machined's leader PID of a running machine, or fails.
func leaderOf(t *testing.T, ctx context.Context, h *testhost.Host, name string) int {
	t.Helper()
	pid, err := h.MachineLeader(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
