package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
)

// otherNspawn is a container nspawnctl does not manage: systemd's own
// Port= maps host port 8080 to it in io.systemd.nat.
const otherNspawn = `[Exec]
PrivateUsers=no

[Network]
VirtualEthernet=yes
Port=tcp:8080:80
`

// TestRefusalPortMapped: a machine whose forward takes a host port that
// another machine's nspawn Port= already maps is refused before its
// container starts, by "nspawnctl create --start" and by "machinectl start"
// alike, and the CLI says why (the hook's message from the unit's journal).
// Refused after the container started (in ExecStartPost), the same start
// took 91 s on systemd 257 and 121 s on 262 and said only "see journalctl".
// Once the port is free, the same machine starts and serves.
func TestRefusalPortMapped(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	t.Logf("test host: %s", h.Suite())

	timed(t, "other machine with Port=", func() {
		if err := h.InstallGuest(ctx, "other"); err != nil {
			t.Fatal(err)
		}
		if err := h.WriteFile(ctx, "/etc/systemd/nspawn/other.nspawn", otherNspawn, 0o644); err != nil {
			t.Fatal(err)
		}
		mustRun(t, ctx, h, "machinectl", "start", "other")
		if _, err := h.WaitMachine(ctx, "other", 90*time.Second); err != nil {
			t.Fatal(err)
		}
		// nspawn adds its element once the container has its address.
		if _, _, err := h.Sh(ctx, `for i in $(seq 120); do nft list map ip io.systemd.nat map_port_ipport 2>/dev/null | grep -q 'tcp . 8080 :' && exit 0; sleep 0.25; done; exit 1`); err != nil {
			t.Fatalf("nspawn's Port= element for 8080 did not appear: %v", err)
		}
	})

	cfg := "/root/web.hcl"
	if err := h.WriteFile(ctx, cfg, webConfig("web", 8080, ""), 0o644); err != nil {
		t.Fatal(err)
	}
	unit := "systemd-nspawn@web.service"
	refused := func(what string, r testhost.Result) {
		t.Helper()
		t.Logf("refusal time (%s, %s): %s", what, h.Suite(), r.Duration.Round(time.Millisecond))
		if r.Code == 0 {
			t.Fatalf("%s of a machine whose port 8080 nspawn's Port= maps succeeded: %s", what, r)
		}
		if state, err := h.WaitUnitState(ctx, unit, 10*time.Second, "failed", "inactive"); err != nil {
			t.Errorf("%s: %v", what, err)
		} else {
			t.Logf("%s: %s is %s", what, unit, state)
		}
		if out := h.Run(ctx, "machinectl", "show", "web"); out.Code == 0 {
			t.Errorf("%s: the container ran (machined knows web): %s", what, out.Stdout)
		}
		own, err := h.NftOwn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range own {
			if strings.Contains(l, `"web"`) || strings.Contains(l, "machine web") {
				t.Errorf("%s: web's forwards were installed: %s", what, l)
			}
		}
	}

	r := h.Nspawnctl(ctx, "create", "--config", cfg, "--start")
	refused("create --start", r)
	t.Logf("create --start said:\n%s", r.Stderr)
	// The reason, from the unit: the hook's own message and the result.
	for _, want := range []string{"is already mapped by systemd", "nspawn Port=", "result: exit-code"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("create --start: stderr lacks %q:\n%s", want, r.Stderr)
		}
	}

	r = h.Run(ctx, "machinectl", "start", "web")
	refused("machinectl start", r)

	r = h.Nspawnctl(ctx, "start", "web")
	refused("start", r)
	if !strings.Contains(r.Stderr, "is already mapped by systemd") {
		t.Errorf("start: stderr lacks the reason:\n%s", r.Stderr)
	}

	// The conflict gone, the same machine starts and its forward works.
	mustRun(t, ctx, h, "machinectl", "poweroff", "other")
	if _, _, err := h.Sh(ctx, `for i in $(seq 240); do machinectl show other >/dev/null 2>&1 || exit 0; sleep 0.25; done; exit 1`); err != nil {
		t.Fatalf("other did not stop: %v", err)
	}
	timed(t, "start after the port is free", func() { mustNspawnctl(t, ctx, h, "start", "web") })
	if _, d, err := testhost.WaitGet(ctx, h.ClientGet, clientURL4(8080), "hello from", 90*time.Second); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("client reached web through 8080 after %s", d.Round(time.Millisecond))
	}
}
