package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
	"github.com/nspawnctl/nspawnctl/internal/golden"
	"github.com/nspawnctl/nspawnctl/machine/engine"
	"github.com/nspawnctl/nspawnctl/machine/nebula"
)

// The e2e package's golden files are written with -update; the import keeps
// the flag defined whichever scenario is run alone.
var _ = golden.Update

// The overlay of TestNebulaOverlay lives only inside the test host and the
// containers in it: overlay 198.51.100.0/24, the lighthouse on the test host
// at .1, reached over the underlay at the test host's uplink address.
const (
	nebOverlayPool = "198.51.100.0/24"
	nebLighthouse  = "198.51.100.1"
	nebLHPort      = 4242
	nebLHDevice    = "lh0"
	nebWebPort     = 80 // busybox httpd of the web tarball, in every container
	// nebMember and nebOther are the scenario's containers: nebMember is in
	// group "blue", which the inbound rule on port 80 admits; nebOther is in
	// "red". Both carry the same rules.
	nebMember = "neb-blue"
	nebOther  = "neb-red"
)

// nebulaMachineHCL is a container whose sidecar signs its certificate from
// the scenario's CA with groups, allocating its address from the pool.
// Everything may ping it; port 80 only admits group "blue".
func nebulaMachineHCL(name, root string, groups ...string) string {
	q := make([]string, len(groups))
	for i, g := range groups {
		q[i] = fmt.Sprintf("%q", g)
	}
	return fmt.Sprintf(`machine %q {
  root {
    %s
  }
  nebula {
    network = "e2e"
    ca      = "%[3]s/ca.crt"
    ca_key  = "%[3]s/ca.key"
    pool    = %[4]q
    groups  = [%[5]s]

    lighthouses     = [%[6]q]
    static_host_map = { %[6]q = ["%[7]s:%[8]d"] }

    inbound {
      proto = "icmp"
      host  = "any"
    }
    inbound {
      port  = "%[9]d"
      proto = "tcp"
      group = "blue"
    }
  }
}
`, name, root, testhost.NebulaCADir, nebOverlayPool, strings.Join(q, ", "),
		nebLighthouse, testhost.HostIPv4, nebLHPort, nebWebPort)
}

// nebStatus is the part of "nspawnctl nebula status --json" the scenario reads.
type nebStatus struct {
	Sidecar   string        `json:"sidecar"`
	Address   string        `json:"address"`
	Groups    []string      `json:"groups"`
	Device    string        `json:"device"`
	LinkAddrs []string      `json:"link_addresses"`
	Peers     []nebula.Peer `json:"peers"`
	PeersNote string        `json:"peers_note"`
}

// nebSidecar is what the scenario learned about one running sidecar.
type nebSidecar struct {
	machine string
	overlay string // the overlay address, without the prefix length
	leader  int    // the container's leader in the test host
	pid     int    // nebula's PID in the test host
	uid     int
}

// TestNebulaOverlay proves the Nebula sidecar on a real systemd host: a CA
// from "nspawnctl nebula ca init", a lighthouse on the test host (nebula-cert
// signs it from that CA), and two containers created with "create --start"
// whose sidecars sign their certificates from the CA key with different
// groups. It checks the sidecars' privileges and namespaces, ping and TCP
// over the overlay, a group-only inbound rule, stop/start and remove, and
// that no key reaches the containers.
func TestNebulaOverlay(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	version := mustRun(t, ctx, h, "nebula", "-version")
	tun := mustRun(t, ctx, h, "stat", "-c", "%A %U", "/dev/net/tun")
	t.Logf("test host: %s, /dev/net/tun %s", strings.TrimSpace(version), strings.TrimSpace(tun))

	t0 := time.Now()
	mustNspawnctl(t, ctx, h, "nebula", "ca", "init", "--name", "e2e-overlay", "--out", testhost.NebulaCADir)
	if err := h.StartLighthouse(ctx, testhost.Lighthouse{
		Address: nebLighthouse + "/24", Groups: []string{"infra"}, Port: nebLHPort, Device: nebLHDevice,
	}, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	phase(t, "CA + lighthouse", t0)

	t0 = time.Now()
	for _, m := range []struct {
		name  string
		group string
	}{{nebMember, "blue"}, {nebOther, "red"}} {
		cfg := "/root/" + m.name + ".hcl"
		root := fmt.Sprintf("tarball = %q", testhost.WebTarballPath)
		if err := h.WriteFile(ctx, cfg, nebulaMachineHCL(m.name, root, m.group), 0o644); err != nil {
			t.Fatal(err)
		}
		if m.name != nebMember || strings.HasPrefix(tun, "crw-rw-rw-") {
			mustNspawnctl(t, ctx, h, "create", "--config", cfg, "--start")
			continue
		}
		// start waits for the sidecar, so the refusal below is the
		// command's own error, naming the unit to look at.
		cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		r := h.Nspawnctl(cctx, "create", "--config", cfg, "--start")
		cancel()
		if r.Code == 0 || !strings.Contains(r.Stderr, "its Nebula sidecar did not") || !strings.Contains(r.Stderr, "nspawnctl-nebula-netns@"+nebMember) {
			t.Fatalf("create --start with /dev/net/tun 0600 should fail naming the sidecar's namespace unit: %s", r)
		}
		t.Logf("create --start with /dev/net/tun 0600: %s", strings.TrimSpace(r.Stderr))
		// The test host has no udev, so /dev/net/tun is the kernel's
		// 0600, which the sidecar's dynamic user cannot open: prepare
		// refuses to start it and says how to fix that. Then the test does
		// what udev's rule (KERNEL=="tun", MODE="0666") does on a real
		// host, and starts the sidecar again.
		unit := "nspawnctl-nebula-netns@" + nebMember + ".service"
		if s, err := h.WaitUnitState(ctx, unit, 30*time.Second, "failed"); err != nil {
			t.Fatalf("with /dev/net/tun 0600: %v (state %s)", err, s)
		}
		j := h.Journal(unit)
		if !strings.Contains(j, "chmod 0666 /dev/net/tun") {
			t.Errorf("prepare refused a 0600 /dev/net/tun without naming the fix:\n%s", j)
		}
		for _, l := range strings.Split(j, "\n") {
			if strings.Contains(l, "/dev/net/tun is mode") {
				t.Logf("with /dev/net/tun 0600, %s failed: %s", unit, l)
			}
		}
		mustRun(t, ctx, h, "chmod", "0666", "/dev/net/tun")
		mustRun(t, ctx, h, "systemctl", "start", "nspawnctl-nebula@"+nebMember+".service")
	}
	phase(t, "create --start (2 machines)", t0)

	t0 = time.Now()
	member := nebCheckSidecar(t, ctx, h, nebMember, []string{"blue"})
	other := nebCheckSidecar(t, ctx, h, nebOther, []string{"red"})
	if member.uid == other.uid {
		t.Errorf("the sidecars of %s and %s run as the same uid %d; each instance should get its own dynamic user", nebMember, nebOther, member.uid)
	}
	// Each sidecar's credential (config.yml with the key) is readable by
	// its own user and no other sidecar's.
	for _, p := range [][2]nebSidecar{{member, other}, {other, member}, {member, member}} {
		cred := "/run/credentials/nspawnctl-nebula@" + p[1].machine + ".service/config.yml"
		r := h.Run(ctx, "setpriv", "--reuid", fmt.Sprint(p[0].uid), "--regid", fmt.Sprint(p[0].uid), "--clear-groups", "grep", "-c", "PRIVATE KEY", cred)
		if own := p[0].machine == p[1].machine; own != (r.Code == 0) {
			t.Errorf("the sidecar user %d of %s reading %s: %s (want success only for its own)", p[0].uid, p[0].machine, cred, r)
		}
	}
	if member.overlay == other.overlay {
		t.Fatalf("both machines got the overlay address %s", member.overlay)
	}
	hostLinks, err := h.LinksOfProcess(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(hostLinks, nebula.DefaultDevice) {
		t.Errorf("the test host's own namespace has %s (links %v); a sidecar's tun must exist only in its container", nebula.DefaultDevice, hostLinks)
	}
	phase(t, "sidecars: units, privileges, netns", t0)

	t0 = time.Now()
	for _, p := range [][2]nebSidecar{{member, other}, {other, member}} {
		d, err := h.WaitPing(ctx, p[0].machine, p[1].overlay, 60*time.Second)
		if err != nil {
			t.Fatalf("overlay ping: %v\n%s", err, nebJournals(h, nebMember, nebOther))
		}
		t.Logf("%s -> %s (%s): first ping answered after %s", p[0].machine, p[1].machine, p[1].overlay, d.Round(time.Millisecond))
	}
	nebCheckPeers(t, ctx, h, member, other)
	body, err := h.TCPGet(ctx, nebMember, other.overlay, nebWebPort, 5)
	if err != nil || !strings.Contains(body, "hello from") {
		t.Fatalf("TCP over the overlay from group member %s to %s:%d: %v (body %q)", nebMember, other.overlay, nebWebPort, err, body)
	}
	phase(t, "overlay ping + TCP", t0)

	t0 = time.Now()
	// The non-member's attempt is dropped by the member's nebula: the same
	// server answers the member (above) and answers itself locally, so the
	// silence is the firewall's.
	if body, err := h.TCPGet(ctx, nebOther, "127.0.0.1", nebWebPort, 5); err != nil || !strings.Contains(body, "hello from") {
		t.Fatalf("the web server of %s does not answer locally: %v", nebOther, err)
	}
	if body, err := h.TCPGet(ctx, nebOther, member.overlay, nebWebPort, 4); err == nil {
		t.Errorf("%s (group red) reached %s:%d, which admits only group blue: %q", nebOther, member.overlay, nebWebPort, body)
	} else {
		t.Logf("non-member %s kept out of %s:%d: %v", nebOther, member.overlay, nebWebPort, nebFirstLine(err.Error()))
	}
	// The lighthouse (group infra) reaches the same container by ICMP,
	// which everyone may, and not on port 80.
	if _, _, err := h.Exec(ctx, "busybox", "ping", "-c", "1", "-W", "3", member.overlay); err != nil {
		t.Errorf("the lighthouse cannot ping %s over the overlay: %v", member.overlay, err)
	}
	if body, err := h.HostTCPGet(ctx, member.overlay, nebWebPort, 4); err == nil {
		t.Errorf("the lighthouse (group infra) reached %s:%d, which admits only group blue: %q", member.overlay, nebWebPort, body)
	}
	if body, err := h.HostTCPGet(ctx, other.overlay, nebWebPort, 4); err == nil {
		t.Errorf("the lighthouse (group infra) reached %s:%d, which admits only group blue: %q", other.overlay, nebWebPort, body)
	}
	phase(t, "firewall: member in, others out", t0)

	t0 = time.Now()
	nebCheckKeys(t, ctx, h, member)
	nebCheckKeys(t, ctx, h, other)
	phase(t, "keys out of reach", t0)

	t0 = time.Now()
	nebCreateThenPlan(t, ctx, h, member)
	phase(t, "create, then plan and apply the same config", t0)

	t0 = time.Now()
	// The sidecar alone: its device leaves the running container with it.
	mustRun(t, ctx, h, "systemctl", "stop", "nspawnctl-nebula@"+nebOther+".service")
	nebWaitLink(t, ctx, h, other.leader, nebula.DefaultDevice, false)
	mustRun(t, ctx, h, "systemctl", "start", "nspawnctl-nebula@"+nebOther+".service")
	nebWaitLink(t, ctx, h, other.leader, nebula.DefaultDevice, true)
	phase(t, "sidecar stop/start alone", t0)

	t0 = time.Now()
	mustNspawnctl(t, ctx, h, "stop", nebOther)
	for _, u := range nebUnits(nebOther) {
		if s, err := h.WaitUnitState(ctx, u, 20*time.Second, "inactive"); err != nil {
			t.Errorf("after nspawnctl stop %s: %v (state %s)", nebOther, err, s)
		}
	}
	old, _ := h.UnitMainPID(ctx, "nspawnctl-nebula@"+nebOther+".service")
	if r := h.Run(ctx, "test", "-e", fmt.Sprintf("/proc/%d", other.pid)); r.Code == 0 {
		t.Errorf("the sidecar process %d of stopped %s is still running (MainPID now %d)", other.pid, nebOther, old)
	}
	if r := h.Run(ctx, "test", "-e", nebula.NetnsPath(nebOther)); r.Code == 0 {
		t.Errorf("%s still exists after %s stopped; cleanup should remove the namespace bind mount", nebula.NetnsPath(nebOther), nebOther)
	}
	if r := h.Run(ctx, "nsenter", "-t", fmt.Sprint(other.leader), "-n", "true"); r.Code == 0 {
		t.Errorf("the leader %d of stopped %s still exists, with its network namespace", other.leader, nebOther)
	}
	if s, _ := h.WaitUnitState(ctx, "nspawnctl-nebula@"+nebMember+".service", time.Second, "active"); s != "active" {
		t.Errorf("stopping %s took the sidecar of %s with it (state %s)", nebOther, nebMember, s)
	}
	nebWaitLink(t, ctx, h, member.leader, nebula.DefaultDevice, true)
	phase(t, "nspawnctl stop", t0)

	t0 = time.Now()
	mustNspawnctl(t, ctx, h, "start", nebOther)
	restarted := nebCheckSidecar(t, ctx, h, nebOther, []string{"red"})
	if restarted.overlay != other.overlay {
		t.Errorf("%s came back with overlay address %s, not its own %s", nebOther, restarted.overlay, other.overlay)
	}
	// The restarted side knows no tunnel yet and handshakes through the
	// lighthouse; the other side's stale tunnel is replaced by that.
	for _, p := range [][2]nebSidecar{{restarted, member}, {member, restarted}} {
		d, err := h.WaitPing(ctx, p[0].machine, p[1].overlay, 60*time.Second)
		if err != nil {
			t.Fatalf("overlay ping after restart: %v\n%s", err, nebJournals(h, nebMember, nebOther))
		}
		t.Logf("after restart: %s -> %s answered after %s", p[0].machine, p[1].overlay, d.Round(time.Millisecond))
	}
	phase(t, "nspawnctl start", t0)

	t0 = time.Now()
	// A machine whose first probe is the removed machine's address: while
	// that is allocated it would get another one, once released it gets it.
	next := nebNameFor(t, other.overlay, member.overlay)
	mustNspawnctl(t, ctx, h, "remove", nebOther)
	for _, p := range []string{nebula.Dir(nebOther), nebula.NetnsPath(nebOther), "/var/lib/nspawnctl/machines/" + nebOther + ".json"} {
		if r := h.Run(ctx, "test", "-e", p); r.Code == 0 {
			t.Errorf("%s exists after nspawnctl remove %s", p, nebOther)
		}
	}
	if r := h.Run(ctx, "grep", "-rlF", other.overlay+"/", "/var/lib/nspawnctl/machines"); r.Code == 0 {
		t.Errorf("the state still records %s of removed %s: %s", other.overlay, nebOther, r.Stdout)
	}
	for _, u := range []string{nebula.SidecarUnit, nebula.NetnsUnit} {
		if r := h.Run(ctx, "test", "-e", "/etc/systemd/system/"+u); r.Code != 0 {
			t.Errorf("removing %s removed the template unit %s, which %s still uses", nebOther, u, nebMember)
		}
	}
	root := "/var/lib/machines/" + next
	mustRun(t, ctx, h, "mkdir", "-p", root)
	cfg := "/root/" + next + ".hcl"
	if err := h.WriteFile(ctx, cfg, nebulaMachineHCL(next, fmt.Sprintf("directory = %q", root), "red"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustNspawnctl(t, ctx, h, "create", "--config", cfg)
	st := nebGetStatus(t, ctx, h, next)
	if a, _, _ := strings.Cut(st.Address, "/"); a != other.overlay {
		t.Errorf("new machine %s got overlay address %s, not %s released by the removal of %s", next, st.Address, other.overlay, nebOther)
	} else {
		t.Logf("new machine %s got the released overlay address %s", next, st.Address)
	}
	phase(t, "remove releases the address", t0)
}

// nebUnits are a machine's two sidecar units.
func nebUnits(name string) []string {
	return []string{"nspawnctl-nebula-netns@" + name + ".service", "nspawnctl-nebula@" + name + ".service"}
}

// nebCheckSidecar waits for machine's sidecar units and checks what the
// sidecar runs as and where: a dynamic user with only CAP_NET_ADMIN, in the
// container's network namespace, whose tun device carries the overlay
// address from the certificate.
func nebCheckSidecar(t *testing.T, ctx context.Context, h *testhost.Host, name string, groups []string) nebSidecar {
	t.Helper()
	sidecarUnit := "nspawnctl-nebula@" + name + ".service"
	for _, u := range nebUnits(name) {
		if s, err := h.WaitUnitState(ctx, u, 60*time.Second, "active"); err != nil {
			t.Fatalf("%v (state %s)\n%s", err, s, nebJournals(h, name))
		}
	}
	sc := nebSidecar{machine: name}
	var err error
	if sc.leader, err = h.MachineLeader(ctx, name); err != nil {
		t.Fatal(err)
	}
	if sc.pid, err = h.UnitMainPID(ctx, sidecarUnit); err != nil || sc.pid == 0 {
		t.Fatalf("%s has no main process: %v", sidecarUnit, err)
	}
	ps, err := h.ProcStatus(ctx, sc.pid)
	if err != nil {
		t.Fatal(err)
	}
	sc.uid = ps.UID[0]
	user := strings.TrimSpace(mustRun(t, ctx, h, "systemctl", "show", sidecarUnit, "--property=User", "--value"))
	if want := nebula.DynamicUserName(name); user != want {
		t.Errorf("%s runs as user %q, want its own %q", sidecarUnit, user, want)
	}
	t.Logf("%s: nebula pid %d (%s) uid %v gid %v user %q CapInh=%#x CapPrm=%#x CapEff=%#x CapBnd=%#x CapAmb=%#x NoNewPrivs=%d",
		sidecarUnit, sc.pid, ps.Name, ps.UID, ps.GID, user, ps.CapInh, ps.CapPrm, ps.CapEff, ps.CapBnd, ps.CapAmb, ps.NoNewPrivs)
	const netAdmin = 1 << 12 // CAP_NET_ADMIN
	for what, v := range map[string]uint64{"CapEff": ps.CapEff, "CapPrm": ps.CapPrm, "CapBnd": ps.CapBnd, "CapAmb": ps.CapAmb} {
		if v != netAdmin {
			t.Errorf("%s: %s = %#x, want only CAP_NET_ADMIN (0x1000)", sidecarUnit, what, v)
		}
	}
	// systemd's dynamic users are 61184-65519 (DYNAMIC_UID_MIN/MAX).
	for i, id := range append(ps.UID[:], ps.GID[:]...) {
		if id < 61184 || id > 65519 {
			t.Errorf("%s: id %d (field %d of Uid/Gid) is not a dynamic user's", sidecarUnit, id, i)
		}
	}
	if ps.NoNewPrivs != 1 {
		t.Errorf("%s: NoNewPrivs = %d, want 1", sidecarUnit, ps.NoNewPrivs)
	}
	nsSidecar, err := h.NetnsOf(ctx, sc.pid)
	if err != nil {
		t.Fatal(err)
	}
	nsLeader, err := h.NetnsOf(ctx, sc.leader)
	if err != nil {
		t.Fatal(err)
	}
	nsHost, err := h.NetnsOf(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if nsSidecar != nsLeader || nsSidecar == nsHost {
		t.Errorf("%s: nebula is in %s, the container's leader in %s, the test host in %s; want the container's", sidecarUnit, nsSidecar, nsLeader, nsHost)
	}
	st := nebGetStatus(t, ctx, h, name)
	addr, err := netip.ParsePrefix(st.Address)
	if err != nil {
		t.Fatalf("nebula status %s: address %q: %v", name, st.Address, err)
	}
	sc.overlay = addr.Addr().String()
	if !netip.MustParsePrefix(nebOverlayPool).Contains(addr.Addr()) || addr.Bits() != 24 {
		t.Errorf("%s got overlay address %s, not one of the pool %s", name, st.Address, nebOverlayPool)
	}
	if !slices.Equal(st.Groups, groups) || st.Sidecar != "active" || st.Device != nebula.DefaultDevice {
		t.Errorf("nebula status %s: %+v; want groups %v, sidecar active, device %s", name, st, groups, nebula.DefaultDevice)
	}
	nebWaitLink(t, ctx, h, sc.leader, nebula.DefaultDevice, true, name)
	out := mustRun(t, ctx, h, "nsenter", "-t", fmt.Sprint(sc.leader), "-n", "ip", "-4", "-o", "addr", "show", "dev", nebula.DefaultDevice)
	if !strings.Contains(out, " "+st.Address+" ") {
		t.Errorf("%s in %s does not carry %s: %s", nebula.DefaultDevice, name, st.Address, out)
	}
	// The container itself sees the device too (nspawnctl shell).
	if r := h.InMachine(ctx, 10*time.Second, name, "ip", "-o", "link", "show", "dev", nebula.DefaultDevice); r.Code != 0 {
		t.Errorf("%s inside %s: %s", nebula.DefaultDevice, name, r)
	}
	t.Logf("%s: overlay %s, groups %v, leader %d", name, st.Address, st.Groups, sc.leader)
	return sc
}

// nebCheckKeys checks that a machine's key stays on the host: the files are
// root's and private, the sidecar's own user cannot read them, the
// container cannot read the key or the sidecar's credential, and no key
// material is in the container's root or its /run.
func nebCheckKeys(t *testing.T, ctx context.Context, h *testhost.Host, sc nebSidecar) {
	t.Helper()
	dir := nebula.Dir(sc.machine)
	modes := mustRun(t, ctx, h, "stat", "-c", "%n %a %U", dir, nebula.ConfigPath(sc.machine), nebula.KeyPath(sc.machine), nebula.CertPath(sc.machine), nebula.CAPath(sc.machine))
	for i, l := range strings.Split(strings.TrimSpace(modes), "\n") {
		want := " 600 root"
		if i == 0 {
			want = " 700 root"
		}
		if !strings.HasSuffix(l, want) {
			t.Errorf("%s: want mode and owner%s", l, want)
		}
	}
	if r := h.Run(ctx, "setpriv", "--reuid", fmt.Sprint(sc.uid), "--regid", fmt.Sprint(sc.uid), "--clear-groups", "cat", nebula.KeyPath(sc.machine)); r.Code == 0 {
		t.Errorf("the sidecar's user %d can read %s", sc.uid, nebula.KeyPath(sc.machine))
	}
	key := mustRun(t, ctx, h, "cat", nebula.KeyPath(sc.machine))
	var keyLine string
	for _, l := range strings.Split(key, "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			keyLine = l
		}
	}
	if keyLine == "" {
		t.Fatalf("%s holds no PEM body", nebula.KeyPath(sc.machine))
	}
	for _, p := range []string{
		nebula.KeyPath(sc.machine),
		nebula.ConfigPath(sc.machine),
		"/run/credentials/nspawnctl-nebula@" + sc.machine + ".service/config.yml",
	} {
		r := h.InMachine(ctx, 10*time.Second, sc.machine, "cat", p)
		if r.Code == 0 || strings.Contains(r.Stdout, "PRIVATE KEY") {
			t.Errorf("inside %s, cat %s succeeded: %s", sc.machine, p, r)
		}
	}
	// On disk (the root as the host sees it) and in the running
	// container's own /run and /tmp (tmpfs, not in the root directory).
	root := "/var/lib/machines/" + sc.machine
	if r := h.Run(ctx, "grep", "-rlsF", "-e", keyLine, "-e", "NEBULA X25519 PRIVATE KEY", root); r.Code != 1 {
		t.Errorf("key material in the root %s (grep exit %d): %s", root, r.Code, r.Stdout)
	}
	if r := h.InMachine(ctx, 30*time.Second, sc.machine, "grep", "-rlsF", "-e", keyLine, "-e", "NEBULA X25519 PRIVATE KEY", "/run", "/tmp", "/etc", "/var", "/root"); r.Code != 1 {
		t.Errorf("key material inside running %s (grep exit %d): %s", sc.machine, r.Code, r.Stdout)
	}
}

// nebWaitLink waits until device exists (or is gone) in the network
// namespace of process pid.
func nebWaitLink(t *testing.T, ctx context.Context, h *testhost.Host, pid int, device string, present bool, machines ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		links, err := h.LinksOfProcess(ctx, pid)
		if err == nil && slices.Contains(links, device) == present {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s present=%t in the namespace of process %d: not after 20s (links %v, %v)\n%s", device, present, pid, links, err, nebJournals(h, machines...))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// nebNameFor finds a machine name whose overlay allocation probes addr
// first: with the pool's other users (the lighthouse and keep) taken, it is
// allocated addr exactly when addr is free.
func nebNameFor(t *testing.T, addr string, keep string) string {
	t.Helper()
	pool := netip.MustParsePrefix(nebOverlayPool)
	want := netip.MustParseAddr(addr)
	taken := []netip.Addr{netip.MustParseAddr(nebLighthouse), netip.MustParseAddr(keep)}
	for i := 0; i < 100000; i++ {
		name := fmt.Sprintf("neb-n%d", i)
		p, err := nebula.Allocate(pool, name, taken)
		if err != nil {
			t.Fatal(err)
		}
		if p.Addr() != want {
			continue
		}
		if p2, _ := nebula.Allocate(pool, name, append(taken, want)); p2.Addr() == want {
			continue // cannot happen; keeps the proof honest
		}
		return name
	}
	t.Fatalf("no machine name probes %s first", addr)
	return ""
}

func nebGetStatus(t *testing.T, ctx context.Context, h *testhost.Host, name string) nebStatus {
	t.Helper()
	r := mustNspawnctl(t, ctx, h, "nebula", "status", name, "--json")
	var st nebStatus
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatalf("nebula status %s --json: %v: %s", name, err, r.Stdout)
	}
	return st
}

// nebJournals returns the sidecar and lighthouse journals for a failure.
func nebJournals(h *testhost.Host, machines ...string) string {
	var b strings.Builder
	for _, m := range machines {
		for _, u := range nebUnits(m) {
			fmt.Fprintf(&b, "### journal of %s\n%s", u, h.Journal(u))
		}
	}
	fmt.Fprintf(&b, "### journal of %s\n%s", testhost.LighthouseUnit, h.Journal(testhost.LighthouseUnit))
	return b.String()
}

func nebFirstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// TestParseProcStatus covers the /proc/PID/status reader the sidecar checks
// rely on (no test host needed).
func TestParseProcStatus(t *testing.T) {
	in := "Name:\tnebula\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t61200\t61200\t61200\t61200\nGid:\t61200\t61200\t61200\t61200\n" +
		"CapInh:\t0000000000001000\nCapPrm:\t0000000000001000\nCapEff:\t0000000000001000\nCapBnd:\t0000000000001000\nCapAmb:\t0000000000001000\nNoNewPrivs:\t1\n"
	st, err := testhost.ParseProcStatus(in)
	if err != nil {
		t.Fatal(err)
	}
	want := testhost.ProcStatus{Name: "nebula", UID: [4]int{61200, 61200, 61200, 61200}, GID: [4]int{61200, 61200, 61200, 61200},
		CapInh: 0x1000, CapPrm: 0x1000, CapEff: 0x1000, CapBnd: 0x1000, CapAmb: 0x1000, NoNewPrivs: 1}
	if st != want {
		t.Errorf("got %+v, want %+v", st, want)
	}
	if _, err := testhost.ParseProcStatus("Name:\tx\n"); err == nil {
		t.Error("a status without Uid and capabilities parsed")
	}
}

// nebCreateThenPlan plans the configuration a running machine was created
// from, as a declaration taking it over (--force, since create made it):
// the plan must change no file (the sidecar's key, certificate, config and
// units included) and no NAT rule, and the apply that carries it out must
// leave the container and its sidecar running, not restart them. A second
// plan then shows the machine unchanged.
func nebCreateThenPlan(t *testing.T, ctx context.Context, h *testhost.Host, sc nebSidecar) {
	t.Helper()
	cfg := "/root/" + sc.machine + ".hcl"
	plans := nebPlan(t, ctx, h, "--force", cfg)
	if len(plans) != 1 || len(plans[0].Files) > 0 || len(plans[0].NAT) > 0 || plans[0].Effect != engine.EffectNone {
		t.Fatalf("plan --force of the config %s was created from should change nothing: %+v", sc.machine, plans)
	}
	mustNspawnctl(t, ctx, h, "apply", "--force", cfg)
	if leader := leaderOf(t, ctx, h, sc.machine); leader != sc.leader {
		t.Errorf("apply of an unchanged %s restarted it: leader %d, was %d", sc.machine, leader, sc.leader)
	}
	if pid, err := h.UnitMainPID(ctx, "nspawnctl-nebula@"+sc.machine+".service"); err != nil || pid != sc.pid {
		t.Errorf("apply of an unchanged %s restarted its sidecar: MainPID %d (%v), was %d", sc.machine, pid, err, sc.pid)
	}
	if plans = nebPlan(t, ctx, h, cfg); len(plans) != 1 || plans[0].Action != engine.ActionUnchanged {
		t.Errorf("plan after the takeover of %s: %+v, want it unchanged", sc.machine, plans)
	}
	t.Logf("create, plan --force, apply --force, plan: %s unchanged, leader %d and sidecar %d kept", sc.machine, sc.leader, sc.pid)
}

// nebPlan runs nspawnctl plan --json with args.
func nebPlan(t *testing.T, ctx context.Context, h *testhost.Host, args ...string) []engine.MachinePlan {
	t.Helper()
	r := mustNspawnctl(t, ctx, h, append([]string{"plan", "--json"}, args...)...)
	var plans []engine.MachinePlan
	if err := json.Unmarshal([]byte(r.Stdout), &plans); err != nil {
		t.Fatalf("plan --json %v: %v\n%s", args, err, r.Stdout)
	}
	return plans
}
