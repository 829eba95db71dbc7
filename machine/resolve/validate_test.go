package resolve_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/hashicorp/hcl/v2"

	"github.com/nspawnctl/nspawnctl/internal/golden"
	"github.com/nspawnctl/nspawnctl/machine/config"
	"github.com/nspawnctl/nspawnctl/machine/render"
	"github.com/nspawnctl/nspawnctl/machine/resolve"
)

// testFacts are the fixed host facts every fixture is validated with, so that
// allocations (and therefore golden files) do not depend on the machine the
// tests run on. Taken holds one prefix of the default pool, so that the
// allocator's avoidance of host addresses is exercised too.
var testFacts = resolve.HostFacts{
	MachineID: [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef},
	Taken:     []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")},
}

// expectation is one diagnostic a fixture expects: its file, line, severity
// and a substring of its summary or detail.
type expectation struct {
	file     string
	line     int
	severity hcl.DiagnosticSeverity
	substr   string
}

func (e expectation) String() string {
	sev := "ERROR"
	if e.severity == hcl.DiagWarning {
		sev = "WARNING"
	}
	return fmt.Sprintf("%s:%d: %s: %s", filepath.Base(e.file), e.line, sev, e.substr)
}

// markers are the inline comments that announce a diagnostic on their line.
var markers = []struct {
	text     string
	severity hcl.DiagnosticSeverity
}{
	{"# ERROR: ", hcl.DiagError},
	{"# WARNING: ", hcl.DiagWarning},
}

// fixtureFiles returns the configuration files of a fixture: the file
// itself, or every configuration file of a fixture directory.
func fixtureFiles(t *testing.T, path string) []string {
	t.Helper()
	files, err := config.ExpandPaths([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// readExpectations collects the expected diagnostics of the given files:
// inline markers in HCL files, and "LINE: substring" lines (optionally
// "LINE: WARNING: substring") in NAME.hcl.json.errors for JSON files, which
// cannot hold comments.
func readExpectations(t *testing.T, files []string) []expectation {
	t.Helper()
	var out []expectation
	for _, f := range files {
		if strings.HasSuffix(f, ".json") {
			out = append(out, readJSONExpectations(t, f)...)
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			for _, m := range markers {
				rest := line
				for {
					k := strings.Index(rest, m.text)
					if k < 0 {
						break
					}
					rest = rest[k+len(m.text):]
					sub := rest
					// Several markers may share a line: "# ERROR: a # ERROR: b".
					if n := strings.Index(sub, " # "); n >= 0 {
						sub = sub[:n]
					}
					out = append(out, expectation{file: f, line: i + 1, severity: m.severity, substr: strings.TrimSpace(sub)})
				}
			}
		}
	}
	return out
}

func readJSONExpectations(t *testing.T, file string) []expectation {
	t.Helper()
	src, err := os.ReadFile(file + ".errors")
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []expectation
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		num, sub, ok := strings.Cut(line, ":")
		n, err := strconv.Atoi(strings.TrimSpace(num))
		if !ok || err != nil {
			t.Fatalf("%s.errors: %q is not LINE: substring", file, line)
		}
		e := expectation{file: file, line: n, severity: hcl.DiagError, substr: strings.TrimSpace(sub)}
		if rest, isWarn := strings.CutPrefix(e.substr, "WARNING:"); isWarn {
			e.severity, e.substr = hcl.DiagWarning, strings.TrimSpace(rest)
		}
		out = append(out, e)
	}
	return out
}

// loadAndValidate runs what the CLI runs: load, and validate only when
// loading found no error.
func loadAndValidate(files []string) (*resolve.Resolved, hcl.Diagnostics) {
	p := config.NewParser()
	cfg, diags := p.Load(files)
	if diags.HasErrors() {
		return nil, diags
	}
	r, vd := resolve.Validate(cfg, testFacts)
	return r, append(diags, vd...)
}

// checkDiagnosticShape asserts what every diagnostic must carry: a summary,
// a detail that is a sentence, and the range it is about.
func checkDiagnosticShape(t *testing.T, d *hcl.Diagnostic) {
	t.Helper()
	if strings.TrimSpace(d.Summary) == "" {
		t.Errorf("diagnostic without summary: %+v", d)
	}
	if d.Subject == nil || d.Subject.Filename == "" || d.Subject.Start.Line < 1 {
		t.Errorf("diagnostic %q has no subject range", d.Summary)
	}
	if !isSentence(d.Detail) {
		t.Errorf("diagnostic %q: detail %q is not a full sentence", d.Summary, d.Detail)
	}
}

// isSentence reports whether s looks like a sentence: some words, ending in
// a full stop (or a question mark), with no stray control characters.
func isSentence(s string) bool {
	s = strings.TrimSpace(s)
	if len(strings.Fields(s)) < 3 {
		return false
	}
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// matchDiagnostics compares diagnostics with expectations as sets of
// (file, line, severity, substring) and returns what is missing and extra.
func matchDiagnostics(diags hcl.Diagnostics, want []expectation) (missing []expectation, extra []string) {
	used := make([]bool, len(want))
	for _, d := range diags {
		if d.Subject == nil {
			extra = append(extra, fmt.Sprintf("(no range): %s: %s", d.Summary, d.Detail))
			continue
		}
		found := false
		for i, e := range want {
			if e.severity != d.Severity || e.line != d.Subject.Start.Line || filepath.Clean(e.file) != filepath.Clean(d.Subject.Filename) {
				continue
			}
			if strings.Contains(d.Summary, e.substr) || strings.Contains(d.Detail, e.substr) {
				used[i], found = true, true
			}
		}
		if !found {
			extra = append(extra, fmt.Sprintf("%s:%d: %s: %s", filepath.Base(d.Subject.Filename), d.Subject.Start.Line, d.Summary, d.Detail))
		}
	}
	for i, e := range want {
		if !used[i] {
			missing = append(missing, e)
		}
	}
	return missing, extra
}

// fixtures lists the cases under dir: files and directories, sorted.
func fixtures(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || config.IsConfigFile(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

func caseName(path string) string {
	return strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".json"), ".hcl")
}

// TestInvalidFixtures validates every configuration under testdata/invalid
// and checks that exactly the diagnostics its markers announce are reported,
// each at its line, and that no resolved configuration comes out.
func TestInvalidFixtures(t *testing.T) {
	cases := fixtures(t, "testdata/invalid")
	if len(cases) < 45 {
		t.Errorf("only %d invalid fixtures; the issue asks for at least 45 distinct cases", len(cases))
	}
	for _, path := range cases {
		t.Run(caseName(path), func(t *testing.T) {
			files := fixtureFiles(t, path)
			want := readExpectations(t, files)
			if !hasError(want) {
				t.Fatalf("fixture %s announces no error; add a # ERROR: marker (or a .errors file for JSON)", path)
			}
			r, diags := loadAndValidate(files)
			if r != nil {
				t.Errorf("Validate returned a resolved configuration despite errors")
			}
			for _, d := range diags {
				checkDiagnosticShape(t, d)
			}
			missing, extra := matchDiagnostics(diags, want)
			for _, e := range missing {
				t.Errorf("missing diagnostic %s", e)
			}
			for _, e := range extra {
				t.Errorf("unexpected diagnostic %s", e)
			}
		})
	}
}

func hasError(want []expectation) bool {
	for _, e := range want {
		if e.severity == hcl.DiagError {
			return true
		}
	}
	return false
}

// TestValidFixtures validates and renders every configuration under
// testdata/valid: no errors, exactly the announced warnings, and rendered
// artefacts equal to the golden file next to the fixture.
func TestValidFixtures(t *testing.T) {
	for _, path := range fixtures(t, "testdata/valid") {
		t.Run(caseName(path), func(t *testing.T) {
			files := fixtureFiles(t, path)
			r, diags := loadAndValidate(files)
			for _, d := range diags {
				checkDiagnosticShape(t, d)
			}
			missing, extra := matchDiagnostics(diags, readExpectations(t, files))
			for _, e := range missing {
				t.Errorf("missing diagnostic %s", e)
			}
			for _, e := range extra {
				t.Errorf("unexpected diagnostic %s", e)
			}
			if r == nil {
				t.Fatal("no resolved configuration")
			}
			arts, err := render.Render(r, render.RenderOptions{MachineID: testFacts.MachineID, StaticLeases: true})
			if err != nil {
				t.Fatalf("Render failed on a valid configuration: %v", err)
			}
			checkArtifacts(t, arts)
			golden.Check(t, filepath.Join("testdata/valid", caseName(path)+".golden"), dumpArtifacts(arts))
		})
	}
}

// dumpArtifacts renders artefacts as one text for a golden file.
func dumpArtifacts(arts []render.Artifact) []byte {
	var b bytes.Buffer
	for _, a := range arts {
		if a.Symlink != "" {
			fmt.Fprintf(&b, "=== %s -> %s (%s)\n", a.Path, a.Symlink, a.Owner)
			continue
		}
		fmt.Fprintf(&b, "=== %s %04o (%s)\n%s", a.Path, a.Mode, a.Owner, a.Content)
	}
	return b.Bytes()
}

// emittedSections are the section headers nspawnctl itself writes; any other
// line starting with '[' in a rendered file would be injected.
var emittedSections = map[string]bool{
	"[Exec]": true, "[Files]": true, "[Network]": true, "[Unit]": true, "[Service]": true,
	"[Match]": true, "[IPv6Prefix]": true, "[DHCPServer]": true, "[DHCPServerStaticLease]": true,
	"[DHCPPrefixDelegation]": true, "[NetDev]": true, "[Resolve]": true, "[Link]": true, "[Address]": true, "[Route]": true,
}

// artifactProblem returns what is wrong with a rendered artefact: a section
// header nspawnctl does not emit (raw pass-through sections are allowed when
// allowed lists them) or a control character in a line.
func artifactProblem(a render.Artifact, allowed map[string]bool) string {
	if a.Symlink != "" {
		if strings.ContainsFunc(a.Symlink, unicode.IsControl) || strings.ContainsFunc(a.Path, unicode.IsControl) {
			return "control character in a symlink"
		}
		return ""
	}
	if strings.ContainsFunc(a.Path, unicode.IsControl) {
		return fmt.Sprintf("control character in path %q", a.Path)
	}
	for i, line := range strings.Split(string(a.Content), "\n") {
		if strings.HasPrefix(line, "[") && !emittedSections[line] && !allowed[line] {
			return fmt.Sprintf("line %d %q is a section header nspawnctl does not emit", i+1, line)
		}
		if strings.ContainsFunc(line, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }) {
			return fmt.Sprintf("line %d %q contains a control character", i+1, line)
		}
		if strings.Contains(line, "\r") {
			return fmt.Sprintf("line %d contains a carriage return", i+1)
		}
	}
	return ""
}

func checkArtifacts(t *testing.T, arts []render.Artifact) {
	t.Helper()
	for _, a := range arts {
		if msg := artifactProblem(a, nil); msg != "" {
			t.Errorf("%s: %s", a.Path, msg)
		}
	}
}

// injectionPayloads are values that would start a new line, a new section or
// a continuation in a rendered unit file, written with HCL escapes.
var injectionPayloads = []string{
	`x\n[Service]\nExecStart=/bin/evil`,
	`x\r\nExecStart=/bin/evil`,
	`x\u0000y`,
	`x\u001b[31m`,
}

// injectionFields places PAYLOAD in every string attribute that reaches a
// rendered file (and in the others too, for good measure), one at a time.
var injectionFields = map[string]string{
	"machine_label":      `machine "PAYLOAD" {}`,
	"command":            "machine \"m\" {\n  command = [\"PAYLOAD\"]\n}",
	"bind":               "machine \"m\" {\n  bind = [\"/srvPAYLOAD\"]\n}",
	"bind_ro":            "machine \"m\" {\n  bind_ro = [\"/srv:/PAYLOAD\"]\n}",
	"environment_value":  "machine \"m\" {\n  environment = { K = \"PAYLOAD\" }\n}",
	"environment_key":    "machine \"m\" {\n  environment = { \"PAYLOAD\" = \"v\" }\n}",
	"capabilities":       "machine \"m\" {\n  capabilities = [\"CAP_NET_ADMINPAYLOAD\"]\n}",
	"drop_capabilities":  "machine \"m\" {\n  drop_capabilities = [\"PAYLOAD\"]\n}",
	"system_call_filter": "machine \"m\" {\n  system_call_filter = [\"@system-servicePAYLOAD\"]\n}",
	"private_users":      "machine \"m\" {\n  private_users = \"yesPAYLOAD\"\n}",
	"timeout_start":      "machine \"m\" {\n  timeout_start = \"90sPAYLOAD\"\n}",
	"timeout_stop":       "machine \"m\" {\n  timeout_stop = \"9PAYLOAD\"\n}",
	"activation":         "machine \"m\" {\n  activation = \"autoPAYLOAD\"\n}",
	"memory_max":         "machine \"m\" {\n  limits {\n    memory_max = \"1GPAYLOAD\"\n  }\n}",
	"cpu_quota":          "machine \"m\" {\n  limits {\n    cpu_quota = \"50%PAYLOAD\"\n  }\n}",
	"root_directory":     "machine \"m\" {\n  root {\n    directory = \"/srv/PAYLOAD\"\n  }\n}",
	"root_image":         "machine \"m\" {\n  root {\n    image = \"/srv/PAYLOAD.raw\"\n  }\n}",
	"root_tarball":       "machine \"m\" {\n  root {\n    tarball = \"/srv/PAYLOAD.tar\"\n  }\n}",
	"root_nixos_system":  "machine \"m\" {\n  root {\n    nixos_system = \"/nix/store/PAYLOAD\"\n  }\n}",
	"bootstrap_suite":    "machine \"m\" {\n  root {\n    bootstrap {\n      suite = \"bookwormPAYLOAD\"\n    }\n  }\n}",
	"bootstrap_mirror":   "machine \"m\" {\n  root {\n    bootstrap {\n      mirror = \"http://deb.debian.org/PAYLOAD\"\n    }\n  }\n}",
	"bootstrap_variant":  "machine \"m\" {\n  root {\n    bootstrap {\n      variant = \"minbasePAYLOAD\"\n    }\n  }\n}",
	"bootstrap_packages": "machine \"m\" {\n  root {\n    bootstrap {\n      packages = [\"nginxPAYLOAD\"]\n    }\n  }\n}",
	"network_mode":       "machine \"m\" {\n  network {\n    mode = \"vethPAYLOAD\"\n  }\n}",
	"network_zone":       "zone \"z\" {}\nmachine \"m\" {\n  network {\n    zone = \"zPAYLOAD\"\n  }\n}",
	"network_bridge":     "machine \"m\" {\n  network {\n    bridge = \"brPAYLOAD\"\n  }\n}",
	"network_macvlan":    "machine \"m\" {\n  network {\n    macvlan = [\"ethPAYLOAD\"]\n  }\n}",
	"network_ipvlan":     "machine \"m\" {\n  network {\n    ipvlan = [\"ethPAYLOAD\"]\n  }\n}",
	"host_address":       "machine \"m\" {\n  network {\n    host {\n      address = [\"10.1.0.1/24PAYLOAD\"]\n    }\n  }\n}",
	"host_pool":          "machine \"m\" {\n  network {\n    host {\n      pool = \"10.1.0.0/16PAYLOAD\"\n    }\n  }\n}",
	"host_masquerade":    "machine \"m\" {\n  network {\n    host {\n      masquerade = \"bothPAYLOAD\"\n    }\n  }\n}",
	"host_ipv6_prefix":   "machine \"m\" {\n  network {\n    host {\n      ipv6_prefix {\n        prefix = \"2001:db8::/64PAYLOAD\"\n      }\n    }\n  }\n}",
	"host_pd_uplink":     "machine \"m\" {\n  network {\n    host {\n      prefix_delegation {\n        uplink = \"eth0PAYLOAD\"\n      }\n    }\n  }\n}",
	"host_pd_subnet_id":  "machine \"m\" {\n  network {\n    host {\n      prefix_delegation {\n        subnet_id = \"0x1PAYLOAD\"\n      }\n    }\n  }\n}",
	"host_proxy_ndp":     "machine \"m\" {\n  network {\n    host {\n      proxy_ndp = [\"eth0PAYLOAD\"]\n    }\n  }\n}",
	"host_extra_value":   "machine \"m\" {\n  network {\n    host {\n      extra = { Network = { Domains = \"PAYLOAD\" } }\n    }\n  }\n}",
	"host_extra_list":    "machine \"m\" {\n  network {\n    host {\n      extra = { Network = { DNS = [\"1.1.1.1\", \"PAYLOAD\"] } }\n    }\n  }\n}",
	"host_extra_section": "machine \"m\" {\n  network {\n    host {\n      extra = { \"NetworkPAYLOAD\" = { A = \"b\" } }\n    }\n  }\n}",
	"host_extra_key":     "machine \"m\" {\n  network {\n    host {\n      extra = { Network = { \"APAYLOAD\" = \"b\" } }\n    }\n  }\n}",
	"container_address":  "machine \"m\" {\n  network {\n    container {\n      address = [\"10.1.0.2/24PAYLOAD\"]\n    }\n  }\n}",
	"container_gateway":  "machine \"m\" {\n  network {\n    container {\n      gateway = [\"fe80::1%PAYLOAD\"]\n    }\n  }\n}",
	"container_dhcp":     "machine \"m\" {\n  network {\n    container {\n      dhcp = \"yesPAYLOAD\"\n    }\n  }\n}",
	"container_dns":      "machine \"m\" {\n  network {\n    container {\n      dns = [\"fe80::1%PAYLOAD\"]\n    }\n  }\n}",
	"container_extra":    "machine \"m\" {\n  network {\n    container {\n      extra = { Route = { Gateway = \"PAYLOAD\" } }\n    }\n  }\n}",
	"forward_protocol":   "machine \"m\" {\n  forward_port {\n    host_port = 80\n    protocol = \"tcpPAYLOAD\"\n  }\n}",
	"forward_host_port":  "machine \"m\" {\n  forward_port {\n    host_port = \"80PAYLOAD\"\n  }\n}",
	"forward_cont_port":  "machine \"m\" {\n  forward_port {\n    host_port = 80\n    container_port = \"80PAYLOAD\"\n  }\n}",
	"forward_host_addr":  "machine \"m\" {\n  forward_port {\n    host_port = 80\n    host_address = \"fe80::1%PAYLOAD\"\n  }\n}",
	"forward_allow_from": "machine \"m\" {\n  forward_port {\n    host_port = 80\n    allow_from = [\"10.0.0.0/8PAYLOAD\"]\n  }\n}",
	"nebula_network":     "machine \"m\" {\n  nebula {\n    network = \"meshPAYLOAD\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n  }\n}",
	"nebula_ca":          "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/caPAYLOAD\"\n    ca_key = \"/ca.key\"\n  }\n}",
	"nebula_cert":        "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    cert = \"/certPAYLOAD\"\n    key = \"/key\"\n  }\n}",
	"nebula_key":         "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    cert = \"/cert\"\n    key = \"/keyPAYLOAD\"\n  }\n}",
	"nebula_ca_key":      "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/PAYLOAD\"\n  }\n}",
	"nebula_address":     "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n    address = \"10.42.0.5/24PAYLOAD\"\n  }\n}",
	"nebula_pool":        "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n    pool = \"10.42.0.0/24PAYLOAD\"\n  }\n}",
	"nebula_groups":      "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n    groups = [\"webPAYLOAD\"]\n  }\n}",
	"nebula_lighthouses": "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n    lighthouses = [\"10.42.0.1PAYLOAD\"]\n  }\n}",
	"nebula_device":      "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n    device = \"nebPAYLOAD\"\n  }\n}",
	"nebula_hostmap_key": "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n    static_host_map = { \"10.42.0.1PAYLOAD\" = [\"h:4242\"] }\n  }\n}",
	"nebula_hostmap_val": "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n    static_host_map = { \"10.42.0.1\" = [\"h:4242PAYLOAD\"] }\n  }\n}",
	"nebula_rule_host":   "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n    inbound {\n      host = \"anyPAYLOAD\"\n    }\n  }\n}",
	"nebula_rule_group":  "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n    inbound {\n      group = \"PAYLOAD\"\n    }\n  }\n}",
	"nebula_rule_groups": "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n    inbound {\n      groups = [\"PAYLOAD\"]\n    }\n  }\n}",
	"nebula_rule_cidr":   "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n    inbound {\n      cidr = \"10.0.0.0/8PAYLOAD\"\n    }\n  }\n}",
	"nebula_rule_caname": "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n    inbound {\n      ca_name = \"PAYLOAD\"\n    }\n  }\n}",
	"nebula_rule_casha":  "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n    inbound {\n      ca_sha = \"PAYLOAD\"\n    }\n  }\n}",
	"nebula_rule_local":  "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n    inbound {\n      host = \"any\"\n      local_cidr = \"10.0.0.0/8PAYLOAD\"\n    }\n  }\n}",
	"nebula_rule_port":   "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n    inbound {\n      host = \"any\"\n      port = \"80PAYLOAD\"\n    }\n  }\n}",
	"nebula_rule_proto":  "machine \"m\" {\n  nebula {\n    network = \"mesh\"\n    ca = \"/ca.crt\"\n    ca_key = \"/ca.key\"\n    inbound {\n      host = \"any\"\n      proto = \"tcpPAYLOAD\"\n    }\n  }\n}",
	"zone_label":         `zone "zPAYLOAD" {}`,
	"zone_address":       "zone \"z\" {\n  address = [\"10.2.0.1/24PAYLOAD\"]\n}",
	"zone_pool":          "zone \"z\" {\n  pool = \"10.2.0.0/16PAYLOAD\"\n}",
	"zone_masquerade":    "zone \"z\" {\n  masquerade = \"noPAYLOAD\"\n}",
	"zone_extra":         "zone \"z\" {\n  extra = { Network = { Domains = \"PAYLOAD\" } }\n}",
	"bridge_label":       `bridge "brPAYLOAD" {}`,
	"bridge_address":     "bridge \"br0\" {\n  address = [\"10.3.0.1/24PAYLOAD\"]\n}",
	"bridge_uplink":      "bridge \"br0\" {\n  uplink = \"eth0PAYLOAD\"\n}",
	"bridge_dhcp":        "bridge \"br0\" {\n  dhcp = \"noPAYLOAD\"\n}",
	"bridge_masquerade":  "bridge \"br0\" {\n  masquerade = \"noPAYLOAD\"\n}",
	"bridge_extra":       "bridge \"br0\" {\n  extra = { Network = { Domains = \"PAYLOAD\" } }\n}",
	"bridge_netdev":      "bridge \"br0\" {\n  netdev_extra = { Bridge = { STP = \"PAYLOAD\" } }\n}",
	"defaults_state_dir": "defaults {\n  state_dir = \"/var/PAYLOAD\"\n}",
	"defaults_mach_dir":  "defaults {\n  machines_dir = \"/var/PAYLOAD\"\n}",
	"defaults_ipv4_pool": "defaults {\n  ipv4_pool = \"10.0.0.0/16PAYLOAD\"\n}",
	"defaults_zone_pool": "defaults {\n  zone_ipv4_pool = \"10.0.0.0/16PAYLOAD\"\n}",
	"defaults_ula":       "defaults {\n  ula_prefix = \"fd00::/48PAYLOAD\"\n}",
	"defaults_neb_pool":  "defaults {\n  nebula_pool = \"10.42.0.0/16PAYLOAD\"\n}",
}

// TestInjectionEveryField puts each payload into each field and checks that
// validation reports an error on the field's line and resolves nothing.
func TestInjectionEveryField(t *testing.T) {
	names := make([]string, 0, len(injectionFields))
	for n := range injectionFields {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		tmpl := injectionFields[name]
		line := 0
		for i, l := range strings.Split(tmpl, "\n") {
			if strings.Contains(l, "PAYLOAD") {
				line = i + 1
			}
		}
		for i, payload := range injectionPayloads {
			t.Run(fmt.Sprintf("%s/%d", name, i), func(t *testing.T) {
				src := strings.Replace(tmpl, "PAYLOAD", payload, 1)
				p := config.NewParser()
				f, diags := p.ParseSource("inject.hcl", []byte(src))
				var r *resolve.Resolved
				if f != nil {
					cfg := &config.Config{Files: []string{"inject.hcl"}}
					cfg.Merge(f, &diags)
					var vd hcl.Diagnostics
					r, vd = resolve.Validate(cfg, testFacts)
					diags = append(diags, vd...)
				}
				if r != nil {
					t.Fatalf("configuration with %s = %q validated:\n%s", name, payload, src)
				}
				for _, d := range diags {
					if d.Severity == hcl.DiagError && d.Subject != nil && d.Subject.Start.Line == line {
						return
					}
				}
				t.Errorf("no error on line %d for %s; got %v", line, src, diags)
			})
		}
	}
}
