package resolve

import (
	"strings"
	"testing"
)

// TestHostnameProblem covers systemd's hostname rules that machine names follow.
func TestHostnameProblem(t *testing.T) {
	long64 := strings.Repeat("a", 64)
	for name, wantOK := range map[string]bool{
		"web": true, "web-1": true, "Web.Example.org": true, "a": true, "1": true, "x1-2.y": true,
		long64: true, long64 + "a": false, strings.Repeat("a.", 32) + "b": false, strings.Repeat("ab.", 21) + "c": true,
		"": false, "-a": false, "a-": false, "a.-b": false, "a..b": false, ".a": false, "a.": false,
		"a_b": false, "a b": false, "é": false, "a\nb": false, ".host": false, "a/b": false,
	} {
		if got := hostnameProblem(name) == ""; got != wantOK {
			t.Errorf("hostnameProblem(%q) = %q, want ok=%v", name, hostnameProblem(name), wantOK)
		}
	}
}

// TestParsePortRange covers port and range syntax and the 1..65535 bounds.
func TestParsePortRange(t *testing.T) {
	for _, c := range []struct {
		in          string
		first, last uint16
		ok          bool
	}{
		{"80", 80, 80, true}, {"1", 1, 1, true}, {"65535", 65535, 65535, true},
		{"8000-8010", 8000, 8010, true}, {" 22 ", 22, 22, true}, {"5-5", 5, 5, true},
		{"0", 0, 0, false}, {"65536", 0, 0, false}, {"-1", 0, 0, false}, {"", 0, 0, false},
		{"10-5", 0, 0, false}, {"1-65536", 0, 0, false}, {"http", 0, 0, false}, {"1-2-3", 0, 0, false},
		{"80.5", 0, 0, false}, {"99999999999999999999", 0, 0, false},
	} {
		r, msg := parsePortRange(c.in)
		if (msg == "") != c.ok || c.ok && (r.First != c.first || r.Last != c.last) {
			t.Errorf("parsePortRange(%q) = %v, %q; want %d-%d ok=%v", c.in, r, msg, c.first, c.last, c.ok)
		}
	}
	if !rangesOverlap(PortRange{First: 1, Last: 10}, PortRange{First: 10, Last: 20}) || rangesOverlap(PortRange{First: 1, Last: 9}, PortRange{First: 10, Last: 20}) {
		t.Error("rangesOverlap is wrong at the boundary")
	}
}

// TestUnsafeValueProblem covers what may not reach a unit-file line.
func TestUnsafeValueProblem(t *testing.T) {
	for s, wantOK := range map[string]bool{
		"plain": true, "with space": true, "tab\there": true, "[Section]": true, "ünïcode": true, "": true,
		"a\nb": false, "a\rb": false, "a\x00": false, "\x1b[0m": false, "del\x7f": false, `ends\`: false,
		"\n[Service]\nExecStart=/bin/sh": false,
	} {
		if got := unsafeValueProblem(s) == ""; got != wantOK {
			t.Errorf("unsafeValueProblem(%q) = %q, want ok=%v", s, unsafeValueProblem(s), wantOK)
		}
	}
}

// TestPathProblems covers absolute, canonical and command-line-safe paths.
func TestPathProblems(t *testing.T) {
	for p, want := range map[string][2]bool{ // {absPathProblem ok, cmdlinePathProblem ok}
		"/srv/web": {true, true}, "/": {true, true}, "/srv/%n": {true, false}, "/srv/$HOME": {true, false},
		`/srv/a"b`: {true, false}, "srv": {false, false}, "./srv": {false, false}, "/srv/../etc": {false, false},
		"/srv/./x": {false, false}, "//srv": {false, false}, "/srv/": {false, false}, "/a:b": {false, false},
		"/a b": {false, false}, "/a\nb": {false, false}, "": {false, false},
	} {
		if got := absPathProblem(p) == ""; got != want[0] {
			t.Errorf("absPathProblem(%q) = %q, want ok=%v", p, absPathProblem(p), want[0])
		}
		if got := cmdlinePathProblem(p) == ""; got != want[1] {
			t.Errorf("cmdlinePathProblem(%q) = %q, want ok=%v", p, cmdlinePathProblem(p), want[1])
		}
	}
}

// TestParseCIDRAndNetwork covers interface addresses and network prefixes.
func TestParseCIDRAndNetwork(t *testing.T) {
	for _, c := range []struct {
		in           string
		cidr, netw   bool
		msgSubstring string
	}{
		{"10.0.0.1/24", true, false, "host bits"},
		{"10.0.0.0/24", true, true, ""},
		{"fd00::1/64", true, false, "host bits"},
		{"fd00::/64", true, true, ""},
		{"10.0.0.1", false, false, "no prefix length"},
		{"fd00::1", false, false, "/64"},
		{"fe80::1%eth0/64", false, false, "zone index"},
		{"10.0.0.0/33", false, false, "CIDR form"},
		{"garbage", false, false, "CIDR form"},
	} {
		_, msg := parseCIDR(c.in)
		if (msg == "") != c.cidr {
			t.Errorf("parseCIDR(%q) = %q, want ok=%v", c.in, msg, c.cidr)
		}
		_, nmsg := parseNetwork(c.in)
		if (nmsg == "") != c.netw {
			t.Errorf("parseNetwork(%q) = %q, want ok=%v", c.in, nmsg, c.netw)
		}
		if c.msgSubstring != "" && !strings.Contains(msg+nmsg, c.msgSubstring) {
			t.Errorf("parse(%q): messages %q / %q lack %q", c.in, msg, nmsg, c.msgSubstring)
		}
	}
}

// TestTimespanAndSize covers the systemd time span and size syntaxes.
func TestTimespanAndSize(t *testing.T) {
	for s, ok := range map[string]bool{"90": true, "90s": true, "2min 30s": true, "1.5h": true, "infinity": true,
		"soon": false, "-5s": false, "90\n5s": false, "90\t5s": false, "": false} {
		if timespanRE.MatchString(s) != ok {
			t.Errorf("timespan %q: want ok=%v", s, ok)
		}
	}
	for s, ok := range map[string]bool{"512M": true, "2G": true, "1.5T": true, "infinity": true, "50%": true,
		"2GB": false, "lots": false, "1G\n": false} {
		if sizeRE.MatchString(s) != ok {
			t.Errorf("size %q: want ok=%v", s, ok)
		}
	}
}
