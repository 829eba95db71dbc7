package testhost

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvEnable is the variable that opts in to the end-to-end tests.
const EnvEnable = "NSPAWNCTL_E2E"

// EnvBinary names an already built nspawnctl binary for the tests to use
// (e2e/run.sh sets it); without it, NspawnctlBinary builds one.
const EnvBinary = "NSPAWNCTL_E2E_BIN"

// Enabled reports whether the end-to-end tests were asked for.
func Enabled() bool { return os.Getenv(EnvEnable) == "1" }

// SkipUnlessEnabled skips the test unless the e2e tests were asked for and
// the machine can run them (root, the tools installed).
func SkipUnlessEnabled(t testing.TB) {
	t.Helper()
	if !Enabled() {
		t.Skipf("end-to-end test: run with %s=1 as root (make e2e, or e2e/run.sh); it boots a systemd test host", EnvEnable)
	}
	if os.Geteuid() != 0 {
		t.Skip("end-to-end test: needs root")
	}
	if err := CheckTools(); err != nil {
		t.Skipf("end-to-end test: %v", err)
	}
}

// requiredTools are the machine's commands the harness runs.
var requiredTools = []string{"mmdebstrap", "systemd-nspawn", "nsenter", "ip", "curl", "tar", "cp"}

// CheckTools returns an error naming the missing commands, with the way to
// install them.
func CheckTools() error {
	var missing []string
	for _, tool := range requiredTools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing commands %s: run e2e/install-deps.sh", strings.Join(missing, ", "))
	}
	return nil
}

// Context returns a context that ends a minute before the test binary's
// -timeout would panic, so that waits give up and cleanups still run (a
// timeout panic runs no cleanups).
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if tt, ok := t.(*testing.T); ok {
		if dl, ok := tt.Deadline(); ok {
			margin := time.Minute
			if time.Until(dl) < 4*margin {
				margin = time.Until(dl) / 4
			}
			cancel() // replaced by the deadline-bound one
			ctx, cancel = context.WithDeadline(context.Background(), dl.Add(-margin))
		}
	}
	t.Cleanup(cancel)
	return ctx
}

// Start skips unless the e2e tests are enabled, then boots a test host whose
// Close is registered with t.Cleanup. When the test failed, the host's
// diagnostics are logged before it is torn down.
func Start(t testing.TB) *Host {
	t.Helper()
	return StartConfig(t, Config{})
}

// StartConfig is Start with a Config (its Logf is the test's).
func StartConfig(t testing.TB, cfg Config) *Host {
	t.Helper()
	SkipUnlessEnabled(t)
	cfg.Logf = t.Logf
	h, err := New(Context(t), cfg)
	if err != nil {
		t.Fatalf("boot the test host: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("test host diagnostics:\n%s", h.Diagnostics())
		}
		t0 := time.Now()
		if err := h.Close(); err != nil {
			t.Errorf("tear down the test host: %v", err)
		}
		t.Logf("test host torn down in %s", time.Since(t0).Round(time.Millisecond))
	})
	return h
}

// live holds the open hosts and the running image builds (their process
// group IDs), for the signal handler.
var (
	liveMu      sync.Mutex
	live        = map[*Host]bool{}
	liveBuilds  = map[int]uint64{} // pgid -> start time
	handlerOnce sync.Once
)

// registerBuild records a running mmdebstrap. It runs in its own process
// group (so cancellation reaches apt and dpkg too), which also means a Ctrl-C
// does not reach it: the signal handler stops it.
func registerBuild(pgid int) {
	handlerOnce.Do(installSignalHandler)
	liveMu.Lock()
	liveBuilds[pgid] = procStartTime(pgid)
	liveMu.Unlock()
}

func unregisterBuild(pgid int) {
	liveMu.Lock()
	delete(liveBuilds, pgid)
	liveMu.Unlock()
}

func register(h *Host) {
	handlerOnce.Do(installSignalHandler)
	liveMu.Lock()
	live[h] = true
	liveMu.Unlock()
}

func unregister(h *Host) {
	liveMu.Lock()
	delete(live, h)
	liveMu.Unlock()
}

// installSignalHandler tears down every open host when the process gets
// SIGINT, SIGTERM or SIGHUP, then dies of the same signal, so that an
// interrupted "go test" leaves nothing behind.
func installSignalHandler() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-ch
		fmt.Fprintf(os.Stderr, "testhost: got %v; tearing down the test hosts\n", sig)
		liveMu.Lock()
		hosts := make([]*Host, 0, len(live))
		for h := range live {
			hosts = append(hosts, h)
		}
		builds := maps.Clone(liveBuilds)
		liveMu.Unlock()
		var wg sync.WaitGroup
		for pgid, start := range builds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if alive(pgid, start) {
					_ = syscall.Kill(-pgid, syscall.SIGTERM)
					killAndWait(pgid, start, 0, 15*time.Second)
				}
			}()
		}
		for _, h := range hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := h.Close(); err != nil {
					fmt.Fprintf(os.Stderr, "testhost: %v\n", err)
				}
			}()
		}
		wg.Wait()
		signal.Reset(sig)
		if s, ok := sig.(syscall.Signal); ok {
			_ = syscall.Kill(os.Getpid(), s)
		}
		time.Sleep(time.Second)
		os.Exit(2)
	}()
}

// RepoRoot returns the module root (the directory holding go.mod) above the
// current directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the current directory")
		}
		dir = parent
	}
}

// NspawnctlBinary returns the nspawnctl binary under test: $NSPAWNCTL_E2E_BIN
// when set, else one built now from the module (go build ./cmd/nspawnctl)
// into a temporary directory of the test.
func NspawnctlBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", EnvBinary, p, err)
		}
		return p
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatalf("find the module root: %v", err)
	}
	out := filepath.Join(t.TempDir(), "nspawnctl")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/nspawnctl")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // static: the test host has another libc build
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/nspawnctl: %v\n%s", err, b)
	}
	return out
}

// NspawnctlPath is where InstallNspawnctl puts the binary inside the test host.
const NspawnctlPath = "/usr/local/bin/nspawnctl"

// InstallNspawnctl copies the nspawnctl binary at bin into the test host at
// NspawnctlPath.
func (h *Host) InstallNspawnctl(ctx context.Context, bin string) error {
	if err := h.CopyIn(ctx, bin, NspawnctlPath); err != nil {
		return err
	}
	// Make sure it runs in there (a cgo binary linked against a newer libc
	// would not); failing here is clearer than inside a scenario.
	if _, _, err := h.Exec(ctx, NspawnctlPath, "--help"); err != nil {
		return fmt.Errorf("testhost: installed nspawnctl does not run inside the test host: %w", err)
	}
	return nil
}

// GuestTarballPath is where CopyGuestTarball puts the guest root tarball
// inside the test host (for "nspawnctl create" or "machinectl import-tar").
const GuestTarballPath = "/var/tmp/guest.tar"

// CopyGuestTarball copies the guest root tarball into the test host at dst.
func (h *Host) CopyGuestTarball(ctx context.Context, dst string) error {
	return h.CopyIn(ctx, h.guestTar, dst)
}

// InstallGuest unpacks the guest root into the test host at
// /var/lib/machines/NAME, the place machinectl and systemd-nspawn@.service
// look for it.
func (h *Host) InstallGuest(ctx context.Context, name string) error {
	f, err := os.Open(h.guestTar)
	if err != nil {
		return fmt.Errorf("testhost: guest tarball: %w", err)
	}
	defer f.Close()
	dir := "/var/lib/machines/" + name
	if _, _, err := h.ExecInput(ctx, f, "sh", "-c", `set -e; test ! -e "$1" || { echo "$1 exists" >&2; exit 1; }; mkdir -p "$1"; tar -C "$1" -x --numeric-owner`, "sh", dir); err != nil {
		return fmt.Errorf("testhost: install guest root at %s: %w", dir, err)
	}
	return nil
}

// MachineAddresses returns the addresses machined reports for a running
// machine inside the test host (machined's GetMachineAddresses, through
// busctl).
func (h *Host) MachineAddresses(ctx context.Context, name string) ([]netip.Addr, error) {
	out, _, err := h.Exec(ctx, "busctl", "--json=short", "call", "org.freedesktop.machine1", "/org/freedesktop/machine1",
		"org.freedesktop.machine1.Manager", "GetMachineAddresses", "s", name)
	if err != nil {
		return nil, fmt.Errorf("testhost: addresses of machine %s: %w", name, err)
	}
	return ParseMachineAddresses([]byte(out))
}

// ParseMachineAddresses decodes busctl's JSON output of GetMachineAddresses
// (signature a(iay)).
func ParseMachineAddresses(data []byte) ([]netip.Addr, error) {
	var reply struct {
		Type string            `json:"type"`
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(data, &reply); err != nil {
		return nil, fmt.Errorf("GetMachineAddresses reply %q: %w", data, err)
	}
	if reply.Type != "a(iay)" || len(reply.Data) != 1 {
		return nil, fmt.Errorf("GetMachineAddresses reply %q: want one a(iay) value", data)
	}
	var entries [][2]json.RawMessage
	if err := json.Unmarshal(reply.Data[0], &entries); err != nil {
		return nil, fmt.Errorf("GetMachineAddresses reply %q: %w", data, err)
	}
	var out []netip.Addr
	for _, e := range entries {
		var raw []byte
		var bytes []int
		if err := json.Unmarshal(e[1], &bytes); err != nil {
			return nil, fmt.Errorf("GetMachineAddresses address %s: %w", e[1], err)
		}
		for _, b := range bytes {
			raw = append(raw, byte(b))
		}
		a, ok := netip.AddrFromSlice(raw)
		if !ok {
			return nil, fmt.Errorf("GetMachineAddresses: address of %d bytes", len(raw))
		}
		out = append(out, a)
	}
	return out, nil
}

// WaitMachine waits (bounded by timeout) until machined lists the machine as
// running and it has a global IPv4 address (not link-local), which it returns.
func (h *Host) WaitMachine(ctx context.Context, name string, timeout time.Duration) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		state, _, err := h.Exec(ctx, "machinectl", "show", name, "--property=State", "--value")
		last = strings.TrimSpace(state)
		if err != nil {
			last = err.Error()
		}
		if last == "running" {
			addrs, err := h.MachineAddresses(ctx, name)
			if err != nil {
				last = err.Error()
			}
			for _, a := range addrs {
				if a.Is4() && a.IsGlobalUnicast() { // excludes 169.254/16
					return a, nil
				}
			}
			last = fmt.Sprintf("running, addresses %v", addrs)
		}
		select {
		case <-ctx.Done():
			return netip.Addr{}, fmt.Errorf("testhost: machine %s not running with an IPv4 address after %s (last: %s); journal of systemd-nspawn@%s:\n%s",
				name, timeout, last, name, h.Journal("systemd-nspawn@"+name+".service"))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// WaitURL fetches url with curl from the client namespace until it answers
// with a body containing want, trying at most attempts times, interval apart,
// each request bounded to 3 seconds. It returns the body.
func (h *Host) WaitURL(ctx context.Context, url, want string, attempts int, interval time.Duration) (string, error) {
	var last string
	for i := 0; i < attempts; i++ {
		body, errOut, err := h.ClientExec(ctx, "curl", "-sS", "--fail", "--max-time", "3", url)
		if err == nil && strings.Contains(body, want) {
			return body, nil
		}
		last = strings.TrimSpace(errOut)
		if err == nil {
			last = fmt.Sprintf("body %q lacks %q", tailLines(body, 3), want)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("testhost: GET %s from the client: %w (last: %s)", url, ctx.Err(), last)
		case <-time.After(interval):
		}
	}
	return "", fmt.Errorf("testhost: GET %s from the client: no answer containing %q after %d attempts (last: %s)", url, want, attempts, last)
}
