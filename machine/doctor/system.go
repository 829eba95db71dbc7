package doctor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nspawnctl/nspawnctl/internal/host"
	"github.com/nspawnctl/nspawnctl/networkd"
)

// System is the real HostView: files and sysctls under Root, links from
// rtnetlink with networkd's state from its D-Bus API (or, without a bus, from
// the state files libsystemd's sd-network API reads), units and systemd's
// version over systemd's D-Bus API, and the ruleset from "nft -j".
//
// Every probe is bounded by Timeout and fails on its own: a host without
// systemd still gets its sysctls, files, links and firewall checked.
type System struct {
	// Root prefixes every file path; empty means "/". Sysctls, links, units
	// and the ruleset always come from the running system.
	Root string
	// Timeout bounds each D-Bus call and each nft run (default 10s).
	Timeout time.Duration
	// Bus is the command's one system-bus connection, which the probes of
	// systemd and networkd share with every other D-Bus call of the
	// command; its owner closes it. Nil when the bus could not be reached.
	Bus *host.Bus
	// BusErr is why Bus is nil; the checks that need systemd report it.
	BusErr error
}

// NewSystem returns the view of the running host over bus, or, with bus
// nil, without D-Bus for the reason busErr.
func NewSystem(bus *host.Bus, busErr error) *System { return &System{Bus: bus, BusErr: busErr} }

// noBus is the error of a probe that needs the bus when there is none. It
// names godbus's own reason, not host.DialSystemBus's advice: a check's
// detail line says what failed, and the check's remedy what to do.
func (s *System) noBus() error {
	reason := s.BusErr
	var de *host.DialError
	if errors.As(reason, &de) {
		reason = de.Reason
	}
	if reason == nil {
		reason = errors.New("no connection was opened")
	}
	return fmt.Errorf("connect to systemd over the system bus: %w", reason)
}

func (s *System) ctx() (context.Context, context.CancelFunc) {
	t := s.Timeout
	if t <= 0 {
		t = 10 * time.Second
	}
	return context.WithTimeout(context.Background(), t)
}

func (s *System) path(p string) string { return filepath.Join(s.rootDir(), p) }

func (s *System) rootDir() string {
	if s.Root == "" {
		return "/"
	}
	return s.Root
}

// ReadFile implements HostView.
func (s *System) ReadFile(p string) ([]byte, error) { return os.ReadFile(s.path(p)) }

// Glob implements HostView.
func (s *System) Glob(pattern string) ([]string, error) {
	m, err := filepath.Glob(s.path(pattern))
	if err != nil {
		return nil, err
	}
	for i := range m {
		rel, _ := filepath.Rel(s.rootDir(), m[i])
		m[i] = "/" + rel
	}
	sort.Strings(m)
	return m, nil
}

// Sysctl implements HostView. It reads /proc/sys of the calling process's
// network namespace, which is the host's when nspawnctl runs on the host.
func (s *System) Sysctl(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join("/proc/sys", name))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// KernelRelease implements HostView.
func (s *System) KernelRelease() (string, error) { return s.Sysctl("kernel/osrelease") }

// Processes implements HostView.
func (s *System) Processes() ([]string, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*/comm")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue // the process exited meanwhile
		}
		out = append(out, strings.TrimSpace(string(b)))
	}
	if len(out) == 0 {
		return nil, errors.New("no processes visible in /proc (is /proc mounted?)")
	}
	sort.Strings(out)
	return out, nil
}

// Ruleset implements HostView by running "nft -j list ruleset".
func (s *System) Ruleset() ([]byte, error) {
	nft, err := exec.LookPath("nft")
	if err != nil {
		return nil, fmt.Errorf("nft is not installed (%w): install the nftables package to let doctor read the firewall", ErrUnsupported)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, nft, "-j", "list", "ruleset")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("nft -j list ruleset: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Unit implements HostView.
func (s *System) Unit(name string) (Unit, error) {
	if s.Bus == nil {
		return Unit{}, s.noBus()
	}
	ctx, cancel := s.ctx()
	defer cancel()
	u, err := host.NewSystemdStatus(s.Bus).Unit(ctx, name)
	if err != nil {
		return Unit{}, err
	}
	return Unit(u), nil
}

// SystemdVersion implements HostView: the Manager's Version property, or
// "systemctl --version" when the bus cannot be reached.
func (s *System) SystemdVersion() (string, error) {
	if s.Bus != nil {
		ctx, cancel := s.ctx()
		v, err := host.NewSystemdStatus(s.Bus).Version(ctx)
		cancel()
		if err == nil {
			return v, nil
		}
	}
	// A fresh timeout: the bus may have used up its own.
	ctx, cancel := s.ctx()
	defer cancel()
	return networkd.SystemdVersionLine(ctx)
}

// Links implements HostView.
func (s *System) Links() ([]Link, error) {
	nl, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links over rtnetlink: %w", err)
	}
	states := s.networkdStates()
	var out []Link
	for _, l := range nl {
		a := l.Attrs()
		kind := l.Type()
		if kind == "device" {
			kind = ""
		}
		link := Link{Index: a.Index, Name: a.Name, Kind: kind}
		if st, ok := states[a.Index]; ok {
			link.SetupState, link.OperState, link.NetworkFile = st.SetupState, st.OperState, st.NetworkFile
		}
		out = append(out, link)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}

// networkdStates asks networkd over D-Bus for each link's states, falling
// back to networkd's state files; an empty map means networkd is unknown.
func (s *System) networkdStates() map[int]Link {
	if m, err := s.networkdStatesDBus(); err == nil {
		return m
	}
	return s.networkdStatesFiles()
}

func (s *System) networkdStatesDBus() (map[int]Link, error) {
	if s.Bus == nil {
		return nil, s.noBus()
	}
	ctx, cancel := s.ctx()
	defer cancel()
	links, err := host.NewNetworkdBus(s.Bus).Links(ctx)
	if err != nil {
		return nil, err
	}
	out := map[int]Link{}
	for _, l := range links {
		out[l.Index] = Link{SetupState: l.AdministrativeState, OperState: l.OperationalState}
	}
	return out, nil
}

// networkdStatesFiles reads /run/systemd/netif/links/IFINDEX, the files
// networkd writes for sd_network_link_get_setup_state(3) and friends.
func (s *System) networkdStatesFiles() map[int]Link {
	out := map[int]Link{}
	files, _ := filepath.Glob(s.path("/run/systemd/netif/links/*"))
	for _, f := range files {
		idx, err := strconv.Atoi(filepath.Base(f))
		if err != nil {
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		var st Link
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), "=")
			switch k {
			case "ADMIN_STATE":
				st.SetupState = v
			case "OPER_STATE":
				st.OperState = v
			case "NETWORK_FILE":
				st.NetworkFile = v
			}
		}
		_ = fh.Close()
		out[idx] = st
	}
	return out
}
