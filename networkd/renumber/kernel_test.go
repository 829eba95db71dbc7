package renumber

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// The real counterpart of the advertisements is a host's SLAAC: these tests
// send them from one throwaway network namespace into another over a veth
// and read what the receiving kernel did with its address.

func ipCmd(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// pair makes namespaces router and host joined by a veth (rt0 / h0) and
// returns their names; both are deleted at cleanup.
func pair(t *testing.T) (router, host string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("requires root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("requires ip (Debian package iproute2)")
	}
	router, host = fmt.Sprintf("nsrenum-%d-r", os.Getpid()), fmt.Sprintf("nsrenum-%d-h", os.Getpid())
	for _, n := range []string{router, host} {
		ipCmd(t, "netns", "add", n)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n).Run() })
	}
	ipCmd(t, "-n", router, "link", "add", "rt0", "type", "veth", "peer", "name", "h0", "netns", host)
	// The receiving side configures addresses from advertisements (a
	// host, not a router) and skips duplicate address detection so that
	// the test needs no waiting.
	for _, s := range []string{"accept_ra=1", "autoconf=1", "accept_dad=0", "forwarding=0"} {
		setConf(t, host, "h0", s)
	}
	setConf(t, router, "rt0", "accept_dad=0")
	ipCmd(t, "-n", router, "link", "set", "rt0", "up")
	ipCmd(t, "-n", host, "link", "set", "h0", "up")
	return router, host
}

// setConf sets net.ipv6.conf.LINK.KEY=VALUE in namespace ns (through /proc,
// which shows the writer's namespace: no dependency on procps' sysctl).
func setConf(t *testing.T, ns, link, kv string) {
	t.Helper()
	k, v, _ := strings.Cut(kv, "=")
	ipCmd(t, "netns", "exec", ns, "sh", "-c", fmt.Sprintf("echo %s > /proc/sys/net/ipv6/conf/%s/%s", v, link, k))
}

// inNS runs f on a thread in namespace name.
func inNS(t *testing.T, name string, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: Go discards the thread
		ns, err := netns.GetFromName(name)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// sendUntil sends advertisements built by ra on rt0 until the host's
// h0 addresses satisfy ok, within 20 s.
func sendUntil(t *testing.T, router, host string, ra func() []byte, what string, ok func(addrs string) bool) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// The first sends may find rt0's link-local address not yet there.
		var sendErr error
		inNS(t, router, func() error { sendErr = LinkSender{Link: "rt0"}.sendRaw(ra()); return nil })
		out := ipCmd(t, "-n", host, "-6", "addr", "show", "dev", "h0", "scope", "global")
		if sendErr == nil && ok(out) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: last send: %v; the host's addresses after 20 s:\n%s", what, sendErr, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func TestDeprecationReachesKernelSLAAC(t *testing.T) {
	router, host := pair(t)
	p := netip.MustParsePrefix("2001:db8:77:2::/64")
	d := Deprecation{Prefix: p, Valid: 90 * time.Second, RouterLifetime: DefaultRouterLifetime}
	// First the prefix as networkd announces it: preferred and valid.
	announce := func() []byte {
		b := Advertisement(d)
		binary.BigEndian.PutUint32(b[16+4:], 600)
		binary.BigEndian.PutUint32(b[16+8:], 300)
		return b
	}
	out := sendUntil(t, router, host, announce, "SLAAC from the announcement", func(s string) bool {
		return strings.Contains(s, "2001:db8:77:2:") && !strings.Contains(s, "deprecated")
	})
	t.Logf("after the announcement:\n%s", out)
	out = sendUntil(t, router, host, func() []byte { return Advertisement(d) }, "deprecation", func(s string) bool {
		return strings.Contains(s, "2001:db8:77:2:") && strings.Contains(s, "deprecated") && strings.Contains(s, "preferred_lft 0sec")
	})
	t.Logf("after the deprecation:\n%s", out)
	// RFC 4862 5.5.3 (e): the remaining 600 s are more than the 90 s
	// announced but less than two hours, so the kernel keeps them; what
	// matters is that the address is no longer chosen as a source.
	if !strings.Contains(out, "valid_lft") {
		t.Errorf("no valid lifetime in:\n%s", out)
	}
}

func TestSenderRefusesLinkWithoutLinkLocal(t *testing.T) {
	router, _ := pair(t)
	ipCmd(t, "-n", router, "link", "set", "rt0", "down")
	ipCmd(t, "-n", router, "link", "set", "rt0", "name", "rt0x")
	var err error
	inNS(t, router, func() error {
		err = LinkSender{Link: "rt0x"}.Send(Deprecation{Prefix: netip.MustParsePrefix("2001:db8::/64"), Valid: time.Minute})
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "link-local") {
		t.Fatalf("Send on a link without link-local address: %v, want an error naming the missing link-local address", err)
	}
}
