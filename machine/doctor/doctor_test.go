package doctor

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/golden"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
)

// fakeHost is a HostView described as plain data.
type fakeHost struct {
	files      map[string]string // absolute path -> contents; a directory is a key with "/" contents
	sysctls    map[string]string
	links      []Link
	linksErr   error
	units      map[string]Unit
	unitErr    error
	version    string
	versionErr error
	kernel     string
	ruleset    string
	rulesetErr error
	procs      []string
	procsErr   error
}

var errNoBus = errors.New("connect to systemd over the system bus: system bus not found")

func (f *fakeHost) ReadFile(p string) ([]byte, error) {
	s, ok := f.files[p]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return []byte(s), nil
}

func (f *fakeHost) Glob(pattern string) ([]string, error) {
	var out []string
	for p := range f.files {
		if ok, _ := filepath.Match(pattern, p); ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (f *fakeHost) Sysctl(name string) (string, error) {
	v, ok := f.sysctls[name]
	if !ok {
		return "", &fs.PathError{Op: "open", Path: "/proc/sys/" + name, Err: fs.ErrNotExist}
	}
	return v, nil
}

func (f *fakeHost) Links() ([]Link, error) { return f.links, f.linksErr }

func (f *fakeHost) Unit(name string) (Unit, error) {
	if f.unitErr != nil {
		return Unit{}, f.unitErr
	}
	u, ok := f.units[name]
	if !ok {
		return Unit{LoadState: "not-found", ActiveState: "inactive"}, nil
	}
	return u, nil
}

func (f *fakeHost) SystemdVersion() (string, error) { return f.version, f.versionErr }
func (f *fakeHost) KernelRelease() (string, error)  { return f.kernel, nil }
func (f *fakeHost) Processes() ([]string, error)    { return f.procs, f.procsErr }

func (f *fakeHost) Ruleset() ([]byte, error) {
	if f.rulesetErr != nil {
		return nil, f.rulesetErr
	}
	return []byte(f.ruleset), nil
}

func loadRuleset(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "rulesets", name+".json"))
	if err != nil {
		t.Fatalf("ruleset fixture %s: %v (run go test -update as root with nft installed to create it)", name, err)
	}
	return string(b)
}

// fixture is loadRuleset for places without a *testing.T; a missing fixture
// yields an unparsable ruleset, which the firewall check reports.
func fixture(name string) string {
	b, _ := os.ReadFile(filepath.Join("testdata", "rulesets", name+".json"))
	return string(b)
}

const debianNftablesService = `[Unit]
Description=nftables
[Service]
Type=oneshot
RemainAfterExit=yes
StandardInput=null
ProtectSystem=full
ProtectHome=true
ExecStart=/usr/sbin/nft -f /etc/nftables.conf
ExecReload=/usr/sbin/nft -f /etc/nftables.conf
ExecStop=/usr/sbin/nft flush ruleset
[Install]
WantedBy=sysinit.target
`

// healthyHost is a Debian 12 host after nspawnctl's setup, with three
// containers running (one veth, two on a zone).
func healthyHost(t *testing.T) *fakeHost {
	return &fakeHost{
		files: map[string]string{
			"/run/systemd/system":                               "/",
			"/etc/nsswitch.conf":                                "passwd: files systemd\ngroup: files systemd\nhosts:          files mymachines dns myhostname\n",
			"/lib/x86_64-linux-gnu/libnss_mymachines.so.2":      "ELF",
			"/lib/systemd/system/nftables.service":              debianNftablesService,
			"/etc/nftables.conf":                                "#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n}\n",
			"/etc/systemd/system/nspawnctl-nat-restore.service": "[Unit]\n",
			"/etc/sysctl.conf":                                  "#net.ipv4.ip_forward=1\n",
			"/proc/net/ip_tables_names":                         "",
		},
		sysctls: map[string]string{"net/ipv4/ip_forward": "1", "net/ipv6/conf/all/forwarding": "1"},
		links: []Link{
			{Index: 1, Name: "lo", SetupState: "unmanaged", OperState: "carrier"},
			{Index: 2, Name: "eth0", SetupState: "unmanaged", OperState: "routable"},
			{Index: 5, Name: "ve-web", Kind: "veth", SetupState: "configured", OperState: "routable"},
			{Index: 6, Name: "vz-lan", Kind: "bridge", SetupState: "configured", OperState: "routable"},
			{Index: 7, Name: "vb-db", Kind: "veth", SetupState: "configured", OperState: "enslaved"},
		},
		units: map[string]Unit{
			"systemd-networkd.service":      {LoadState: "loaded", ActiveState: "active", UnitFileState: "enabled", FragmentPath: "/lib/systemd/system/systemd-networkd.service"},
			"nftables.service":              {LoadState: "loaded", ActiveState: "active", UnitFileState: "enabled", FragmentPath: "/lib/systemd/system/nftables.service"},
			"nspawnctl-nat-restore.service": {LoadState: "loaded", ActiveState: "active", UnitFileState: "enabled", FragmentPath: "/etc/systemd/system/nspawnctl-nat-restore.service"},
		},
		version: "252.39-1~deb12u1",
		kernel:  "6.1.0-18-amd64",
		ruleset: loadRuleset(t, "healthy"),
		procs:   []string{"bash", "dbus-daemon", "sshd", "systemd", "systemd-journal", "systemd-networkd", "systemd-resolved"},
	}
}

// brokenHost breaks every prerequisite at once.
func brokenHost(t *testing.T) *fakeHost {
	h := healthyHost(t)
	for _, c := range cases {
		if c.name != "no-systemd" && c.name != "old-systemd" && c.name != "no-bus" {
			c.breakIt(h)
		}
	}
	h.version = "245.4-4ubuntu3"
	h.kernel = "5.4.0-150-generic"
	return h
}

func loadConfig(t *testing.T) *resolve.Resolved {
	t.Helper()
	p := config.NewParser()
	cfg, diags := p.Load([]string{"testdata/config/features.hcl"})
	if diags.HasErrors() {
		t.Fatalf("testdata/config/features.hcl: %v", diags)
	}
	var facts resolve.HostFacts
	copy(facts.MachineID[:], []byte("0123456789abcdef"))
	r, diags := resolve.Validate(cfg, facts)
	if diags.HasErrors() {
		t.Fatalf("testdata/config/features.hcl: %v", diags)
	}
	return r
}

func text(t *testing.T, r Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestHealthyHost(t *testing.T) {
	r := Run(healthyHost(t), Options{})
	for _, c := range r.Checks {
		if c.Status != StatusOK && c.ID != "features" {
			t.Errorf("check %s is %s on a healthy host: %s\n%s", c.ID, c.Status, c.Summary, c.Detail)
		}
	}
	if r.Failed() {
		t.Errorf("a healthy host fails")
	}
	golden.Check(t, "testdata/healthy.txt", text(t, r))
	golden.Check(t, "testdata/healthy.json", r.JSON())
}

func TestBrokenHost(t *testing.T) {
	r := Run(brokenHost(t), Options{Config: loadConfig(t)})
	if !r.Failed() {
		t.Errorf("a host with everything broken passes")
	}
	for _, c := range r.Checks {
		if (c.Status == StatusWarn || c.Status == StatusFail) && c.Remedy == "" {
			t.Errorf("check %s is %s without a remedy", c.ID, c.Status)
		}
	}
	golden.Check(t, "testdata/broken.txt", text(t, r))
	golden.Check(t, "testdata/broken.json", r.JSON())
}

func TestConfigOnHealthyHost(t *testing.T) {
	r := Run(healthyHost(t), Options{Config: loadConfig(t)})
	want := map[string]Status{
		"feature/ipv6-prefix-assign": StatusOK, "feature/prefix-delegation": StatusOK, "feature/proxy-ndp": StatusOK,
		"feature/zone": StatusOK, "feature/ipv6-forwards": StatusOK, "feature/name-resolution": StatusOK,
		"forwards-firewall": StatusWarn, "firewall": StatusOK,
	}
	got := map[string]Status{}
	for _, c := range r.Checks {
		got[c.ID] = c.Status
	}
	for id, s := range want {
		if got[id] != s {
			t.Errorf("check %s: got %q, want %q", id, got[id], s)
		}
	}
	golden.Check(t, "testdata/config-healthy.txt", text(t, r))
}

// breakCase breaks one prerequisite of the healthy host; want lists the
// checks that must then report something else than ok.
type breakCase struct {
	name    string
	breakIt func(h *fakeHost)
	config  bool
	want    map[string]Status
}

func unit(h *fakeHost, name string, f func(u *Unit)) {
	u := h.units[name]
	f(&u)
	h.units[name] = u
}

var cases = []breakCase{
	{name: "no-systemd", breakIt: func(h *fakeHost) { delete(h.files, "/run/systemd/system") }, want: map[string]Status{"systemd": StatusFail}},
	{name: "old-systemd", config: true, breakIt: func(h *fakeHost) { h.version = "245.4-4ubuntu3"; h.kernel = "5.4.0-150-generic" }, want: map[string]Status{
		"systemd-version": StatusFail, "feature/ipv6-prefix-assign": StatusFail, "feature/prefix-delegation": StatusFail, "feature/ipv6-forwards": StatusFail,
	}},
	{name: "no-bus", breakIt: func(h *fakeHost) { h.unitErr = errNoBus; h.version = ""; h.versionErr = errNoBus }, want: map[string]Status{
		"systemd": StatusWarn, "networkd": StatusSkip, "nftables-flush": StatusSkip, "systemd-version": StatusSkip,
	}},
	{name: "networkd-stopped", breakIt: func(h *fakeHost) {
		unit(h, "systemd-networkd.service", func(u *Unit) { u.ActiveState = "inactive" })
	}, want: map[string]Status{"networkd": StatusFail}},
	{name: "networkd-masked", breakIt: func(h *fakeHost) {
		unit(h, "systemd-networkd.service", func(u *Unit) { u.LoadState, u.UnitFileState, u.ActiveState = "masked", "masked", "inactive" })
	}, want: map[string]Status{"networkd": StatusFail}},
	{name: "networkd-disabled", breakIt: func(h *fakeHost) {
		unit(h, "systemd-networkd.service", func(u *Unit) { u.UnitFileState = "disabled" })
	}, want: map[string]Status{"networkd": StatusWarn}},
	{name: "stock-files-masked", breakIt: func(h *fakeHost) {
		h.files["/etc/systemd/network/80-container-ve.network"] = ""
	}, want: map[string]Status{"networkd": StatusWarn}},
	{name: "link-unmanaged", breakIt: func(h *fakeHost) {
		h.links[2].SetupState = "unmanaged"
		h.links[4].SetupState = "failed"
	}, want: map[string]Status{"networkd-links": StatusFail}},
	{name: "link-configuring", breakIt: func(h *fakeHost) { h.links[3].SetupState = "configuring" }, want: map[string]Status{"networkd-links": StatusWarn}},
	{name: "dhcpcd", breakIt: func(h *fakeHost) { h.procs = append(h.procs, "dhcpcd") }, want: map[string]Status{"other-managers": StatusFail}},
	{name: "network-manager", breakIt: func(h *fakeHost) {
		h.procs = append(h.procs, "NetworkManager", "connmand")
	}, want: map[string]Status{"other-managers": StatusWarn}},
	{name: "ip-forward-off", breakIt: func(h *fakeHost) {
		h.sysctls["net/ipv4/ip_forward"] = "0"
		h.files["/etc/sysctl.d/99-hardening.conf"] = "net.ipv4.ip_forward = 0\n"
	}, want: map[string]Status{"forwarding-ipv4": StatusFail}},
	{name: "ipv6-forward-off", breakIt: func(h *fakeHost) { h.sysctls["net/ipv6/conf/all/forwarding"] = "0" }, want: map[string]Status{"forwarding-ipv6": StatusFail}},
	{name: "firewall-closed", breakIt: func(h *fakeHost) { h.ruleset = fixture("closed") }, want: map[string]Status{"firewall": StatusFail}},
	{name: "nsswitch-without-mymachines", breakIt: func(h *fakeHost) {
		h.files["/etc/nsswitch.conf"] = "hosts: files dns\n"
	}, want: map[string]Status{"nss-mymachines": StatusFail}},
	{name: "nftables-flush-without-restore", breakIt: func(h *fakeHost) {
		unit(h, "nspawnctl-nat-restore.service", func(u *Unit) { u.UnitFileState = "disabled" })
	}, want: map[string]Status{"nftables-flush": StatusFail}},
}

func TestBrokenPrerequisites(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := healthyHost(t)
			var opts Options
			if c.config {
				opts.Config = loadConfig(t)
			}
			before := map[string]Status{}
			for _, ch := range Run(h, opts).Checks {
				before[ch.ID] = ch.Status
			}
			c.breakIt(h)
			r := Run(h, opts)
			var changed Report
			for _, ch := range r.Checks {
				if want, ok := c.want[ch.ID]; ok {
					if ch.Status != want {
						t.Errorf("check %s: got %s (%s), want %s", ch.ID, ch.Status, ch.Summary, want)
					}
					if (ch.Status == StatusFail || ch.Status == StatusWarn) && ch.Remedy == "" {
						t.Errorf("check %s is %s without saying what to change", ch.ID, ch.Status)
					}
				} else if ch.Status != before[ch.ID] {
					t.Errorf("check %s changed from %s to %s (%s); add it to the case's want if that is right", ch.ID, before[ch.ID], ch.Status, ch.Summary)
				}
				if ch.Status != before[ch.ID] {
					changed.Checks = append(changed.Checks, ch)
				}
			}
			golden.Check(t, filepath.Join("testdata", "cases", c.name+".txt"), text(t, changed))
		})
	}
}

func TestNSSVariants(t *testing.T) {
	for _, tc := range []struct {
		name, nsswitch string
		procs          []string
		noLib          bool
		want           Status
	}{
		{name: "debian", nsswitch: "hosts: files mymachines resolve [!UNAVAIL=return] dns myhostname\n", want: StatusOK},
		{name: "after-dns", nsswitch: "hosts: files dns mymachines\n", want: StatusWarn},
		{name: "no-library", nsswitch: "hosts: files mymachines dns\n", noLib: true, want: StatusFail},
		{name: "nscd", nsswitch: "hosts: files mymachines dns\n", procs: []string{"nscd"}, want: StatusWarn},
		{name: "commented", nsswitch: "# hosts: files mymachines\nhosts: files dns\n", want: StatusFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := healthyHost(t)
			h.files["/etc/nsswitch.conf"] = tc.nsswitch
			h.procs = append(h.procs, tc.procs...)
			if tc.noLib {
				delete(h.files, "/lib/x86_64-linux-gnu/libnss_mymachines.so.2")
			}
			if c := checkNSS(h); c.Status != tc.want {
				t.Errorf("got %s (%s), want %s", c.Status, c.Summary, tc.want)
			}
		})
	}
}

func TestOtherManagersConfigured(t *testing.T) {
	h := healthyHost(t)
	h.procs = append(h.procs, "NetworkManager", "dhcpcd", "connmand")
	h.files["/etc/NetworkManager/conf.d/90-nspawnctl.conf"] = "[keyfile]\nunmanaged-devices=interface-name:ve-*;interface-name:vz-*;interface-name:vb-*\n"
	h.files["/etc/dhcpcd.conf"] = "hostname\ndenyinterfaces ve-* vz-* vb-*\n"
	h.files["/etc/connman/main.conf"] = "[General]\nNetworkInterfaceBlacklist = vmnet,ve-,vb-,vz-\n"
	if c := checkOtherManagers(h); c.Status != StatusOK {
		t.Errorf("got %s: %s\n%s", c.Status, c.Summary, c.Detail)
	}
}

func TestNftablesFlushVariants(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(h *fakeHost)
		want   Status
	}{
		{name: "no-flush-in-config", mutate: func(h *fakeHost) {
			h.files["/etc/nftables.conf"] = "table inet filter {\n}\n"
			delete(h.units, RestoreUnitName)
		}, want: StatusOK},
		{name: "flush-commented", mutate: func(h *fakeHost) {
			h.files["/etc/nftables.conf"] = "# flush ruleset\ntable inet filter {\n}\n"
			delete(h.units, RestoreUnitName)
		}, want: StatusOK},
		{name: "not-in-use", mutate: func(h *fakeHost) {
			unit(h, "nftables.service", func(u *Unit) { u.UnitFileState, u.ActiveState = "disabled", "inactive" })
			delete(h.units, RestoreUnitName)
		}, want: StatusOK},
		{name: "other-file-flushes", mutate: func(h *fakeHost) {
			h.files["/etc/systemd/system/nftables.service.d/file.conf"] = "[Service]\nExecStart=\nExecStart=/usr/sbin/nft -f /etc/firewall.nft\n"
			h.files["/etc/firewall.nft"] = "flush ruleset\n"
			h.files["/etc/nftables.conf"] = "table inet filter {\n}\n"
			unit(h, "nftables.service", func(u *Unit) { u.DropInPaths = []string{"/etc/systemd/system/nftables.service.d/file.conf"} })
			delete(h.units, RestoreUnitName)
		}, want: StatusFail},
		{name: "restore-not-installed", mutate: func(h *fakeHost) { delete(h.units, RestoreUnitName) }, want: StatusFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := healthyHost(t)
			tc.mutate(h)
			if c := checkNftablesFlush(h); c.Status != tc.want {
				t.Errorf("got %s (%s), want %s\n%s", c.Status, c.Summary, tc.want, c.Detail)
			}
		})
	}
}

func TestKernelOlder(t *testing.T) {
	if !kernelOlder("5.4.0-150-generic", "5.8") || kernelOlder("5.10.0", "5.8") || kernelOlder("6.1.0-18-amd64", "5.8") {
		t.Error("kernelOlder compares wrongly")
	}
}

// On systemd 256 and later a forwarding switch that is off points at
// networkd.conf: restart networkd when nspawnctl's drop-in is there, write
// one when it is not; 252 keeps the sysctl remedy.
func TestForwardingRemedyBySystemdVersion(t *testing.T) {
	byID := func(cs []Check) map[string]Check {
		out := map[string]Check{}
		for _, c := range cs {
			out[c.ID] = c
		}
		return out
	}
	h := healthyHost(t)
	h.sysctls["net/ipv6/conf/all/forwarding"] = "0"
	old := byID(checkForwarding(h, 252))["forwarding-ipv6"]
	if old.Status != StatusFail || strings.Contains(old.Remedy, "networkd.conf") {
		t.Errorf("252: %s, remedy %q", old.Status, old.Remedy)
	}
	c := byID(checkForwarding(h, 257))["forwarding-ipv6"]
	if c.Status != StatusFail || !strings.Contains(c.Remedy, "IPv6Forwarding=yes") || !strings.Contains(c.Detail, "ignores IPForward=") {
		t.Errorf("257 without the drop-in: %s, detail %q, remedy %q", c.Status, c.Detail, c.Remedy)
	}
	h.files["/etc/systemd/networkd.conf.d/nspawnctl-ipv6-forwarding.conf"] = "[Network]\nIPv6Forwarding=yes\n"
	c = byID(checkForwarding(h, 262))["forwarding-ipv6"]
	if !strings.HasPrefix(c.Remedy, "restart systemd-networkd") {
		t.Errorf("262 with the drop-in: remedy %q, want a networkd restart", c.Remedy)
	}
	if v4 := byID(checkForwarding(h, 262))["forwarding-ipv4"]; v4.Status != StatusOK {
		t.Errorf("forwarding-ipv4 = %s with ip_forward = 1", v4.Status)
	}
}
