package testhost

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Helpers for the Nebula sidecar scenario: a lighthouse on the test host
// itself, and what a test reads about a sidecar's process and devices.

// NebulaCADir is where the overlay scenario keeps its CA inside the test host
// (made with "nspawnctl nebula ca init").
const NebulaCADir = "/etc/nspawnctl/nebula-ca"

// LighthouseUnit is the transient unit (systemd-run) of the scenario's
// lighthouse on the test host.
const LighthouseUnit = "e2e-nebula-lighthouse.service"

// lighthouseDir holds the lighthouse's certificate, key and config inside the
// test host; it is not a sidecar's directory, so nspawnctl never touches it.
const lighthouseDir = "/etc/e2e-nebula-lighthouse"

// Lighthouse describes the nebula lighthouse the scenario runs on the test
// host, in the test host's own network namespace (never the machine's).
type Lighthouse struct {
	// Address is its overlay address in CIDR form (e.g. 10.42.0.1/24).
	Address string
	// Groups go into its certificate (nebula-cert sign -groups).
	Groups []string
	// Port is its UDP port (listen.port).
	Port int
	// Device is its tun device in the test host; a name other than the
	// sidecars' (nebula1), so that a sidecar's device can never be mistaken
	// for it.
	Device string
}

// lighthouseConfig renders the lighthouse's config: the same YAML shape the
// sidecars get, with the PEM inline, everything allowed outbound and ICMP
// inbound.
func lighthouseConfig(lh Lighthouse, ca, crt, key string) string {
	indent := func(s string) string {
		return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
	}
	return fmt.Sprintf(`# The e2e overlay scenario's lighthouse (written by e2e/testhost).
pki:
  ca: |
%s
  cert: |
%s
  key: |
%s
static_host_map: {}
lighthouse:
  am_lighthouse: true
  interval: 60
  hosts: []
listen:
  host: "[::]"
  port: %d
punchy:
  punch: true
  respond: true
tun:
  disabled: false
  dev: %q
  drop_local_broadcast: false
  drop_multicast: false
  tx_queue: 500
  mtu: 1300
  routes: []
  unsafe_routes: []
logging:
  level: "info"
  format: "text"
firewall:
  conntrack:
    tcp_timeout: "12m"
    udp_timeout: "3m"
    default_timeout: "10m"
  outbound:
    - port: "any"
      proto: "any"
      host: "any"
  inbound:
    - port: "any"
      proto: "icmp"
      host: "any"
`, indent(ca), indent(crt), indent(key), lh.Port, lh.Device)
}

// StartLighthouse signs a certificate for the lighthouse with nebula-cert
// from the CA in NebulaCADir (so nebula-cert must accept nspawnctl's CA key),
// writes its config and runs nebula as the transient unit LighthouseUnit in
// the test host. It returns once the tun device is up with the address.
func (h *Host) StartLighthouse(ctx context.Context, lh Lighthouse, timeout time.Duration) error {
	script := `set -e
d="$1"; rm -rf "$d"; mkdir -m 0700 "$d"
nebula-cert sign -ca-crt "$2/ca.crt" -ca-key "$2/ca.key" -name lighthouse -ip "$3" -groups "$4" \
  -out-crt "$d/host.crt" -out-key "$d/host.key"`
	if _, _, err := h.Exec(ctx, "sh", "-c", script, "sh", lighthouseDir, NebulaCADir, lh.Address, strings.Join(lh.Groups, ",")); err != nil {
		return fmt.Errorf("testhost: sign the lighthouse certificate with nebula-cert from the CA in %s: %w", NebulaCADir, err)
	}
	var pem [3]string
	for i, f := range []string{NebulaCADir + "/ca.crt", lighthouseDir + "/host.crt", lighthouseDir + "/host.key"} {
		out, _, err := h.Exec(ctx, "cat", f)
		if err != nil {
			return fmt.Errorf("testhost: read %s for the lighthouse config: %w", f, err)
		}
		pem[i] = out
	}
	cfg := lighthouseDir + "/config.yml"
	if err := h.WriteFile(ctx, cfg, lighthouseConfig(lh, pem[0], pem[1], pem[2]), 0o600); err != nil {
		return err
	}
	if _, _, err := h.Exec(ctx, "nebula", "-test", "-config", cfg); err != nil {
		return fmt.Errorf("testhost: nebula -test rejects the lighthouse config %s: %w", cfg, err)
	}
	if _, _, err := h.Exec(ctx, "systemd-run", "--unit="+LighthouseUnit, "--collect", "--",
		"nebula", "-config", cfg); err != nil {
		return fmt.Errorf("testhost: start the lighthouse as %s: %w", LighthouseUnit, err)
	}
	addr, _, _ := strings.Cut(lh.Address, "/")
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		out, _, _ := h.Exec(ctx, "ip", "-4", "-o", "addr", "show", "dev", lh.Device)
		if strings.Contains(out, " "+addr+"/") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testhost: the lighthouse has no %s on %s after %s; its journal:\n%s", addr, lh.Device, timeout, h.Journal(LighthouseUnit))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ProcStatus holds the fields of /proc/PID/status the sidecar checks need.
type ProcStatus struct {
	Name                                   string
	UID                                    [4]int // real, effective, saved, file system
	GID                                    [4]int
	CapInh, CapPrm, CapEff, CapBnd, CapAmb uint64
	NoNewPrivs                             int
}

// ParseProcStatus decodes /proc/PID/status.
func ParseProcStatus(s string) (ProcStatus, error) {
	var st ProcStatus
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var err error
		switch key {
		case "Name":
			st.Name = val
		case "Uid", "Gid":
			f := strings.Fields(val)
			if len(f) != 4 {
				return st, fmt.Errorf("/proc status %s: %q has not 4 fields", key, val)
			}
			dst := &st.UID
			if key == "Gid" {
				dst = &st.GID
			}
			for i := range f {
				if dst[i], err = strconv.Atoi(f[i]); err != nil {
					return st, fmt.Errorf("/proc status %s: %w", key, err)
				}
			}
		case "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb":
			v, err := strconv.ParseUint(val, 16, 64)
			if err != nil {
				return st, fmt.Errorf("/proc status %s: %w", key, err)
			}
			*map[string]*uint64{"CapInh": &st.CapInh, "CapPrm": &st.CapPrm, "CapEff": &st.CapEff, "CapBnd": &st.CapBnd, "CapAmb": &st.CapAmb}[key] = v
		case "NoNewPrivs":
			if st.NoNewPrivs, err = strconv.Atoi(val); err != nil {
				return st, fmt.Errorf("/proc status %s: %w", key, err)
			}
		default:
			continue
		}
		seen[key] = true
	}
	for _, k := range []string{"Name", "Uid", "Gid", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"} {
		if !seen[k] {
			return st, fmt.Errorf("/proc status lacks %s", k)
		}
	}
	return st, nil
}

// ProcStatus reads /proc/PID/status of a process inside the test host.
func (h *Host) ProcStatus(ctx context.Context, pid int) (ProcStatus, error) {
	out, _, err := h.Exec(ctx, "cat", fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcStatus{}, fmt.Errorf("testhost: status of process %d: %w", pid, err)
	}
	return ParseProcStatus(out)
}

// UnitMainPID returns the MainPID systemd in the test host reports for unit
// (0 when it has none).
func (h *Host) UnitMainPID(ctx context.Context, unit string) (int, error) {
	out, _, err := h.Exec(ctx, "systemctl", "show", unit, "--property=MainPID", "--value")
	if err != nil {
		return 0, fmt.Errorf("testhost: MainPID of %s: %w", unit, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		return 0, fmt.Errorf("testhost: MainPID of %s is %q: %w", unit, out, err)
	}
	return pid, nil
}

// NetnsOf returns the network namespace of process pid inside the test host,
// as readlink shows it ("net:[4026532...]").
func (h *Host) NetnsOf(ctx context.Context, pid int) (string, error) {
	out, _, err := h.Exec(ctx, "readlink", fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return "", fmt.Errorf("testhost: network namespace of process %d: %w", pid, err)
	}
	return strings.TrimSpace(out), nil
}

// LinksOfProcess lists the interface names in the network namespace of
// process pid inside the test host (pid 1: the test host's own).
func (h *Host) LinksOfProcess(ctx context.Context, pid int) ([]string, error) {
	out, _, err := h.Exec(ctx, "nsenter", "-t", strconv.Itoa(pid), "-n", "ip", "-o", "link", "show")
	if err != nil {
		return nil, fmt.Errorf("testhost: links in the network namespace of process %d: %w", pid, err)
	}
	return parseLinkNames(out), nil
}

// parseLinkNames takes the names out of "ip -o link show" lines
// ("3: nebula1: <...>", "5: host0@if4: <...>").
func parseLinkNames(out string) []string {
	var names []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		name := strings.TrimSuffix(f[1], ":")
		name, _, _ = strings.Cut(name, "@")
		names = append(names, name)
	}
	return names
}

// InMachine runs a command inside a running machine through "nspawnctl shell
// NAME -- CMD", bounded by timeout.
func (h *Host) InMachine(ctx context.Context, timeout time.Duration, name string, args ...string) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return h.Nspawnctl(ctx, append([]string{"shell", name, "--"}, args...)...)
}

// Ping sends one ICMP echo from inside machine to addr (busybox ping, 2
// seconds); it reports whether an answer came.
func (h *Host) Ping(ctx context.Context, machine, addr string) bool {
	r := h.InMachine(ctx, 10*time.Second, machine, "busybox", "ping", "-c", "1", "-W", "2", addr)
	return r.Code == 0 && r.Err == nil
}

// WaitPing pings addr from inside machine until it answers or timeout
// passes, and returns how long that took.
func (h *Host) WaitPing(ctx context.Context, machine, addr string, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if h.Ping(ctx, machine, addr) {
			return time.Since(t0), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(t0), fmt.Errorf("testhost: %s got no answer to ping %s within %s", machine, addr, timeout)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// TCPGet fetches http://addr:port/ from inside machine with busybox wget,
// bounded to seconds by coreutils timeout. (Not wget's own -T: bookworm's
// busybox 1.35 wget segfaults with it once the body arrives.) It returns the
// body, or an error for a refused, dropped or timed-out connection.
func (h *Host) TCPGet(ctx context.Context, machine, addr string, port, seconds int) (string, error) {
	url := fmt.Sprintf("http://%s:%d/", addr, port)
	r := h.InMachine(ctx, time.Duration(seconds+10)*time.Second, machine,
		"timeout", strconv.Itoa(seconds), "busybox", "wget", "-q", "-O", "-", url)
	if r.Code != 0 || r.Err != nil {
		return "", fmt.Errorf("GET %s from %s: %s", url, machine, r)
	}
	return r.Stdout, nil
}

// HostTCPGet fetches http://addr:port/ with curl from the test host's own
// network namespace (the lighthouse's side), bounded to seconds.
func (h *Host) HostTCPGet(ctx context.Context, addr string, port, seconds int) (string, error) {
	url := fmt.Sprintf("http://%s:%d/", addr, port)
	cctx, cancel := context.WithTimeout(ctx, time.Duration(seconds+10)*time.Second)
	defer cancel()
	out, _, err := h.Exec(cctx, "curl", "-sS", "--fail", "--connect-timeout", strconv.Itoa(seconds), "--max-time", strconv.Itoa(seconds), url)
	return out, err
}
