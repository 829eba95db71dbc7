package testhost

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// WebTarballPath is where PrepareWebTarball puts the guest tarball with a web
// server added, inside the test host.
const WebTarballPath = "/var/tmp/web.tar"

// WebUnit is the busybox httpd unit PrepareWebTarball adds to the guest: it
// serves /srv/www on port 80, on IPv4 and IPv6.
const WebUnit = `[Unit]
Description=busybox httpd for the nspawnctl e2e scenarios
After=network.target

[Service]
ExecStart=/bin/busybox httpd -f -p 80 -h /srv/www

[Install]
WantedBy=multi-user.target
`

// WebPage is the index page the derived tarball serves; scenarios that need
// to tell machines apart overwrite /srv/www/index.html inside a root.
const WebPage = "<h1>hello from an nspawnctl e2e guest</h1>\n"

// PrepareWebTarball copies the guest tarball into the test host and appends
// an enabled httpd unit and an index page to it, at WebTarballPath. Appending
// to the uncompressed tar (tar -r) costs a second, where unpacking and
// repacking would cost the 150 MB twice; on extraction the appended members
// are simply there too. The guest image itself stays unchanged, so its cache
// key does not move.
func (h *Host) PrepareWebTarball(ctx context.Context) error {
	if err := h.CopyGuestTarball(ctx, WebTarballPath); err != nil {
		return err
	}
	stage := "/var/tmp/web-stage"
	for path, content := range map[string]string{
		stage + "/etc/systemd/system/e2e-httpd.service": WebUnit,
		stage + "/srv/www/index.html":                   WebPage,
	} {
		if err := h.WriteFile(ctx, path, content, 0o644); err != nil {
			return err
		}
	}
	// --no-recursion and member paths only: no directory members, so the
	// extracted root keeps the image's directory modes.
	script := `set -e
cd "$1"
mkdir -p etc/systemd/system/multi-user.target.wants
ln -sf /etc/systemd/system/e2e-httpd.service etc/systemd/system/multi-user.target.wants/e2e-httpd.service
tar -rf "$2" --no-recursion --owner=0 --group=0 --numeric-owner \
  ./etc/systemd/system/e2e-httpd.service \
  ./etc/systemd/system/multi-user.target.wants/e2e-httpd.service \
  ./srv/www/index.html
cd / && rm -rf "$1"`
	if _, _, err := h.Exec(ctx, "sh", "-c", script, "sh", stage, WebTarballPath); err != nil {
		return fmt.Errorf("testhost: add the web server to %s: %w", WebTarballPath, err)
	}
	return nil
}

// Result is the outcome of a command inside the test host.
type Result struct {
	Stdout, Stderr string
	// Code is the exit code; -1 when the command did not run or was killed.
	Code int
	// Err is the error of a command that could not run at all (nil when it
	// ran and exited, whatever its code).
	Err      error
	Duration time.Duration
}

// String summarises the result for test messages.
func (r Result) String() string {
	s := fmt.Sprintf("exit %d after %s", r.Code, r.Duration.Round(time.Millisecond))
	if r.Err != nil {
		s += fmt.Sprintf(" (%v)", r.Err)
	}
	if t := strings.TrimSpace(r.Stdout); t != "" {
		s += "\nstdout:\n" + tailLines(t, 30)
	}
	if t := strings.TrimSpace(r.Stderr); t != "" {
		s += "\nstderr:\n" + tailLines(t, 30)
	}
	return s
}

// Run runs a command inside the test host and returns its outcome; a
// non-zero exit is not an error here, scenarios check Code themselves.
func (h *Host) Run(ctx context.Context, args ...string) Result {
	t0 := time.Now()
	out, errOut, err := h.Exec(ctx, args...)
	r := Result{Stdout: out, Stderr: errOut, Duration: time.Since(t0)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		r.Code = ee.ExitCode()
	default:
		r.Code, r.Err = -1, err
	}
	return r
}

// Nspawnctl runs the installed nspawnctl inside the test host.
func (h *Host) Nspawnctl(ctx context.Context, args ...string) Result {
	return h.Run(ctx, append([]string{NspawnctlPath}, args...)...)
}

// HostGet fetches url with curl inside the test host (its localhost and its
// own addresses), bounded to 3 seconds.
func (h *Host) HostGet(ctx context.Context, url string) (string, error) {
	out, _, err := h.Exec(ctx, "curl", "-sS", "-g", "--fail", "--max-time", "3", url)
	return out, err
}

// ClientGet fetches url with curl from the client namespace, bounded to 3
// seconds. -g keeps curl from reading an IPv6 literal's brackets as a glob.
func (h *Host) ClientGet(ctx context.Context, url string) (string, error) {
	out, _, err := h.ClientExec(ctx, "curl", "-sS", "-g", "--fail", "--max-time", "3", url)
	return out, err
}

// WaitGet calls get(url) until the body contains want or timeout passes,
// and returns the body and how long it took.
func WaitGet(ctx context.Context, get func(context.Context, string) (string, error), url, want string, timeout time.Duration) (string, time.Duration, error) {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		body, err := get(ctx, url)
		if err == nil && strings.Contains(body, want) {
			return body, time.Since(t0), nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("body %q lacks %q", tailLines(body, 3), want)
		}
		select {
		case <-ctx.Done():
			return "", time.Since(t0), fmt.Errorf("GET %s: no answer containing %q within %s (last: %s)", url, want, timeout, last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// WaitRefused calls get(url) until it fails (the forward is gone) or timeout
// passes.
func WaitRefused(ctx context.Context, get func(context.Context, string) (string, error), url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		body, err := get(ctx, url)
		if err != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s still answers after %s: %q", url, timeout, tailLines(body, 3))
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// WaitUnitState waits until the unit's ActiveState is one of want.
func (h *Host) WaitUnitState(ctx context.Context, unit string, timeout time.Duration, want ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		out, _, _ := h.Exec(ctx, "systemctl", "show", unit, "--property=ActiveState", "--value")
		last = strings.TrimSpace(out)
		for _, w := range want {
			if last == w {
				return last, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("unit %s is %q, not %v, after %s", unit, last, want, timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// MachineLeader returns machined's Leader PID of a running machine (0 and an
// error when it is not registered).
func (h *Host) MachineLeader(ctx context.Context, name string) (int, error) {
	out, _, err := h.Exec(ctx, "machinectl", "show", name, "--property=Leader", "--value")
	if err != nil {
		return 0, err
	}
	var pid int
	if _, err := fmt.Sscan(strings.TrimSpace(out), &pid); err != nil {
		return 0, fmt.Errorf("machinectl show %s: Leader %q: %w", name, out, err)
	}
	return pid, nil
}

// NftOwn returns the lines of the test host's ruleset that belong to
// nspawnctl (any object or element mentioning it) or are elements of any
// set or map: systemd's own io.systemd.nat layout without elements is what
// is left when no machine runs, so everything else is someone's forward or
// masquerade entry.
func (h *Host) NftOwn(ctx context.Context) ([]string, error) {
	out, _, err := h.Exec(ctx, "nft", "list", "ruleset")
	if err != nil {
		return nil, err
	}
	var own []string
	inElems := false
	for _, l := range strings.Split(out, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "elements = {"):
			inElems = !strings.HasSuffix(t, "}")
			own = append(own, t)
		case inElems:
			inElems = !strings.HasSuffix(t, "}")
			own = append(own, t)
		case strings.Contains(t, "nspawnctl"):
			own = append(own, t)
		}
	}
	return own, nil
}

// Snapshot lists what a machine's lifecycle may leave on the test host:
// files under /etc/systemd, /var/lib/nspawnctl and /var/lib/machines,
// nspawnctl's nft objects and every set element (NftOwn), the tables, the
// links networkd knows, and the loaded systemd-nspawn@ units. Two snapshots
// are compared with DiffSnapshots.
func (h *Host) Snapshot(ctx context.Context) ([]string, error) {
	var out []string
	// A machine's root is listed as its directory only: what is inside
	// goes with it.
	files, _, err := h.Sh(ctx, `{ find /etc/systemd /var/lib/nspawnctl /run/systemd/system -xdev; find /var/lib/machines -maxdepth 1; } 2>/dev/null | sort; true`)
	if err != nil {
		return nil, err
	}
	for _, f := range strings.Fields(files) {
		out = append(out, "file "+f)
	}
	own, err := h.NftOwn(ctx)
	if err != nil {
		return nil, err
	}
	for _, l := range own {
		out = append(out, "nft "+l)
	}
	tables, _, err := h.Exec(ctx, "nft", "list", "tables")
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(strings.TrimSpace(tables), "\n") {
		if l != "" && !strings.Contains(l, "io.systemd.nat") {
			out = append(out, "nft "+l) // systemd's own table may appear and stay
		}
	}
	links, _, err := h.Exec(ctx, "networkctl", "list", "--no-legend")
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(links, "\n") {
		if f := strings.Fields(l); len(f) >= 2 {
			out = append(out, "link "+f[1])
		}
	}
	units, _, err := h.Exec(ctx, "systemctl", "list-units", "--all", "--no-legend", "--plain", "systemd-nspawn@*", "nspawnctl*")
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(units, "\n") {
		if f := strings.Fields(l); len(f) >= 1 {
			out = append(out, "unit "+f[0])
		}
	}
	sort.Strings(out)
	return out, nil
}

// DiffSnapshots returns the entries only in before ("-") and only in after
// ("+"), skipping those ignore accepts.
func DiffSnapshots(before, after []string, ignore func(string) bool) []string {
	in := func(list []string) map[string]bool {
		m := map[string]bool{}
		for _, s := range list {
			m[s] = true
		}
		return m
	}
	b, a := in(before), in(after)
	var d []string
	for _, s := range before {
		if !a[s] && (ignore == nil || !ignore(s)) {
			d = append(d, "- "+s)
		}
	}
	for _, s := range after {
		if !b[s] && (ignore == nil || !ignore(s)) {
			d = append(d, "+ "+s)
		}
	}
	return d
}
