package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
)

// declDir is the declared configuration directory inside the test host. It
// keeps an empty file besides the machine's, so that it stays a valid
// configuration when the machine's declaration is removed.
const declDir = "/root/decl"

// declareWeb writes the declaration of machine dweb: the web tarball, started
// by apply (autostart), one forward and optionally a read-only bind mount.
func declareWeb(t *testing.T, ctx context.Context, h *testhost.Host, port int, bind bool) {
	t.Helper()
	extra := "  autostart = true\n"
	if bind {
		extra += "  bind_ro   = [\"/var/tmp/extra:/srv/www/extra\"]\n"
	}
	if err := h.WriteFile(ctx, declDir+"/dweb.hcl", webConfig("dweb", port, extra), 0o644); err != nil {
		t.Fatal(err)
	}
}

// planShows runs nspawnctl plan and checks that its output has every want.
func planShows(t *testing.T, ctx context.Context, h *testhost.Host, args []string, want ...string) {
	t.Helper()
	r := mustNspawnctl(t, ctx, h, append([]string{"plan"}, args...)...)
	for _, w := range want {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("nspawnctl plan %s lacks %q:\n%s", strings.Join(args, " "), w, r.Stdout)
		}
	}
	t.Logf("plan:\n%s", r.Stdout)
}

// TestDeclarative walks the declarative path: plan and apply add a machine;
// a changed forward applies without a restart, a changed bind mount with
// one; generations and rollback; removing the declaration keeps the machine
// unless --prune, which leaves imperative machines alone.
func TestDeclarative(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	timed(t, "imperative web", func() { createWeb(t, ctx, h, "web", 8181) })
	if err := h.WriteFile(ctx, declDir+"/empty.hcl", "# nothing but dweb.hcl is declared here\n", 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.WriteFile(ctx, "/var/tmp/extra/page.html", "extra page from a bind mount\n", 0o644); err != nil {
		t.Fatal(err)
	}

	var pid1 int
	timed(t, "apply: add", func() {
		declareWeb(t, ctx, h, 8381, false)
		planShows(t, ctx, h, []string{declDir}, "+ dweb", "create", "nat + tcp")
		mustNspawnctl(t, ctx, h, "apply", declDir)
		webReachable(t, ctx, h, 8381, "hello from", 90*time.Second)
		pid1 = leaderOf(t, ctx, h, "dweb")
	})

	timed(t, "apply: unchanged", func() {
		planShows(t, ctx, h, []string{declDir}, "= dweb (unchanged)")
		mustNspawnctl(t, ctx, h, "apply", declDir)
		if pid := leaderOf(t, ctx, h, "dweb"); pid != pid1 {
			t.Errorf("an apply without changes restarted dweb: leader %d, was %d", pid, pid1)
		}
	})

	timed(t, "apply: change forward", func() {
		declareWeb(t, ctx, h, 8382, false)
		planShows(t, ctx, h, []string{declDir}, "~ dweb", "running machine: reload", "nat + tcp *:8382", "nat - tcp *:8381")
		mustNspawnctl(t, ctx, h, "apply", declDir)
		webReachable(t, ctx, h, 8382, "hello from", 30*time.Second)
		webUnreachable(t, ctx, h, 8381)
		if pid := leaderOf(t, ctx, h, "dweb"); pid != pid1 {
			t.Errorf("changing a forward restarted dweb: leader %d, was %d", pid, pid1)
		}
	})

	var pid3 int
	timed(t, "apply: change bind mount", func() {
		declareWeb(t, ctx, h, 8382, true)
		planShows(t, ctx, h, []string{declDir}, "~ dweb", "running machine: restart", "/etc/systemd/nspawn/dweb.nspawn")
		mustNspawnctl(t, ctx, h, "apply", declDir)
		webReachable(t, ctx, h, 8382, "hello from", 90*time.Second)
		if _, _, err := testhost.WaitGet(ctx, h.ClientGet, clientURL4(8382)+"extra/page.html", "extra page", 30*time.Second); err != nil {
			t.Error(err)
		}
		if pid3 = leaderOf(t, ctx, h, "dweb"); pid3 == pid1 {
			t.Errorf("changing a bind mount did not restart dweb: leader still %d", pid3)
		}
	})

	timed(t, "generations", func() {
		r := mustNspawnctl(t, ctx, h, "generations", "dweb")
		lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[3], "3 ") || !strings.HasSuffix(strings.TrimSpace(lines[3]), "*") {
			t.Errorf("nspawnctl generations dweb: want a header and generations 1-3, 3 current:\n%s", r.Stdout)
		}
		t.Logf("generations:\n%s", r.Stdout)
	})

	timed(t, "rollback to 2", func() {
		mustNspawnctl(t, ctx, h, "rollback", "dweb")
		webReachable(t, ctx, h, 8382, "hello from", 90*time.Second)
		if pid := leaderOf(t, ctx, h, "dweb"); pid == pid3 {
			t.Errorf("rolling back a bind mount did not restart dweb: leader still %d", pid)
		}
		if _, err := h.ClientGet(ctx, clientURL4(8382)+"extra/page.html"); err == nil {
			t.Errorf("after the rollback to generation 2, the bind mount still serves extra/page.html")
		}
	})

	timed(t, "rollback to 1", func() {
		pid := leaderOf(t, ctx, h, "dweb")
		mustNspawnctl(t, ctx, h, "rollback", "dweb")
		webReachable(t, ctx, h, 8381, "hello from", 30*time.Second)
		webUnreachable(t, ctx, h, 8382)
		if now := leaderOf(t, ctx, h, "dweb"); now != pid {
			t.Errorf("rolling back a forward restarted dweb: leader %d, was %d", now, pid)
		}
		r := mustNspawnctl(t, ctx, h, "generations", "dweb")
		if !strings.Contains(r.Stdout, "8381") {
			t.Errorf("generations after rollback:\n%s", r.Stdout)
		}
		t.Logf("generations after rollback:\n%s", r.Stdout)
	})

	timed(t, "undeclare without --prune", func() {
		mustRun(t, ctx, h, "rm", declDir+"/dweb.hcl")
		planShows(t, ctx, h, []string{declDir}, "! dweb (keep)")
		mustNspawnctl(t, ctx, h, "apply", declDir)
		webReachable(t, ctx, h, 8381, "hello from", 10*time.Second)
	})

	timed(t, "apply --prune", func() {
		planShows(t, ctx, h, []string{declDir, "--prune"}, "- dweb (remove)", "delete /etc/systemd/nspawn/dweb.nspawn")
		// The NAT restore unit is web's too: prune keeps it, and so must the plan.
		if r := mustNspawnctl(t, ctx, h, "plan", declDir, "--prune"); strings.Contains(r.Stdout, "delete /etc/systemd/system/nspawnctl-nat-restore.service") {
			t.Errorf("the prune plan deletes the NAT restore unit that web still uses:\n%s", r.Stdout)
		}
		mustNspawnctl(t, ctx, h, "apply", declDir, "--prune")
		if r := h.Run(ctx, "machinectl", "show", "dweb"); r.Code == 0 {
			t.Errorf("machine dweb is still registered after apply --prune")
		}
		for _, p := range []string{"/etc/systemd/nspawn/dweb.nspawn", "/var/lib/machines/dweb", "/var/lib/nspawnctl/machines/dweb.json"} {
			if r := h.Run(ctx, "test", "!", "-e", p); r.Code != 0 {
				t.Errorf("%s is left after apply --prune", p)
			}
		}
		webUnreachable(t, ctx, h, 8381)
		if r := h.Run(ctx, "test", "-e", "/etc/systemd/system/nspawnctl-nat-restore.service"); r.Code != 0 {
			t.Errorf("apply --prune removed the NAT restore unit, which web still needs")
		}
		// The imperative machine is untouched.
		webReachable(t, ctx, h, 8181, "hello from", 10*time.Second)
		st := waitStatus(t, ctx, h, "web", 30*time.Second)
		if st.Managed != "imperative" {
			t.Errorf("web is managed %q after apply --prune, want imperative", st.Managed)
		}
	})
}
