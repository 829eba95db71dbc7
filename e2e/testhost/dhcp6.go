package testhost

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// The upstream router of the prefix delegation scenarios: Debian's Kea DHCPv6
// server (kea-dhcp6-server) in the client namespace, delegating a prefix
// from its pd-pool to the test host's uplink.
//
// A real router also routes the prefix it delegated to the requesting
// router. Kea does not touch routes, so its run_script hook does it the way a
// router's DHCPv6 server integration does: on every committed lease it
// replaces the route to each delegated prefix via the address the request
// came from (the test host's link-local address on uplink0), and on a
// release, expiry or a lease dropped in a renewal it deletes the route.

// KeaBinary and KeaRunScript are where Debian's packages put the server and
// the hook library.
const (
	KeaBinary    = "/usr/sbin/kea-dhcp6"
	KeaRunScript = "/usr/lib/x86_64-linux-gnu/kea/hooks/libdhcp_run_script.so"
)

// DHCP6 is a running Kea in the client namespace.
type DHCP6 struct {
	h    *Host
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	// Lifetimes and timers handed out, in seconds.
	Preferred, Valid, Renew, Rebind int
}

// hookScript is the run_script hook: it logs each call and keeps the client
// namespace's routes to the delegated prefixes in step with the leases.
const hookScript = `#!/bin/sh
# Kea run_script hook (nspawnctl e2e): routes to delegated prefixes, as the
# upstream router would install them from its leases.
log="$(dirname "$0")/hook.log"
route() { # action prefix len via
	if [ "$1" = add ]; then
		ip -6 route replace "$2/$3" via "$4" dev lan0 proto static
	else
		ip -6 route del "$2/$3" dev lan0 2>/dev/null
	fi
	echo "$(date +%s.%N) $1 $2/$3 $4" >>"$log"
}
each() { # list-var-prefix action
	n=$(eval echo "\${$1_SIZE:-0}")
	i=0
	while [ "$i" -lt "$n" ]; do
		t=$(eval echo "\${$1_AT${i}_TYPE}")
		a=$(eval echo "\${$1_AT${i}_ADDRESS}")
		l=$(eval echo "\${$1_AT${i}_PREFIX_LEN}")
		[ "$t" = IA_PD ] && route "$2" "$a" "$l" "$QUERY6_REMOTE_ADDR"
		i=$((i + 1))
	done
}
case "$1" in
leases6_committed)
	each DELETED_LEASES6 del
	each LEASES6 add
	;;
lease6_release | lease6_expire | lease6_decline)
	[ "$LEASE6_TYPE" = IA_PD ] && route del "$LEASE6_ADDRESS" "$LEASE6_PREFIX_LEN" ""
	;;
esac
exit 0
`

// keaConfig renders Kea's configuration delegating pd (one prefix of its
// length) on the client link.
func (d *DHCP6) keaConfig(pd netip.Prefix) ([]byte, error) {
	pdPool := map[string]any{"prefix": pd.Addr().String(), "prefix-len": pd.Bits(), "delegated-len": pd.Bits()}
	cfg := map[string]any{"Dhcp6": map[string]any{
		"interfaces-config":  map[string]any{"interfaces": []string{ClientLink}},
		"lease-database":     map[string]any{"type": "memfile", "persist": true, "name": filepath.Join(d.dir, "leases6.csv"), "lfc-interval": 0},
		"server-id":          map[string]any{"type": "LLT", "persist": false},
		"preferred-lifetime": d.Preferred, "valid-lifetime": d.Valid,
		"renew-timer": d.Renew, "rebind-timer": d.Rebind,
		"hooks-libraries": []any{map[string]any{"library": KeaRunScript, "parameters": map[string]any{"name": filepath.Join(d.dir, "hook.sh"), "sync": false}}},
		"subnet6": []any{map[string]any{
			"id": 1, "subnet": "2001:db8:113::/64", "interface": ClientLink,
			"pools":    []any{map[string]any{"pool": "2001:db8:113::100-2001:db8:113::1ff"}},
			"pd-pools": []any{pdPool},
		}},
		"loggers": []any{map[string]any{"name": "kea-dhcp6", "severity": "INFO",
			"output_options": []any{map[string]any{"output": filepath.Join(d.dir, "kea.log")}}}},
	}}
	return json.MarshalIndent(cfg, "", "  ")
}

// StartDHCP6 starts Kea in the client namespace delegating pd, with short
// lifetimes and timers so that a renumbering shows within seconds. It is
// stopped by PID at cleanup.
func (h *Host) StartDHCP6(ctx context.Context, pd netip.Prefix) (*DHCP6, error) {
	if _, err := os.Stat(KeaBinary); err != nil {
		return nil, fmt.Errorf("testhost: no DHCPv6 server: %v (install kea-dhcp6-server, e2e/install-deps.sh does)", err)
	}
	d := &DHCP6{h: h, dir: filepath.Join(h.dir, "dhcp6"), done: make(chan struct{}), Preferred: 60, Valid: 120, Renew: 5, Rebind: 8}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(d.dir, "hook.sh"), []byte(hookScript), 0o755); err != nil {
		return nil, err
	}
	if err := d.writeConfig(pd); err != nil {
		return nil, err
	}
	cmd := exec.Command("nsenter", "--net="+h.ClientNetns(), KeaBinary, "-c", filepath.Join(d.dir, "kea.json"))
	// Pid and lock files in the run directory: concurrent runs each have a server.
	cmd.Env = append(os.Environ(), "KEA_PIDFILE_DIR="+d.dir, "KEA_LOCKFILE_DIR="+d.dir)
	out, err := os.Create(filepath.Join(d.dir, "kea.out"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("testhost: start kea-dhcp6: %w", err)
	}
	d.cmd = cmd
	// Recorded for the teardown of a run killed before Stop (stale cleanup).
	h.state.Helpers = append(h.state.Helpers, helperProc{PID: cmd.Process.Pid, Start: procStartTime(cmd.Process.Pid)})
	if err := h.state.save(h.dir); err != nil {
		_ = cmd.Process.Kill()
		return nil, err
	}
	go func() { _ = cmd.Wait(); out.Close(); close(d.done) }()
	// Listening once its log says so; bounded.
	if _, err := Until(ctx, 30*time.Second, 200*time.Millisecond, "kea-dhcp6 serving", func(context.Context) error {
		select {
		case <-d.done:
			return fmt.Errorf("kea-dhcp6 exited: %s", tailFile(filepath.Join(d.dir, "kea.out"), 10))
		default:
		}
		if !strings.Contains(d.Log(), "DHCP6_STARTED") {
			return fmt.Errorf("not started yet")
		}
		return nil
	}); err != nil {
		d.Stop()
		return nil, err
	}
	return d, nil
}

func (d *DHCP6) writeConfig(pd netip.Prefix) error {
	b, err := d.keaConfig(pd)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d.dir, "kea.json"), b, 0o644)
}

// Renumber makes the server delegate pd instead (a new configuration, read
// on SIGHUP): the old prefix is no longer in any pool, so Kea answers the
// next Renew with the old prefix at lifetime 0 and a new prefix.
func (d *DHCP6) Renumber(pd netip.Prefix) error {
	if err := d.writeConfig(pd); err != nil {
		return err
	}
	return d.cmd.Process.Signal(syscall.SIGHUP)
}

// Log is the server's log so far.
func (d *DHCP6) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "kea.log"))
	return string(b)
}

// HookLog is the route hook's log: one line per route added or deleted.
func (d *DHCP6) HookLog() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "hook.log"))
	return string(b)
}

// Leases is Kea's lease file.
func (d *DHCP6) Leases() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "leases6.csv"))
	return string(b)
}

// Stop ends the server by its PID (SIGTERM, then SIGKILL after 5 s).
func (d *DHCP6) Stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// ClientRoute returns the client namespace's route to p ("" when none).
func (h *Host) ClientRoute(ctx context.Context, p netip.Prefix) string {
	out, _, _ := h.ClientExec(ctx, "ip", "-6", "route", "show", p.String())
	return strings.TrimSpace(out)
}

// ServeClientEcho runs an HTTP server in the client namespace on port that
// answers every request with the address it came from, so that a test can
// see which source address a machine's connection left with. It stops when
// ctx ends.
func (h *Host) ServeClientEcho(ctx context.Context, port int) error {
	ln, err := listenIn(h.ClientNetns(), fmt.Sprintf("[::]:%d", port))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintf(w, "from %s\n", host)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	return nil
}

// listenIn opens a TCP listener in the network namespace at nsPath, on a
// thread of its own that is discarded afterwards: the socket keeps its
// namespace, the process's other threads never change theirs.
func listenIn(nsPath, addr string) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: Go ends the thread with the goroutine
		ns, err := netns.GetFromPath(nsPath)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			ch <- result{err: err}
			return
		}
		ln, err := net.Listen("tcp", addr)
		ch <- result{ln, err}
	}()
	r := <-ch
	if r.err != nil {
		return nil, fmt.Errorf("testhost: listen on %s in %s: %w", addr, nsPath, r.err)
	}
	return r.ln, nil
}
