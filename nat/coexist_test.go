package nat

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/internal/golden"
	"github.com/vishvananda/netns"
)

// systemdReference is systemd.md 1.9's verified layout, plus elements as
// nspawn's Port= and networkd's IPMasquerade= would add them.
const systemdReference = `table ip io.systemd.nat {
	set masq_saddr { type ipv4_addr; flags interval; }
	map map_port_ipport { type inet_proto . inet_service : ipv4_addr . inet_service; }
	chain prerouting { type nat hook prerouting priority dstnat + 1; policy accept;
		fib daddr type local dnat ip to meta l4proto . th dport map @map_port_ipport; }
	chain output { type nat hook output priority -99; policy accept;
		ip daddr != 127.0.0.0/8 oif "lo" dnat ip to meta l4proto . th dport map @map_port_ipport; }
	chain postrouting { type nat hook postrouting priority srcnat + 1; policy accept;
		ip saddr @masq_saddr masquerade; }
}
table ip6 io.systemd.nat {
	set masq_saddr { type ipv6_addr; flags interval; }
	map map_port_ipport { type inet_proto . inet_service : ipv6_addr . inet_service; }
	chain prerouting { type nat hook prerouting priority dstnat + 1; policy accept;
		fib daddr type local dnat ip6 to meta l4proto . th dport map @map_port_ipport; }
	chain output { type nat hook output priority -99; policy accept;
		ip6 daddr != ::1 oif "lo" dnat ip6 to meta l4proto . th dport map @map_port_ipport; }
	chain postrouting { type nat hook postrouting priority srcnat + 1; policy accept;
		ip6 saddr @masq_saddr masquerade; }
}
`

const systemdElements = `add element ip io.systemd.nat map_port_ipport { tcp . 2222 : 10.1.1.1 . 22, udp . 8081 : 10.1.1.7 . 81 }
add element ip io.systemd.nat masq_saddr { 10.1.1.0/24, 192.168.5.0/28 }
add element ip6 io.systemd.nat map_port_ipport { tcp . 2222 : fd00:1::1 . 22 }
add element ip6 io.systemd.nat masq_saddr { fd00:1::/64 }
`

// systemdSnapshot lists systemd's own objects, each separately.
func systemdSnapshot(t *testing.T, ns netns.NsHandle) string {
	var b strings.Builder
	for _, fam := range []string{"ip", "ip6"} {
		for _, obj := range [][]string{{"set", "masq_saddr"}, {"map", "map_port_ipport"}, {"chain", "prerouting"}, {"chain", "output"}, {"chain", "postrouting"}} {
			b.WriteString(nftIn(t, ns, "", "list", obj[0], fam, TableName, obj[1]))
		}
	}
	return b.String()
}

// TestSystemdLayout: the table nspawnctl creates from scratch is exactly
// systemd's (compared with the verified reference text loaded by nft).
func TestSystemdLayout(t *testing.T) {
	requireKernel(t)
	ref := newNS(t)
	nftIn(t, ref, systemdReference, "-f", "-")
	want := nftIn(t, ref, "", "list", "ruleset")
	if got := SystemdText(IPv4) + SystemdText(IPv6); got != want {
		t.Errorf("SystemdText differs from nft's listing of systemd's layout:\n%s", golden.Diff(want, got))
	}
	ns := newNS(t)
	a := newApplier(t, ns)
	if err := a.Apply(planCases[len(planCases)-1].machines); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := nftIn(t, ns, "", "list", "ruleset"); got != want {
		t.Errorf("tables created by nspawnctl differ from systemd's layout:\n%s", golden.Diff(want, got))
	}
}

// systemdBed is a namespace holding systemd's populated tables, their
// listing, and an Applier in it.
func systemdBed(t *testing.T) (netns.NsHandle, string, *Applier) {
	t.Helper()
	requireKernel(t)
	ns := newNS(t)
	nftIn(t, ns, systemdReference+systemdElements, "-f", "-")
	return ns, systemdSnapshot(t, ns), newApplier(t, ns)
}

// TestCoexistence: with systemd's tables present and populated, nspawnctl's
// apply, re-apply, incremental apply, removal, flush and restore leave
// systemd's objects byte-identical, and a port systemd maps is refused.
func TestCoexistence(t *testing.T) {
	ns, before, a := systemdBed(t)
	machines := planCases[len(planCases)-1].machines
	check := func(step string) {
		t.Helper()
		if after := systemdSnapshot(t, ns); after != before {
			t.Fatalf("%s changed systemd's objects:\n%s", step, golden.Diff(before, after))
		}
	}
	if err := a.Apply(machines); err != nil {
		t.Fatal(err)
	}
	check("apply")
	installed, err := a.Installed()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Plan(machines)
	if installed.OwnText() != want.OwnText() {
		t.Errorf("installed objects differ from the plan:\n%s", golden.Diff(want.OwnText(), installed.OwnText()))
	}
	if err := a.Apply(machines); err != nil {
		t.Fatal(err)
	}
	check("re-apply")
	web := machines[0]
	web.Forwards = web.Forwards[:1]
	if err := a.ApplyMachine(web); err != nil {
		t.Fatal(err)
	}
	check("apply one machine")
	if err := a.RemoveMachine("db"); err != nil {
		t.Fatal(err)
	}
	check("remove one machine")
	restoreFrom(t, a, machines...)
	check("restore")
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	check("flush")
	if got := nftIn(t, ns, "", "list", "ruleset"); strings.Contains(got, "nspawnctl") {
		t.Errorf("flush left nspawnctl objects:\n%s", got)
	}
	conflict := Machine{Name: "ssh", Link: "ve-ssh", Forwards: []Forward{{Protocol: "tcp", HostPorts: port(2222), Target: a4("10.0.0.9"), TargetPorts: port(22)}}}
	err = a.Apply([]Machine{conflict})
	if err == nil || !strings.Contains(err.Error(), `machine "ssh": tcp port 2222 (ip) is already mapped by systemd`) {
		t.Fatalf("forward on a port systemd maps: err = %v", err)
	}
	check("refused apply")
}

// TestApplyMachineTouchesOnlyItsElements watches the netlink events of an
// incremental apply with "nft monitor": every change must be an element of
// that machine, with ApplyMachine and with ReplaceMachine.
func TestApplyMachineTouchesOnlyItsElements(t *testing.T) {
	t.Run("ApplyMachine", func(t *testing.T) {
		touchesOnlyItsElements(t, func(a *Applier, _, m Machine) error { return a.ApplyMachine(m) })
	})
	t.Run("ReplaceMachine", func(t *testing.T) {
		touchesOnlyItsElements(t, func(a *Applier, old, m Machine) error { return a.ReplaceMachine(&old, m) })
	})
}

func touchesOnlyItsElements(t *testing.T, change func(a *Applier, old, m Machine) error) {
	requireKernel(t)
	ns := newNS(t)
	a := newApplier(t, ns)
	machines := planCases[len(planCases)-1].machines
	if err := a.Apply(machines); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mon := exec.CommandContext(ctx, "nsenter", "--net="+nsPath(ns), "nft", "monitor", "ruleset")
	out, err := mon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	time.Sleep(300 * time.Millisecond) // let nft subscribe before the change
	web := machines[0]
	web.Forwards = append([]Forward{{Protocol: "udp", HostPorts: PortRange{6000, 6001}, Target: a4("10.0.0.2"), TargetPorts: PortRange{60, 61}}}, web.Forwards[1:]...)
	if err := change(a, machines[0], web); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	_ = mon.Process.Kill()
	_ = mon.Wait()
	var events []string
	for l := range lines {
		if strings.HasPrefix(l, "#") || strings.TrimSpace(l) == "" {
			continue
		}
		events = append(events, l)
	}
	if len(events) == 0 {
		t.Fatal("nft monitor saw no change")
	}
	for _, e := range events {
		if !strings.Contains(e, "element") || !strings.Contains(e, `comment "web"`) || strings.Contains(e, `comment "db"`) || strings.Contains(e, `comment "cache"`) {
			t.Errorf("incremental apply of web changed more than web's elements: %s", e)
		}
	}
	t.Logf("events: %q", events)
	got, err := a.Installed()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := Plan(append([]Machine{web}, machines[1:]...))
	if got.Text() != want.Text() {
		t.Errorf("after the change:\n%s", golden.Diff(want.Text(), got.Text()))
	}
}
