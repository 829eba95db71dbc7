package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/e2e/testhost"
	"github.com/nspawnctl/nspawnctl/machine/nebula"
)

// TestNebulaCerts proves certificates that follow the installed nebula, their
// renewal in place, and the blocklist of removed machines, on one test host
// with no lighthouse of the harness: container neb-lh is the lighthouse (its
// UDP port forwarded by nspawnctl), neb-a a member. With nebula 1.10 or later
// (sid) both carry version 2 certificates with IPv6 overlay addresses from a
// v1+v2 CA bundle and ping each other over IPv6; with an older nebula a
// version 2 request is refused naming the installed version, and the rest
// runs on version 1. Then neb-a's short-lived certificate is renewed while a
// ping runs, neb-a is removed, and a container started with neb-a's copied
// certificate and key (what an attacker who took them would do) cannot
// handshake with the lighthouse.
func TestNebulaCerts(t *testing.T) {
	h, ctx := nspawnctlHost(t)
	out := mustRun(t, ctx, h, "nebula", "-version")
	v, err := nebula.ParseVersion(out)
	if err != nil {
		t.Fatal(err)
	}
	v2 := !v.Less(nebula.Version{Major: 1, Minor: 10})
	t.Logf("test host nebula %s, version 2 certificates: %v", v, v2)
	mustRun(t, ctx, h, "chmod", "0666", "/dev/net/tun") // as udev does; TestNebulaOverlay covers 0600

	caVersion := "1"
	if v2 {
		caVersion = "1,2"
	}
	mustNspawnctl(t, ctx, h, "nebula", "ca", "init", "--name", "e2e-certs", "--out", testhost.NebulaCADir, "--version", caVersion)

	certLine := ""
	if v2 {
		certLine = "cert_version = 2"
	}
	machine := func(name, addr, addr6, extra string) string {
		a6 := ""
		if v2 {
			a6 = fmt.Sprintf("address6 = %q", addr6)
		}
		return fmt.Sprintf(`machine %q {
  root {
    tarball = %q
  }
  nebula {
    network = "e2e"
    ca      = "%[3]s/ca.crt"
    %[4]s
    address = %[5]q
    %[6]s
    %[7]s
    %[8]s
    inbound {
      proto = "icmp"
      host  = "any"
    }
  }
}
`, name, testhost.WebTarballPath, testhost.NebulaCADir, "ca_key = \""+testhost.NebulaCADir+"/ca.key\"", addr, a6, certLine, extra)
	}
	lh := fmt.Sprintf("am_lighthouse = true\n    listen_port = %d", nebLHPort)
	member := fmt.Sprintf("lighthouses = [\"10.43.0.1\"]\n    static_host_map = { \"10.43.0.1\" = [\"%s:%d\"] }\n    duration = \"1h\"\n    renew_before = \"10m\"", testhost.HostIPv4, nebLHPort)

	if !v2 {
		// The refusal names the installed nebula and what to do.
		bad := strings.Replace(machine("neb-v2", "10.43.0.9/24", "", member), "address =", "cert_version = 2\n    address =", 1)
		if err := h.WriteFile(ctx, "/root/neb-v2.hcl", bad, 0o644); err != nil {
			t.Fatal(err)
		}
		r := h.Nspawnctl(ctx, "create", "--config", "/root/neb-v2.hcl")
		if r.Code == 0 || !strings.Contains(r.Stderr, "nebula "+v.String()) || !strings.Contains(r.Stderr, "cert_version = 1") {
			t.Fatalf("cert_version = 2 on nebula %s: exit %d\n%s", v, r.Code, r.Stderr)
		}
		t.Logf("cert_version = 2 on nebula %s refused: %s", v, nebFirstLine(r.Stderr))
	}

	t0 := time.Now()
	for _, m := range []struct{ name, hcl string }{
		{"neb-lh", machine("neb-lh", "10.43.0.1/24", "fd43::1/64", lh)},
		{"neb-a", machine("neb-a", "10.43.0.2/24", "fd43::2/64", member)},
	} {
		if err := h.WriteFile(ctx, "/root/"+m.name+".hcl", m.hcl, 0o644); err != nil {
			t.Fatal(err)
		}
		mustNspawnctl(t, ctx, h, "create", "--config", "/root/"+m.name+".hcl", "--start")
	}
	phase(t, "lighthouse + member started", t0)
	targets := []string{"10.43.0.1"}
	if v2 {
		targets = append(targets, "fd43::1")
	}
	for _, addr := range targets {
		d, err := h.WaitPing(ctx, "neb-a", addr, 30*time.Second)
		if err != nil {
			t.Fatalf("%v\n%s", err, nebJournals(h, "neb-lh", "neb-a"))
		}
		t.Logf("neb-a -> %s answers after %s", addr, d.Round(time.Millisecond))
	}
	if v2 {
		if r := h.InMachine(ctx, 15*time.Second, "neb-lh", "busybox", "ping", "-c", "1", "-W", "3", "fd43::2"); r.Code != 0 {
			t.Errorf("neb-lh -> fd43::2 over IPv6: %s %s", r.Stdout, r.Stderr)
		}
		st := mustRun(t, ctx, h, "nebula-cert", "print", "-path", nebula.CertPath("neb-a"))
		if !strings.Contains(st, "fd43::2/64") {
			t.Errorf("neb-a's certificate lacks its IPv6 address:\n%s", st)
		}
	}

	// Renewal while a ping runs.
	crtBefore := mustRun(t, ctx, h, "sha256sum", nebula.CertPath("neb-a"))
	type pingResult struct {
		sent, got int
		out       string
	}
	done := make(chan pingResult, 1)
	go func() {
		r := h.InMachine(ctx, 60*time.Second, "neb-a", "busybox", "ping", "-c", "30", "-W", "1", "10.43.0.1")
		m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) packets received`).FindStringSubmatch(r.Stdout)
		pr := pingResult{out: r.Stdout + r.Stderr}
		if m != nil {
			pr.sent, _ = strconv.Atoi(m[1])
			pr.got, _ = strconv.Atoi(m[2])
		}
		done <- pr
	}()
	time.Sleep(8 * time.Second)
	t0 = time.Now()
	r := mustNspawnctl(t, ctx, h, "nebula", "renew", "neb-a", "--force")
	phase(t, "renew", t0)
	t.Logf("renew: %s", strings.TrimSpace(r.Stdout))
	pr := <-done
	if crtAfter := mustRun(t, ctx, h, "sha256sum", nebula.CertPath("neb-a")); crtAfter == crtBefore {
		t.Errorf("renew left the certificate as it was")
	}
	t.Logf("ping during renewal: %d sent, %d answered", pr.sent, pr.got)
	if pr.sent == 0 || pr.sent-pr.got > 5 {
		t.Errorf("ping during renewal lost too much (%d of %d answered):\n%s", pr.got, pr.sent, pr.out)
	}
	if _, err := h.WaitPing(ctx, "neb-a", "10.43.0.1", 10*time.Second); err != nil {
		t.Errorf("after renewal: %v", err)
	}

	// Remove: the certificate is blocked; a copy of it does not get in.
	mustRun(t, ctx, h, "mkdir", "-p", "/root/stolen")
	mustRun(t, ctx, h, "cp", nebula.CertPath("neb-a"), nebula.KeyPath("neb-a"), "/root/stolen/")
	mustNspawnctl(t, ctx, h, "remove", "neb-a")
	bl := mustRun(t, ctx, h, "cat", "/var/lib/nspawnctl/"+nebula.BlocklistFile)
	if !strings.Contains(bl, `"neb-a"`) {
		t.Errorf("the blocklist state lacks neb-a:\n%s", bl)
	}
	conf := mustRun(t, ctx, h, "cat", nebula.ConfigPath("neb-lh"))
	if !strings.Contains(conf, "blocklist:") {
		t.Errorf("neb-lh's config has no blocklist after remove of neb-a:\n%s", conf)
	}
	thief := strings.Replace(machine("neb-thief", "10.43.0.2/24", "fd43::2/64", strings.Replace(member, "duration = \"1h\"\n    renew_before = \"10m\"", "", 1)),
		"ca_key = \""+testhost.NebulaCADir+"/ca.key\"", "cert = \"/root/stolen/host.crt\"\n    key = \"/root/stolen/host.key\"", 1)
	thief = regexp.MustCompile(`(?m)^\s*(address|address6|cert_version) = .*\n`).ReplaceAllString(thief, "")
	if err := h.WriteFile(ctx, "/root/neb-thief.hcl", thief, 0o644); err != nil {
		t.Fatal(err)
	}
	mustNspawnctl(t, ctx, h, "create", "--config", "/root/neb-thief.hcl", "--start")
	if d, err := h.WaitPing(ctx, "neb-thief", "10.43.0.1", 20*time.Second); err == nil {
		t.Errorf("a container with removed neb-a's copied certificate reached the lighthouse after %s", d)
	}
	// The refusal is the blocklist's, not some other failure: the same
	// certificate and key answered above. nebula 1.6.1 logs "certificate
	// has been blocked", 1.10 and later "certificate is in the block list".
	j := mustRun(t, ctx, h, "journalctl", "--no-pager", "-u", nebula.SidecarInstance("neb-lh"), "--since", "-2min")
	refused := ""
	for _, l := range strings.Split(j, "\n") {
		if strings.Contains(l, "certificate is in the block list") || strings.Contains(l, "certificate has been blocked") {
			if i := strings.Index(l, "error="); i >= 0 {
				l = l[:strings.Index(l, "nebula[")] + l[i:]
			}
			refused = strings.TrimSpace(l)
			break
		}
	}
	if refused == "" {
		t.Errorf("the lighthouse's journal does not show a handshake refused for the blocklist:\n%s", j)
	} else {
		t.Logf("lighthouse: %s", refused)
	}
	mustNspawnctl(t, ctx, h, "remove", "neb-thief")
	mustNspawnctl(t, ctx, h, "remove", "neb-lh")
}
