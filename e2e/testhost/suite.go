package testhost

import (
	"fmt"
	"slices"
	"strings"
)

// EnvSuite selects the Debian suite of the test hosts a run boots (see
// Suites); unset means DefaultSuite. e2e/run.sh sets it for the matrix runs.
const EnvSuite = "NSPAWNCTL_E2E_SUITE"

// DefaultSuite is the suite of the test hosts when neither Config.Suite nor
// NSPAWNCTL_E2E_SUITE names one: Debian 12, systemd 252.
const DefaultSuite = "bookworm"

// Suite is a Debian release the harness can boot as a test host, and what
// booting it on this machine (nspawn 252, hybrid cgroups) takes.
type Suite struct {
	// Name is the Debian suite (codename), e.g. "trixie".
	Name string
	// Systemd is the systemd major version the suite ships, for logs and docs.
	Systemd int
	// UnifiedCgroups makes the outer nspawn give the test host a pure cgroup2
	// hierarchy (SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1). systemd 262 refuses the
	// machine's hybrid layout ("Detected unsupported legacy cgroup hierarchy");
	// 257 boots either way but is tainted "cgroupsv1" in hybrid, and its users
	// run it unified, so both newer suites get it. The cgroup2 inside then has
	// no controllers (they are bound to v1 out here): memory, CPU and task
	// limits are not enforced in such a test host.
	UnifiedCgroups bool
	// AptOptions go to mmdebstrap --aptopt. sid's Release file can be past
	// its Valid-Until by the machine's clock.
	AptOptions []string
}

// Suites are the test hosts the e2e matrix runs on.
var Suites = []Suite{
	{Name: "bookworm", Systemd: 252},
	{Name: "trixie", Systemd: 257, UnifiedCgroups: true},
	{Name: "sid", Systemd: 262, UnifiedCgroups: true, AptOptions: []string{`Acquire::Check-Valid-Until "false"`}},
}

// LookupSuite returns the suite named name, or an error listing the known ones.
func LookupSuite(name string) (Suite, error) {
	i := slices.IndexFunc(Suites, func(s Suite) bool { return s.Name == name })
	if i < 0 {
		names := make([]string, len(Suites))
		for j, s := range Suites {
			names[j] = s.Name
		}
		return Suite{}, fmt.Errorf("testhost: unknown suite %q (%s): use one of %s", name, EnvSuite, strings.Join(names, ", "))
	}
	return Suites[i], nil
}

// imageName is the cache name of an image of this suite. The default suite
// keeps the plain name, so its cached images stay valid. Other suites put
// their name first: "trixie-testhost", not "testhost-trixie", which an older
// harness's leftover sweep ("testhost-*.tmp*") would match.
func (s Suite) imageName(base string) string {
	if s.Name == DefaultSuite {
		return base
	}
	return s.Name + "-" + base
}

// String is "trixie (systemd 257)".
func (s Suite) String() string { return fmt.Sprintf("%s (systemd %d)", s.Name, s.Systemd) }
