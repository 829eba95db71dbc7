package testhost

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// MachineExec runs a command inside a running nested machine (all its
// namespaces, entered from the test host with nsenter at machined's Leader
// PID), so that name resolution, routes and addresses are the container's
// own. A non-zero exit is in Result.Code, not an error.
func (h *Host) MachineExec(ctx context.Context, machine string, args ...string) Result {
	leader, err := h.MachineLeader(ctx, machine)
	if err != nil {
		return Result{Code: -1, Err: err}
	}
	return h.Run(ctx, append([]string{"nsenter", "-t", fmt.Sprint(leader), "-a", "--"}, args...)...)
}

// MachineSh runs a shell script inside a running nested machine.
func (h *Host) MachineSh(ctx context.Context, machine, script string) Result {
	return h.MachineExec(ctx, machine, "sh", "-c", script)
}

// Until calls try every interval until it succeeds or timeout passes; the
// error carries the last failure. It returns how long it took.
func Until(ctx context.Context, timeout, interval time.Duration, what string, try func(context.Context) error) (time.Duration, error) {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = try(ctx); last == nil {
			return time.Since(t0), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(t0), fmt.Errorf("%s: not within %s (last: %v)", what, timeout, last)
		case <-time.After(interval):
		}
	}
}

// WaitInMachine runs script inside machine until it exits 0 (bounded by
// timeout) and returns its last result and how long it took.
func (h *Host) WaitInMachine(ctx context.Context, machine, script string, timeout time.Duration) (Result, time.Duration, error) {
	var r Result
	d, err := Until(ctx, timeout, 300*time.Millisecond, fmt.Sprintf("in machine %s: %q", machine, script), func(ctx context.Context) error {
		r = h.MachineSh(ctx, machine, script)
		if r.Code != 0 || r.Err != nil {
			return fmt.Errorf("%s", r)
		}
		return nil
	})
	return r, d, err
}

// WaitClient runs a command in the client namespace until it exits 0
// (bounded by timeout) and returns its output and how long it took.
func (h *Host) WaitClient(ctx context.Context, timeout time.Duration, args ...string) (string, time.Duration, error) {
	var out string
	d, err := Until(ctx, timeout, 300*time.Millisecond, "client: "+strings.Join(args, " "), func(ctx context.Context) error {
		var err error
		out, _, err = h.ClientExec(ctx, args...)
		return err
	})
	return out, d, err
}

// WaitMachineAddr waits until machined lists machine as running and one
// of its addresses lies in p, which it returns. Unlike WaitMachine it works
// for any family and for machines without IPv4.
func (h *Host) WaitMachineAddr(ctx context.Context, machine string, p netip.Prefix, timeout time.Duration) (netip.Addr, error) {
	var found netip.Addr
	_, err := Until(ctx, timeout, 250*time.Millisecond, fmt.Sprintf("machine %s with an address in %s", machine, p), func(ctx context.Context) error {
		addrs, err := h.MachineAddresses(ctx, machine)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if p.Contains(a) {
				found = a
				return nil
			}
		}
		return fmt.Errorf("addresses %v", addrs)
	})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("testhost: %w; journal of systemd-nspawn@%s:\n%s", err, machine, h.Journal("systemd-nspawn@"+machine+".service"))
	}
	return found, nil
}

// WaitMachineBooted waits until systemd inside machine reports it finished
// booting (running or degraded), so that its networkd and resolved are up.
func (h *Host) WaitMachineBooted(ctx context.Context, machine string, timeout time.Duration) error {
	_, _, err := h.WaitInMachine(ctx, machine, `s=$(systemctl is-system-running 2>/dev/null); [ "$s" = running ] || [ "$s" = degraded ]`, timeout)
	return err
}
