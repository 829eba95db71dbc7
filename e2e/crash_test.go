package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
	"github.com/nspawnctl/nspawnctl/internal/crashpoint"
)

// crashConfig is a small machine with everything a create makes: a root
// imported from a tarball, a forward (NAT definition, restore unit), the
// network files on both sides, and a start. Its payload does not boot, so a
// start and a stop take a moment instead of a Debian boot.
const crashConfig = `machine "crash" {
  boot    = false
  command = ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/srv/www"]
  root {
    tarball = "/var/tmp/crash.tar"
  }
  forward_port {
    host_port      = 8282
    container_port = 80
  }
}
`

// crashRoot builds /var/tmp/crash.tar in the test host: the machine's static
// busybox (copied in from this machine), an os-release, a page, and 8 MiB of
// padding so that the import's two kill points (first block, half) fall in
// different reads.
func crashRoot(t *testing.T, ctx context.Context, h *testhost.Host) {
	t.Helper()
	if err := h.CopyIn(ctx, "/bin/busybox", "/var/tmp/crash-stage/bin/busybox"); err != nil {
		t.Fatal(err)
	}
	mustRun(t, ctx, h, "sh", "-c", `set -e
cd /var/tmp/crash-stage
mkdir -p etc srv/www usr var
ln -sf busybox bin/sh
printf 'ID=crash\nNAME=crash\n' > etc/os-release
: > etc/machine-id
echo crash-ok > srv/www/index.html
head -c 8388608 /dev/urandom > usr/padding
tar -cf /var/tmp/crash.tar --numeric-owner --owner=0 --group=0 .
cd / && rm -rf /var/tmp/crash-stage`)
}

// TestKillCreateConverges kills `nspawnctl create --start` (then `remove`)
// with SIGKILL at every step it has (crashpoint.Hit: early, between the temporary file and
// the rename of every file, during the tarball import, between the record
// and the NAT definition, while systemd starts the machine), on a real
// systemd host. After every kill: no tar is left running, a re-run of the
// same create --start succeeds and the machine runs, and a remove leaves the
// host exactly as before the first create (Snapshot/DiffSnapshots).
func TestKillCreateConverges(t *testing.T) {
	h, ctx := nspawnctlBareHost(t)
	crashRoot(t, ctx, h)
	cfg := "/root/crash.hcl"
	if err := h.WriteFile(ctx, cfg, crashConfig, 0o644); err != nil {
		t.Fatal(err)
	}
	// list --json of no machines is an empty array.
	if out := strings.TrimSpace(mustNspawnctl(t, ctx, h, "list", "--json").Stdout); out != "[]" {
		t.Errorf("list --json with no machines printed %q, want []", out)
	}
	before := snapshot(t, ctx, h)
	// NSPAWNCTL_E2E_CRASH_FROM=N starts at kill point N, to look at one.
	from, _ := strconv.Atoi(os.Getenv("NSPAWNCTL_E2E_CRASH_FROM"))
	t0 := time.Now()
	points := killEverywhere(t, ctx, h, from, "create --config "+cfg+" --start", func(where string) {
		// The import's tar died with nspawnctl (bounded wait: the kernel
		// kills it at once, its exit may take a moment).
		if _, err := testhost.Until(ctx, 10*time.Second, 100*time.Millisecond, "tar to exit", func(c context.Context) error {
			r := h.Run(c, "sh", "-c", `for f in /proc/[0-9]*/comm; do [ "$(cat "$f" 2>/dev/null)" = tar ] && echo "$f"; done; true`)
			if left := strings.TrimSpace(r.Stdout); left != "" || r.Code != 0 {
				return fmt.Errorf("tar still runs: %s %s", left, r)
			}
			return nil
		}); err != nil {
			t.Fatalf("after a kill at %s: %v", where, err)
		}
		// What the kill left shows as an incomplete create.
		if rec := h.Run(ctx, "cat", "/var/lib/nspawnctl/machines/crash.json"); rec.Code == 0 && strings.Contains(rec.Stdout, `"incomplete": true`) {
			if st := h.Nspawnctl(ctx, "status", "crash"); !strings.Contains(st.Stdout, "imperative (incomplete)") {
				t.Errorf("after a kill at %s, status does not say the create is incomplete: %s", where, st)
			}
		}
		convergeAndRemove(t, ctx, h, cfg, where, before)
	})
	// shell -- CMD passes on a death by signal as a shell does: 128+N, and says so.
	r := h.Nspawnctl(ctx, "shell", "crash", "--", "/bin/sh", "-c", "kill -KILL $$")
	if r.Code != 137 || !strings.Contains(r.Stderr, "killed by signal 9 (SIGKILL)") {
		t.Errorf("shell -- CMD killed by SIGKILL: want exit 137 and a message, got %s", r)
	}
	mustNspawnctl(t, ctx, h, "remove", "crash")
	if d := testhost.DiffSnapshots(before, snapshot(t, ctx, h), stateSkeleton); len(d) > 0 {
		t.Fatalf("create --start and remove without a kill left:\n%s", strings.Join(d, "\n"))
	}
	t.Logf("%d kill points in create --start, 0 did not converge (%s)", points, time.Since(t0).Round(time.Second))
	if points < 50 && from <= 1 {
		t.Errorf("create --start has only %d kill points; the crash test promises at least 50", points)
	}

	// remove of a running machine, killed at each of its points: a
	// re-run of remove leaves the host as before.
	t0 = time.Now()
	points = killEverywhere(t, ctx, h, 1, "remove crash", func(where string) {
		if r := h.Nspawnctl(ctx, "remove", "crash"); r.Code != 0 {
			t.Fatalf("after a kill of remove at %s, the re-run failed: %s", where, r)
		}
		if d := testhost.DiffSnapshots(before, snapshot(t, ctx, h), stateSkeleton); len(d) > 0 {
			t.Fatalf("after a kill of remove at %s and a re-run, the host differs from before:\n%s", where, strings.Join(d, "\n"))
		}
	}, func() {
		if r := h.Nspawnctl(ctx, "create", "--config", cfg, "--start"); r.Code != 0 {
			t.Fatalf("create --start before a killed remove: %s", r)
		}
	})
	if d := testhost.DiffSnapshots(before, snapshot(t, ctx, h), stateSkeleton); len(d) > 0 {
		t.Fatalf("remove without a kill left:\n%s", strings.Join(d, "\n"))
	}
	t.Logf("%d kill points in remove, 0 did not converge (%s)", points, time.Since(t0).Round(time.Second))
}

// killEverywhere runs `nspawnctl ARGS` killed at kill point 1, 2, ... (from
// first) until a run passes every point; after each kill it calls
// afterKill with the point's name. setup, if given, runs before each run.
// It returns the number of kills.
func killEverywhere(t *testing.T, ctx context.Context, h *testhost.Host, first int, args string, afterKill func(where string), setup ...func()) int {
	t.Helper()
	const crashLog = "/run/nspawnctl-crash.log"
	points := 0
	for at := max(first, 1); ; at++ {
		if at > 400 {
			t.Fatalf("nspawnctl %s passed more than 400 kill points; the loop does not end", args)
		}
		for _, f := range setup {
			f()
		}
		script := fmt.Sprintf("rm -f %[1]s; %[2]s=%[3]d %[4]s=%[1]s %[5]s %[6]s >/dev/null 2>&1; echo $?",
			crashLog, crashpoint.EnvAt, at, crashpoint.EnvLog, testhost.NspawnctlPath, args)
		out := strings.TrimSpace(mustRun(t, ctx, h, "sh", "-c", script))
		if out == "0" {
			return points // past the last point: the run finished unharmed
		}
		if out != "137" {
			t.Fatalf("nspawnctl %s with kill point %d exited %s, neither killed (137) nor done (0)", args, at, out)
		}
		points++
		afterKill(strings.TrimSpace(mustRun(t, ctx, h, "sh", "-c", "tail -n 1 "+crashLog)))
	}
}

// convergeAndRemove re-runs the create after a kill at where: it must
// succeed (or, killed after the create recorded itself complete, say the
// machine exists, as a second create does) and leave the machine running;
// then remove must bring the host back to before.
func convergeAndRemove(t *testing.T, ctx context.Context, h *testhost.Host, cfg, where string, before []string) {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	r := h.Nspawnctl(rctx, "create", "--config", cfg, "--start")
	if r.Code != 0 {
		rec := h.Run(ctx, "cat", "/var/lib/nspawnctl/machines/crash.json")
		if !strings.Contains(r.Stderr, "exists already") || rec.Code != 0 || strings.Contains(rec.Stdout, `"incomplete"`) {
			t.Fatalf("after a kill at %s, the re-run did not converge: %s", where, r)
		}
	}
	if state, err := h.WaitUnitState(ctx, "systemd-nspawn@crash.service", 60*time.Second, "active"); err != nil {
		t.Fatalf("after a kill at %s and a re-run (%s), the machine is %q: %v\n%s", where, r, state, err, h.Journal("systemd-nspawn@crash.service"))
	}
	if r := h.Nspawnctl(rctx, "remove", "crash"); r.Code != 0 {
		t.Fatalf("after a kill at %s and a re-run, remove failed: %s", where, r)
	}
	if d := testhost.DiffSnapshots(before, snapshot(t, ctx, h), stateSkeleton); len(d) > 0 {
		t.Fatalf("after a kill at %s, a re-run and a remove, the host differs from before:\n%s", where, strings.Join(d, "\n"))
	}
}
