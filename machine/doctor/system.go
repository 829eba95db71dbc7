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

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"github.com/vishvananda/netlink"

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

	sdConn  *sd.Conn
	sdErr   error
	busConn *dbus.Conn
	busErr  error
}

// NewSystem returns the view of the running host.
func NewSystem() *System { return &System{} }

// Close releases the D-Bus connections the probes opened.
func (s *System) Close() {
	if s.sdConn != nil {
		s.sdConn.Close()
		s.sdConn = nil
	}
	if s.busConn != nil {
		_ = s.busConn.Close()
		s.busConn = nil
	}
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

// systemd returns the go-systemd connection, connecting once.
func (s *System) systemd() (*sd.Conn, error) {
	if s.sdConn == nil && s.sdErr == nil {
		// The context given to the connection bounds its whole life, so it
		// cannot carry a timeout; a missing bus socket fails at once anyway.
		s.sdConn, s.sdErr = sd.NewSystemConnectionContext(context.Background())
		if s.sdErr != nil {
			s.sdErr = fmt.Errorf("connect to systemd over the system bus: %w", s.sdErr)
		}
	}
	return s.sdConn, s.sdErr
}

// Unit implements HostView.
func (s *System) Unit(name string) (Unit, error) {
	conn, err := s.systemd()
	if err != nil {
		return Unit{}, err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	props, err := conn.GetUnitPropertiesContext(ctx, name)
	if err != nil {
		return Unit{}, fmt.Errorf("read the properties of %s: %w", name, err)
	}
	str := func(k string) string { v, _ := props[k].(string); return v }
	u := Unit{LoadState: str("LoadState"), ActiveState: str("ActiveState"), UnitFileState: str("UnitFileState"), FragmentPath: str("FragmentPath")}
	u.DropInPaths, _ = props["DropInPaths"].([]string)
	return u, nil
}

// SystemdVersion implements HostView: the Manager's Version property, or
// "systemctl --version" when the bus cannot be reached.
func (s *System) SystemdVersion() (string, error) {
	if conn, err := s.systemd(); err == nil {
		if v, err := conn.GetManagerProperty("Version"); err == nil {
			return strings.Trim(v, `"`), nil
		}
	}
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
	if s.busConn == nil && s.busErr == nil {
		s.busConn, s.busErr = dbus.ConnectSystemBus()
	}
	if s.busErr != nil {
		return nil, s.busErr
	}
	ctx, cancel := s.ctx()
	defer cancel()
	mgr := s.busConn.Object("org.freedesktop.network1", "/org/freedesktop/network1")
	var links []struct {
		Index int32
		Name  string
		Path  dbus.ObjectPath
	}
	if err := mgr.CallWithContext(ctx, "org.freedesktop.network1.Manager.ListLinks", 0).Store(&links); err != nil {
		return nil, err
	}
	out := map[int]Link{}
	for _, l := range links {
		obj := s.busConn.Object("org.freedesktop.network1", l.Path)
		var st Link
		if v, err := obj.GetProperty("org.freedesktop.network1.Link.AdministrativeState"); err == nil {
			st.SetupState, _ = v.Value().(string)
		}
		if v, err := obj.GetProperty("org.freedesktop.network1.Link.OperationalState"); err == nil {
			st.OperState, _ = v.Value().(string)
		}
		out[int(l.Index)] = st
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
