package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
)

// The prefix delegation scenario (issue 15): a real DHCPv6 server (Kea, in
// the client namespace) delegates a /56 to the test host's uplink;
// networkd hands a /64 of it to a veth machine and to a zone, whose members
// configure global addresses by SLAAC. Then the server renumbers: the
// machines must move to the new prefix at once and stop using the old one
// (RFC 9096 3.3), with nothing nspawnctl installed left pointing at it.

var (
	pdFirst  = netip.MustParsePrefix("2001:db8:f000:100::/56")
	pdSecond = netip.MustParsePrefix("2001:db8:f000:200::/56")
)

// subnet64 is the /64 with subnet id id of a /56.
func subnet64(p netip.Prefix, id byte) netip.Prefix {
	a := p.Addr().As16()
	a[7] |= id
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

// uplinkPD is the drop-in that makes the test host's uplink ask for a
// delegation: what docs/config.md tells users to put in their uplink's
// .network file. WithoutRA=solicit because this upstream router sends no
// router advertisements (many ISPs' do; networkd then starts DHCPv6 itself).
const uplinkPD = `[Network]
DHCP=ipv6

[DHCPv6]
WithoutRA=solicit
PrefixDelegationHint=::/56
`

// hostAddrs lists a machine's global IPv6 addresses on host0 as "ip -o"
// lines, read in its network namespace from the test host.
func hostAddrs(ctx context.Context, h *testhost.Host, leader int) string {
	out, _, _ := h.Exec(ctx, "nsenter", "-t", strconv.Itoa(leader), "-n", "ip", "-6", "-o", "addr", "show", "dev", "host0", "scope", "global")
	return out
}

// addrIn returns the address of lines (ip -o output) in p, and whether it is deprecated.
func addrIn(lines string, p netip.Prefix) (netip.Addr, bool, bool) {
	for _, l := range strings.Split(lines, "\n") {
		f := strings.Fields(l)
		for i, w := range f {
			if w != "inet6" || i+1 >= len(f) {
				continue
			}
			if a, err := netip.ParsePrefix(f[i+1]); err == nil && p.Contains(a.Addr()) {
				return a.Addr(), strings.Contains(l, " deprecated "), true
			}
		}
	}
	return netip.Addr{}, false, false
}

// waitAddrs polls a machine's global addresses until ok accepts them, at
// most timeout; it returns the last listing and the time it took.
func waitAddrs(t *testing.T, ctx context.Context, h *testhost.Host, machine string, leader int, what string, timeout time.Duration, ok func(string) bool) (string, time.Duration) {
	t.Helper()
	var last string
	d, err := testhost.Until(ctx, timeout, 100*time.Millisecond, machine+": "+what, func(ctx context.Context) error {
		last = hostAddrs(ctx, h, leader)
		if ok(last) {
			return nil
		}
		return fmt.Errorf("addresses:\n%s", last)
	})
	if err != nil {
		t.Fatal(err)
	}
	return last, d
}

func TestPrefixDelegation(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	if err := h.WriteFile(ctx, "/etc/systemd/network/10-e2e-uplink.network.d/pd.conf", uplinkPD, 0o644); err != nil {
		t.Fatal(err)
	}
	// No networkd.conf drop-in for IPv6 forwarding here: on systemd 256
	// and later nspawnctl writes its own for these masquerade = "ipv4"
	// links (TestIPv6ForwardingRouted).
	mustRun(t, ctx, h, "networkctl", "reload")
	config := fmt.Sprintf(`zone "pdz" {
  masquerade = "ipv4"
  prefix_delegation {
    uplink    = %[2]q
    subnet_id = "0x3"
  }
}

machine "pd1" {
  %[1]s
  network {
    host {
      masquerade = "ipv4"
      prefix_delegation {
        uplink    = %[2]q
        subnet_id = "0x2"
      }
    }
  }
}

machine "pd2" {
  %[1]s
  network {
    zone = "pdz"
  }
}
`, webRoot, testhost.HostUplink)
	// The machines run before the delegation arrives, so that the time
	// from the lease to their addresses is networkd's alone.
	createMachines(t, ctx, h, "pd", config, "pd1", "pd2")
	leaders := map[string]int{}
	for _, m := range []string{"pd1", "pd2"} {
		if err := h.WaitMachineBooted(ctx, m, 90*time.Second); err != nil {
			t.Fatal(err)
		}
		l, err := h.MachineLeader(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		leaders[m] = l
	}
	subnets := map[string]byte{"pd1": 2, "pd2": 3}

	echoCtx, stopEcho := context.WithCancel(ctx)
	t.Cleanup(stopEcho)
	const echoPort = 8089
	if err := h.ServeClientEcho(echoCtx, echoPort); err != nil {
		t.Fatal(err)
	}

	// Before any delegation doctor says the uplink holds none, and how to ask.
	if _, checks, r := runDoctor(t, ctx, h, "/root/pd.hcl"); checks["prefix-delegation"].Status != "fail" ||
		!strings.Contains(checks["prefix-delegation"].Remedy, "PrefixDelegationHint=") {
		t.Fatalf("doctor before the delegation: %+v\n%s", checks["prefix-delegation"], r)
	}

	d, err := h.StartDHCP6(ctx, pdFirst)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kea log:\n%s\nroute hook log:\n%s\nleases:\n%s", d.Log(), d.HookLog(), d.Leases())
		}
		d.Stop()
	})
	t0 := time.Now()
	// The upstream router's route to the delegation appears when Kea
	// commits the lease (its run_script hook installs it): the lease time.
	waitClientRoute(t, ctx, h, pdFirst)
	tLease := time.Now()
	t.Logf("timing: DHCPv6 server start to delegation (lease committed, client route via %s): %s", h.ClientRoute(ctx, pdFirst), tLease.Sub(t0).Round(time.Millisecond))

	addrs := map[string]netip.Addr{}
	for _, m := range []string{"pd1", "pd2"} {
		p := subnet64(pdFirst, subnets[m])
		lines, _ := waitAddrs(t, ctx, h, m, leaders[m], "a global address in "+p.String(), 90*time.Second, func(s string) bool {
			_, _, ok := addrIn(s, p)
			return ok
		})
		addrs[m], _, _ = addrIn(lines, p)
		t.Logf("timing: lease to %s's address %s: %s", m, addrs[m], time.Since(tLease).Round(time.Millisecond))
	}

	// Traffic both ways: the client reaches each machine at its delegated
	// address, and each machine reaches the client from that address.
	for _, m := range []string{"pd1", "pd2"} {
		url := fmt.Sprintf("http://[%s]/", addrs[m])
		if _, took, err := testhost.WaitGet(ctx, h.ClientGet, url, page(m), 60*time.Second); err != nil {
			t.Fatalf("client to %s: %v", m, err)
		} else {
			t.Logf("client reached %s at %s after %s", m, url, took.Round(time.Millisecond))
		}
		body := waitSource(t, ctx, h, m, echoPort, subnet64(pdFirst, subnets[m]), 60*time.Second)
		t.Logf("%s reached the client: %s", m, strings.TrimSpace(body))
	}

	checkPDStatus(t, ctx, h, "pd1", subnet64(pdFirst, 2), addrs["pd1"])
	checkPDStatus(t, ctx, h, "pd2", subnet64(pdFirst, 3), addrs["pd2"])
	if _, checks, r := runDoctor(t, ctx, h, "/root/pd.hcl"); checks["prefix-delegation"].Status != "ok" ||
		!strings.Contains(checks["prefix-delegation"].Summary, pdFirst.String()) {
		t.Fatalf("doctor with the delegation: %+v\n%s", checks["prefix-delegation"], r)
	}
	t.Logf("networkctl status %s:\n%s", testhost.HostUplink, mustRun(t, ctx, h, "networkctl", "status", "--no-pager", "-n", "0", testhost.HostUplink))

	// Renumbering.
	if err := d.Renumber(pdSecond); err != nil {
		t.Fatal(err)
	}
	tRenumber := time.Now()
	waitClientRoute(t, ctx, h, pdSecond)
	tNewLease := time.Now()
	t.Logf("timing: server renumbered to new delegation (next Renew): %s", tNewLease.Sub(tRenumber).Round(time.Millisecond))
	// Both machines are watched at once, so each one's times are its own.
	type seen struct {
		newAddr    netip.Addr
		newAt      time.Duration // a preferred (not tentative) address in the new /64
		deprecated time.Duration // the old address deprecated (or gone)
		err        error
	}
	results := map[string]chan seen{}
	for _, m := range []string{"pd1", "pd2"} {
		ch := make(chan seen, 1)
		results[m] = ch
		oldP, newP := subnet64(pdFirst, subnets[m]), subnet64(pdSecond, subnets[m])
		go func(m string, leader int) {
			var r seen
			_, r.err = testhost.Until(ctx, 60*time.Second, 50*time.Millisecond, m+": renumbered", func(ctx context.Context) error {
				lines := hostAddrs(ctx, h, leader)
				if a, _, ok := addrIn(lines, newP); ok && r.newAt == 0 && !strings.Contains(lineOf(lines, a), "tentative") {
					r.newAddr, r.newAt = a, time.Since(tNewLease)
				}
				if _, dep, ok := addrIn(lines, oldP); (!ok || dep) && r.deprecated == 0 {
					r.deprecated = time.Since(tNewLease)
				}
				if r.newAt == 0 || r.deprecated == 0 {
					return fmt.Errorf("addresses:\n%s", lines)
				}
				return nil
			})
			ch <- r
		}(m, leaders[m])
	}
	for _, m := range []string{"pd1", "pd2"} {
		r := <-results[m]
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Logf("timing: new delegation to %s's new address %s: %s; to its old address deprecated: %s", m, r.newAddr, r.newAt.Round(time.Millisecond), r.deprecated.Round(time.Millisecond))
		// Without the deprecation the old address would stay preferred for
		// the rest of the old lease's preferred lifetime (up to 60 s here,
		// hours or days from an ISP).
		if r.deprecated > 30*time.Second {
			t.Errorf("%s's old address was deprecated only after %s", m, r.deprecated)
		}
		newP := subnet64(pdSecond, subnets[m])
		body := waitSource(t, ctx, h, m, echoPort, newP, 30*time.Second)
		t.Logf("timing: new delegation to %s's new connections leaving from the new prefix: %s (%s)", m, time.Since(tNewLease).Round(time.Millisecond), strings.TrimSpace(body))
		url := fmt.Sprintf("http://[%s]/", r.newAddr)
		if _, _, err := testhost.WaitGet(ctx, h.ClientGet, url, page(m), 60*time.Second); err != nil {
			t.Fatalf("client to %s after the renumbering: %v", m, err)
		}
		addrs[m] = r.newAddr
	}
	watchers := h.Journal("nspawnctl-pd-deprecate@*")
	for _, p := range []netip.Prefix{subnet64(pdFirst, 2), subnet64(pdFirst, 3)} {
		if !strings.Contains(watchers, "announced "+p.String()+" with preferred lifetime 0") {
			t.Errorf("no deprecation of %s in the watchers' journal", p)
		}
	}
	checkPDStatus(t, ctx, h, "pd1", subnet64(pdSecond, 2), addrs["pd1"])
	checkPDStatus(t, ctx, h, "pd2", subnet64(pdSecond, 3), addrs["pd2"])
	t.Logf("deprecation watchers:\n%s", h.Journal("nspawnctl-pd-deprecate@*"))

	// Nothing nspawnctl installed points at the old prefix: its nft
	// objects, files (on the host and in the roots) and state.
	old := pdFirst.Addr().String()[:len("2001:db8:f000:1")]
	out := mustRun(t, ctx, h, "sh", "-c", `nft list ruleset; cat /etc/systemd/network/20-* /etc/systemd/nspawn/*.nspawn /etc/systemd/system/systemd-nspawn@*.service.d/*.conf /etc/systemd/system/nspawnctl-*; find /var/lib/nspawnctl -type f -exec cat {} +; for m in pd1 pd2; do cat /var/lib/machines/$m/etc/systemd/network/20-*; done`)
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, old) {
			t.Errorf("nspawnctl's configuration still points at the old prefix %s: %s", pdFirst, l)
		}
	}
	// networkd's own leftovers, for the record: it keeps the unreachable
	// route of the old delegation and the old /64 routes on the downstream
	// links until the old lease's valid lifetime ends (the deprecated
	// container addresses still need the latter).
	t.Logf("networkd's routes after the renumbering:\n%s", mustRun(t, ctx, h, "ip", "-6", "route", "show"))
}

// waitClientRoute waits for the client's route to the delegation p via the
// test host's link-local address: Kea's hook adds it when the lease is
// committed, so its appearance is the lease time.
func waitClientRoute(t *testing.T, ctx context.Context, h *testhost.Host, p netip.Prefix) {
	t.Helper()
	if _, err := testhost.Until(ctx, 60*time.Second, 100*time.Millisecond, "the client's route to "+p.String(), func(ctx context.Context) error {
		if r := h.ClientRoute(ctx, p); !strings.Contains(r, "via fe80::") {
			return fmt.Errorf("route %q", r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// checkPDStatus checks that nspawnctl status shows machine's delegated /64
// and its global address in it.
func checkPDStatus(t *testing.T, ctx context.Context, h *testhost.Host, machine string, p netip.Prefix, addr netip.Addr) {
	t.Helper()
	var st struct {
		DelegatedPrefixes []netip.Prefix `json:"delegated_prefixes"`
		GlobalAddresses   []netip.Addr   `json:"global_addresses"`
	}
	r := mustNspawnctl(t, ctx, h, "status", machine, "--json")
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatalf("status %s --json: %v\n%s", machine, err, r.Stdout)
	}
	if !slices.Contains(st.DelegatedPrefixes, p) || !slices.Contains(st.GlobalAddresses, addr) {
		t.Errorf("status %s: delegated %v, global %v; want %s and %s", machine, st.DelegatedPrefixes, st.GlobalAddresses, p, addr)
	}
	text := mustNspawnctl(t, ctx, h, "status", machine).Stdout
	if !strings.Contains(text, "Delegated prefix:") || !strings.Contains(text, p.String()) || !strings.Contains(text, addr.String()) {
		t.Errorf("status %s does not show %s and %s:\n%s", machine, p, addr, text)
	}
}

// lineOf is the line of ip -o output that holds a.
func lineOf(lines string, a netip.Addr) string {
	for _, l := range strings.Split(lines, "\n") {
		if strings.Contains(l, " "+a.String()+"/") {
			return l
		}
	}
	return ""
}

// waitSource fetches the client's echo page from inside machine until the
// connection left from an address in p, and returns the body.
func waitSource(t *testing.T, ctx context.Context, h *testhost.Host, machine string, port int, p netip.Prefix, timeout time.Duration) string {
	t.Helper()
	var body string
	_, err := testhost.Until(ctx, timeout, 200*time.Millisecond, machine+" to the client from "+p.String(), func(ctx context.Context) error {
		b, err := h.TCPGet(ctx, machine, "["+testhost.ClientIPv6+"]", port, 5)
		if err != nil {
			return err
		}
		body = b
		f := strings.Fields(b)
		if len(f) == 2 {
			if a, err := netip.ParseAddr(f[1]); err == nil && p.Contains(a) {
				return nil
			}
		}
		return fmt.Errorf("answer %q", b)
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}
