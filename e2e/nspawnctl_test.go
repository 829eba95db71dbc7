package e2e

import (
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
)

// TestNspawnctlInTestHost checks the path every nspawnctl scenario takes:
// the freshly built binary is copied into a booted test host and runs there.
func TestNspawnctlInTestHost(t *testing.T) {
	testhost.SkipUnlessEnabled(t)
	bin := testhost.NspawnctlBinary(t)
	h := testhost.Start(t)
	ctx := testhost.Context(t)
	if err := h.InstallNspawnctl(ctx, bin); err != nil {
		t.Fatal(err)
	}
	out, _, err := h.Exec(ctx, "nspawnctl", "--help")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "nspawnctl") {
		t.Errorf("nspawnctl --help inside the test host printed:\n%s", out)
	}
	// Journal is what failing scenarios show; networkd configured the uplink.
	if j := h.Journal("systemd-networkd.service"); !strings.Contains(j, testhost.HostUplink) {
		t.Errorf("journal of systemd-networkd does not mention %s:\n%s", testhost.HostUplink, j)
	}
	// The guest tarball is where "nspawnctl create" scenarios import it from.
	if err := h.CopyGuestTarball(ctx, testhost.GuestTarballPath); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Exec(ctx, "tar", "-tf", testhost.GuestTarballPath, "./usr/lib/systemd/systemd"); err != nil {
		t.Fatal(err)
	}
}
