package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
	"github.com/nspawnctl/nspawnctl/internal/golden"
)

// The e2e tests have no golden files yet; the import defines -update so that
// "go test ./... -update" works in this package too.
var _ = golden.Update

// webNspawn is the settings file of the nested machine: booted, no user
// namespace (nested, -U cannot create the veth: testbed.md 5.5), and nspawn's
// own Port= forward.
const webNspawn = `[Exec]
Boot=yes
PrivateUsers=no

[Network]
VirtualEthernet=yes
Port=tcp:8181:80
`

// httpdUnit serves /srv/www inside the guest.
const httpdUnit = `[Unit]
Description=busybox httpd for the e2e smoke test
After=network.target

[Service]
ExecStart=/bin/busybox httpd -f -p 80 -h /srv/www

[Install]
WantedBy=multi-user.target
`

const indexPage = "<h1>nspawnctl e2e smoke: hello from web</h1>\n"

// TestSmoke proves the harness with systemd's own tools only: a nested
// container started by machinectl inside the test host serves a page that the
// client namespace reaches through nspawn's Port= DNAT in io.systemd.nat.
func TestSmoke(t *testing.T) {
	h := testhost.Start(t)
	ctx := testhost.Context(t)
	t.Logf("timings: %s", h.Timings)

	// The test host's PID 1 lives in the host's own cgroup in every
	// hierarchy nspawn uses (CGROUP/payload), not in a /payload that every
	// test host on the machine would share.
	self, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", h.Leader()))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Cgroups()) == 0 {
		t.Error("the test host has no cgroup of its own")
	}
	for _, cg := range h.Cgroups() {
		if name := filepath.Base(cg); !strings.Contains(string(self), "/"+name+"/payload") {
			t.Errorf("test host PID 1 is not in its cgroup %s/payload:\n%s", cg, self)
		}
	}

	phase := func(name string, start time.Time) {
		t.Logf("phase %-22s %s", name, time.Since(start).Round(time.Millisecond))
	}

	t0 := time.Now()
	if err := h.InstallGuest(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	root := "/var/lib/machines/web"
	for path, content := range map[string]string{
		"/etc/systemd/nspawn/web.nspawn":               webNspawn,
		root + "/etc/systemd/system/e2e-httpd.service": httpdUnit,
		root + "/srv/www/index.html":                   indexPage,
	} {
		if err := h.WriteFile(ctx, path, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := h.Exec(ctx, "ln", "-sf", "/etc/systemd/system/e2e-httpd.service",
		root+"/etc/systemd/system/multi-user.target.wants/e2e-httpd.service"); err != nil {
		t.Fatal(err)
	}
	phase("install guest", t0)

	t0 = time.Now()
	if _, _, err := h.Exec(ctx, "machinectl", "start", "web"); err != nil {
		t.Fatal(err)
	}
	addr, err := h.WaitMachine(ctx, "web", 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	phase("nested start+address", t0)
	t.Logf("machine web has %s", addr)

	t0 = time.Now()
	url := "http://" + testhost.HostIPv4 + ":8181/"
	body, err := h.WaitURL(ctx, url, "hello from web", 60, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	phase("first HTTP answer", t0)
	if body != indexPage {
		t.Errorf("GET %s = %q, want %q", url, body, indexPage)
	}

	// The forward is nspawn's element in systemd's table (systemd.md 1.9).
	nft, _, err := h.Exec(ctx, "nft", "list", "map", "ip", "io.systemd.nat", "map_port_ipport")
	if err != nil {
		t.Fatal(err)
	}
	if want := "tcp . 8181 : " + addr.String() + " . 80"; !strings.Contains(nft, want) {
		t.Errorf("io.systemd.nat map lacks %q:\n%s", want, nft)
	}

	t0 = time.Now()
	list, _, err := h.Exec(ctx, "machinectl", "list", "--no-legend")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list, "web") || !strings.Contains(list, "container") {
		t.Errorf("machinectl list does not show web as a container:\n%s", list)
	}
	status, _, err := h.Exec(ctx, "machinectl", "status", "web", "--no-pager")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status, "systemd-nspawn@web.service") {
		t.Errorf("machinectl status web does not name its unit:\n%s", status)
	}
	if _, _, err := h.Exec(ctx, "machinectl", "shell", "web", "/bin/true"); err != nil {
		t.Fatal(err)
	}
	phase("machinectl checks", t0)

	t0 = time.Now()
	if _, _, err := h.Exec(ctx, "machinectl", "poweroff", "web"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Sh(ctx, `for i in $(seq 120); do machinectl show web >/dev/null 2>&1 || exit 0; sleep 0.25; done; echo "web still registered" >&2; exit 1`); err != nil {
		t.Fatal(err)
	}
	phase("nested poweroff", t0)
}
