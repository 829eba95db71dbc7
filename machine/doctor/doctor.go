// Package doctor checks a host against what systemd-nspawn container
// networking needs (systemd-networkd managing the ve-/vz-/vb- links,
// forwarding, a host firewall that lets DNS, DHCP and LLMNR in from those
// links, nss-mymachines, a firewall reload that does not silently wipe the
// port forwards, a systemd new enough for the features the configuration
// uses) and says, for every failure, what to change.
//
// The core, [Run], is pure: it reads the host only through a [HostView], so
// every check is tested against fake hosts. [System] is the real view.
package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/nspawnctl/nspawnctl/machine/resolve"
	"github.com/nspawnctl/nspawnctl/nat"
)

// Status is the outcome of one check.
type Status string

// The outcomes of a check. Only StatusFail makes the report fail: a warning
// is something doctor could not decide or that only matters in some setups.
const (
	StatusOK   Status = "ok"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
	StatusSkip Status = "skip"
)

// Check is the result of one check.
type Check struct {
	// ID names the check, stable across releases (scripts match on it).
	ID     string `json:"id"`
	Status Status `json:"status"`
	// Summary is one line saying what was found.
	Summary string `json:"summary"`
	// Detail explains the finding (may span lines).
	Detail string `json:"detail,omitempty"`
	// Remedy says what to change; set for every warn and fail.
	Remedy string `json:"remedy,omitempty"`
}

// Report is the outcome of a doctor run, one Check per line, in a fixed order.
type Report struct {
	Checks []Check `json:"checks"`
}

// Failed reports whether any check failed (warnings do not count).
func (r Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Status == StatusFail {
			return true
		}
	}
	return false
}

// Count returns how many checks ended with status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == s {
			n++
		}
	}
	return n
}

// Options says what Run knows beyond the host itself.
type Options struct {
	// Config is the user's resolved configuration, or nil when doctor runs
	// without configuration files; the feature and version checks then only
	// cover what nspawnctl always renders.
	Config *resolve.Resolved
	// Forwards are the port forwards known to be installed (nspawnctl's NAT
	// store), used for the firewall bypass warning when Config is nil.
	Forwards []nat.Machine
	// Running are the machines nspawnctl's NAT store has up: their forwards
	// and outbound NAT must be in the kernel (check nat-state).
	Running []nat.Machine
}

// Run checks the host seen through h and returns the report. It never
// panics on a failing probe: what cannot be read becomes a skip or a warning
// saying what to look at by hand.
func Run(h HostView, opts Options) Report {
	var r Report
	add := func(cs ...Check) { r.Checks = append(r.Checks, cs...) }
	ver, verCheck := checkSystemd(h)
	add(verCheck)
	add(checkNetworkd(h))
	add(checkNetworkdLinks(h))
	add(checkOtherManagers(h))
	add(checkForwarding(h, ver)...)
	add(checkFirewall(h, usesMDNS(opts.Config)))
	add(checkNSS(h))
	add(checkNftablesFlush(h))
	add(checkNATState(h, opts.Running))
	add(checkFeatures(h, ver, opts.Config)...)
	add(checkPrefixDelegation(h, opts.Config)...)
	add(checkForwardBypass(opts))
	add(checkExposure(h, opts))
	return r
}

// JSON renders the report as indented JSON, one object with a "checks" array
// and the counts, ending in a newline.
func (r Report) JSON() []byte {
	out := struct {
		Checks []Check `json:"checks"`
		OK     int     `json:"ok"`
		Warn   int     `json:"warn"`
		Fail   int     `json:"fail"`
		Skip   int     `json:"skip"`
	}{r.Checks, r.Count(StatusOK), r.Count(StatusWarn), r.Count(StatusFail), r.Count(StatusSkip)}
	if out.Checks == nil {
		out.Checks = []Check{}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		// Only strings and ints: marshalling cannot fail.
		panic(err)
	}
	return append(b, '\n')
}

// WriteText writes the report for a terminal: one aligned line per check,
// indented under it its detail and, for checks that are not ok, the remedy,
// and a closing line with the counts.
func (r Report) WriteText(w io.Writer) error {
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.ID))
	}
	var b strings.Builder
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "%-4s  %-*s  %s\n", statusLabel(c.Status), width, c.ID, c.Summary)
		indent := strings.Repeat(" ", 6+width+2)
		for _, l := range lines(c.Detail) {
			b.WriteString(indent + l + "\n")
		}
		if c.Status == StatusOK {
			continue
		}
		for i, l := range lines(c.Remedy) {
			if i == 0 {
				b.WriteString(indent + "fix: " + l + "\n")
			} else {
				b.WriteString(indent + "     " + l + "\n")
			}
		}
	}
	fmt.Fprintf(&b, "\n%d ok, %d warning(s), %d failed, %d skipped\n", r.Count(StatusOK), r.Count(StatusWarn), r.Count(StatusFail), r.Count(StatusSkip))
	_, err := io.WriteString(w, b.String())
	return err
}

// statusLabel makes failures stand out in text output.
func statusLabel(s Status) string {
	if s == StatusFail {
		return "FAIL"
	}
	return string(s)
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}
