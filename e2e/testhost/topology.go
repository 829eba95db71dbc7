package testhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A Topology is several test hosts on one routed segment, "the internet":
// each host has an uplink of its own, in its own subnet, with its own
// address, and the router between them forwards without NAT. Containers on
// the hosts are NATed behind their host, as by default.
//
// The router is the first host's client namespace, so it is recorded in that
// host's run state and removed with it (also by the stale sweep after a
// kill); the other hosts' uplinks are veth pairs whose router end lives
// there, and they disappear with their host's namespace. Nothing touches the
// machine's own namespace.
//
//	host 1  uplink0 203.0.113.2/24       router lan0 203.0.113.1/24 (the default link)
//	host k  uplink0 198.51.100.B+2/28    router lanK 198.51.100.B+1/28, B = 128+16(k-2)
//
// The overlay scenarios keep 198.51.100.0/25 for the overlay.
type Topology struct {
	Hosts []*Host
}

// MaxTopologyHosts is how many hosts fit into the router's address plan.
const MaxTopologyHosts = 9

// TopologyUplink returns the uplink of host k (1-based) of a topology whose
// router is routerNetns (the first host's client namespace; ignored for k = 1).
func TopologyUplink(k int, routerNetns string) Uplink {
	if k == 1 {
		u := DefaultUplink()
		u.Gateway = true
		return u
	}
	base := 128 + 16*(k-2)
	return Uplink{
		Netns:    routerNetns,
		PeerLink: fmt.Sprintf("lan%d", k),
		Host:     []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("198.51.100.%d/28", base+2))},
		Peer:     []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("198.51.100.%d/28", base+1))},
		Gateway:  true,
	}
}

// StartTopology boots n test hosts (Start semantics: skipped unless enabled,
// torn down by t.Cleanup, the others before the first) and makes the first
// host's client namespace route between all of them.
func StartTopology(t testing.TB, n int) *Topology {
	t.Helper()
	if n < 1 || n > MaxTopologyHosts {
		t.Fatalf("a topology has 1 to %d hosts, not %d", MaxTopologyHosts, n)
	}
	u1 := TopologyUplink(1, "")
	first := StartConfig(t, Config{Uplink: &u1})
	router := first.state.ClientNets
	if err := enableForwarding(router); err != nil {
		t.Fatal(err)
	}
	topo := &Topology{Hosts: make([]*Host, n)}
	topo.Hosts[0] = first
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for k := 2; k <= n; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := TopologyUplink(k, router)
			h, err := New(Context(t), Config{Uplink: &u, Logf: t.Logf})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("host %d: %w", k, err))
				return
			}
			topo.Hosts[k-1] = h
		}()
	}
	wg.Wait()
	for i := len(topo.Hosts) - 1; i >= 1; i-- {
		if h := topo.Hosts[i]; h != nil {
			registerClose(t, h)
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("boot the topology: %v", err)
	}
	ctx := Context(t)
	// Every host reaches every other one's uplink before a test starts.
	for i, a := range topo.Hosts {
		for j, b := range topo.Hosts {
			if i == j {
				continue
			}
			if err := a.waitReach(ctx, b.UplinkIPv4(), 30*time.Second); err != nil {
				t.Fatalf("host %d cannot reach host %d: %v", i+1, j+1, err)
			}
		}
	}
	return topo
}

// registerClose tears h down at the end of t (logging its diagnostics when t
// failed), like Start does.
func registerClose(t testing.TB, h *Host) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("test host %s diagnostics:\n%s", h.UplinkIPv4(), h.Diagnostics())
		}
		if err := h.Close(); err != nil {
			t.Errorf("tear down the test host: %v", err)
		}
	})
}

// enableForwarding turns on IPv4 forwarding inside the router namespace (a
// namespace of the test's own; /proc/sys/net is per namespace).
func enableForwarding(netns string) error {
	out, err := exec.Command("nsenter", "--net=/run/netns/"+netns, "--", "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward").CombinedOutput()
	if err != nil {
		return fmt.Errorf("testhost: enable forwarding in the router %s: %v: %s", netns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// waitReach pings addr from the test host's own namespace until it answers.
func (h *Host) waitReach(ctx context.Context, addr netip.Addr, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if _, _, err := h.Exec(ctx, "busybox", "ping", "-c", "1", "-W", "1", addr.String()); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no answer from %s within %s", addr, timeout)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// Router is the path of the router namespace, for "nsenter --net=PATH".
func (tp *Topology) Router() string { return tp.Hosts[0].ClientNetns() }

// BlockUDP drops UDP between hosts a and b (1-based) in the router, both
// ways, as a path through which no NAT hole can be punched; UnblockUDP
// lifts it. The rules live in the router namespace only.
func (tp *Topology) BlockUDP(a, b int) error {
	x, y := tp.Hosts[a-1].UplinkIPv4(), tp.Hosts[b-1].UplinkIPv4()
	rules := fmt.Sprintf(`table ip e2e_block {
  chain forward {
    type filter hook forward priority 0; policy accept;
    ip saddr %[1]s ip daddr %[2]s meta l4proto udp drop
    ip saddr %[2]s ip daddr %[1]s meta l4proto udp drop
  }
}
`, x, y)
	if out, err := tp.routerNft(rules, "-f", "-"); err != nil {
		return fmt.Errorf("testhost: block UDP between %s and %s in the router: %v: %s", x, y, err, out)
	}
	return nil
}

// routerNft runs nft in the router namespace with stdin.
func (tp *Topology) routerNft(stdin string, args ...string) ([]byte, error) {
	cmd := exec.Command("nsenter", append([]string{"--net=" + tp.Router(), "--", "nft"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	return cmd.CombinedOutput()
}

// UnblockUDP removes what BlockUDP added.
func (tp *Topology) UnblockUDP() error {
	if out, err := tp.routerNft("", "delete", "table", "ip", "e2e_block"); err != nil {
		return fmt.Errorf("testhost: unblock UDP in the router: %v: %s", err, out)
	}
	return nil
}

// PowerCycle powers the test host off (systemd's clean poweroff, bounded),
// drops the kernel state of its network namespace that a real reboot loses
// (its nftables ruleset), and boots it again from the same root, in the same
// namespace, with the same uplink. It returns how long the host was down.
func (h *Host) PowerCycle(ctx context.Context) (time.Duration, error) {
	t0 := time.Now()
	_ = syscall.Kill(h.state.Leader, syscall.Signal(34+4)) // SIGRTMIN+4: poweroff
	select {
	case <-h.exited:
	case <-time.After(60 * time.Second):
		return 0, fmt.Errorf("testhost: the test host did not power off within 60s")
	}
	if out, err := exec.Command("nsenter", "--net="+h.HostNetns(), "--", "nft", "flush", "ruleset").CombinedOutput(); err != nil {
		return 0, fmt.Errorf("testhost: flush the powered-off host's ruleset: %v: %s", err, out)
	}
	if h.console != nil {
		h.console.Close()
		_ = os.Rename(h.console.Name(), filepath.Join(h.dir, fmt.Sprintf("console-%d.log", time.Now().Unix())))
	}
	h.exited = make(chan struct{})
	if err := h.boot(ctx); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// WatchPrivate makes the router record the source and destination of every
// packet a host sends towards a private address (10.0.0.0/8, 172.16.0.0/12,
// 192.168.0.0/16, fc00::/7): addresses of containers behind a host's NAT,
// which mean nothing on the internet. PrivateFlows lists them.
func (tp *Topology) WatchPrivate() error {
	rules := `table inet e2e_private {
  set from4 { type ipv4_addr . ipv4_addr; flags dynamic; }
  set from6 { type ipv6_addr . ipv6_addr; flags dynamic; }
  chain prerouting {
    type filter hook prerouting priority -300; policy accept;
    ip daddr { 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 } add @from4 { ip saddr . ip daddr }
    ip6 daddr fc00::/7 add @from6 { ip6 saddr . ip6 daddr }
  }
}
`
	if out, err := tp.routerNft(rules, "-f", "-"); err != nil {
		return fmt.Errorf("testhost: watch private destinations in the router: %v: %s", err, out)
	}
	return nil
}

// Flow is a source and destination address the router saw.
type Flow struct{ Src, Dst netip.Addr }

// PrivateFlows returns the flows to private addresses since WatchPrivate.
func (tp *Topology) PrivateFlows() ([]Flow, error) {
	var out []Flow
	for _, set := range []string{"from4", "from6"} {
		b, err := tp.routerNft("", "-j", "list", "set", "inet", "e2e_private", set)
		if err != nil {
			return nil, fmt.Errorf("testhost: read the router's set %s: %v: %s", set, err, b)
		}
		flows, err := parseNftFlows(b)
		if err != nil {
			return nil, err
		}
		out = append(out, flows...)
	}
	return out, nil
}

// parseNftFlows takes the address pairs out of "nft -j list set" output of
// a set of type ADDR . ADDR.
func parseNftFlows(b []byte) ([]Flow, error) {
	var doc struct {
		Nftables []struct {
			Set *struct {
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("testhost: nft -j list set: %w", err)
	}
	var out []Flow
	for _, o := range doc.Nftables {
		if o.Set == nil {
			continue
		}
		for _, e := range o.Set.Elem {
			var el struct {
				Concat []string `json:"concat"`
			}
			if err := json.Unmarshal(e, &el); err != nil || len(el.Concat) != 2 {
				return nil, fmt.Errorf("testhost: nft set element %s is not ADDR . ADDR", e)
			}
			src, err1 := netip.ParseAddr(el.Concat[0])
			dst, err2 := netip.ParseAddr(el.Concat[1])
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("testhost: nft set element %s: %w", e, err)
			}
			out = append(out, Flow{src, dst})
		}
	}
	return out, nil
}
