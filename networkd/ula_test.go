package networkd

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/golden"
)

func TestParseMachineID(t *testing.T) {
	want := [16]byte{0x3d, 0x12, 0x19, 0xc7, 0xc4, 0xc5, 0x40, 0x4a, 0xaa, 0x1f, 0x6d, 0x2a, 0x48, 0xad, 0xfd, 0xa4}
	for _, s := range []string{"3d1219c7c4c5404aaa1f6d2a48adfda4\n", "3d1219c7c4c5404aaa1f6d2a48adfda4", "3D1219C7C4C5404AAA1F6D2A48ADFDA4\n"} {
		got, err := ParseMachineID(s)
		if err != nil || got != want {
			t.Errorf("ParseMachineID(%q) = %x, %v; want %x", s, got, err, want)
		}
	}
	bad := []string{
		"",
		"\n",
		"uninitialized\n",
		"3d1219c7c4c5404aaa1f6d2a48adfda\n",
		"3d1219c7c4c5404aaa1f6d2a48adfda4\n\n",
		"3d1219c7-c4c5-404a-aa1f-6d2a48adfda4\n",
		"3d1219c7c4c5404aaa1f6d2a48adfdag\n",
		"00000000000000000000000000000000\n",
		strings.Repeat("z", 100),
	}
	var report strings.Builder
	for _, s := range bad {
		_, err := ParseMachineID(s)
		if err == nil {
			t.Errorf("ParseMachineID(%q) = nil error, want one", s)
			continue
		}
		fmt.Fprintf(&report, "%q: %v\n", s, err)
	}
	golden.Check(t, "testdata/ula_machine_id_errors.golden", []byte(report.String()))
}

func TestReadMachineID(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte("3d1219c7c4c5404aaa1f6d2a48adfda4\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	if id, err := ReadMachineID(good); err != nil || id != macHostID {
		t.Errorf("ReadMachineID(%s) = %x, %v", good, id, err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("nope\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMachineID(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("ReadMachineID(%s) = %v, want an error naming the file", bad, err)
	}
	if _, err := ReadMachineID(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("ReadMachineID of a missing file: want an error")
	}
}

// TestAppSpecificIDMatchesSystemd compares AppSpecificID with what systemd
// computes for this host, when systemd-id128 is installed.
func TestAppSpecificIDMatchesSystemd(t *testing.T) {
	tool, err := exec.LookPath("systemd-id128")
	if err != nil {
		t.Skip("systemd-id128 not installed (it is part of the systemd package)")
	}
	hostID, err := ReadMachineID(MachineIDPath)
	if err != nil {
		t.Skipf("no usable host machine id: %v", err)
	}
	for _, app := range [][16]byte{ULAAppID, {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}} {
		out, err := exec.Command(tool, "machine-id", "--app-specific="+hex.EncodeToString(app[:])).Output()
		if err != nil {
			t.Fatalf("%s machine-id --app-specific: %v", tool, err)
		}
		want, err := ParseMachineID(strings.TrimSpace(string(out)))
		if err != nil {
			t.Fatalf("systemd-id128 printed %q: %v", out, err)
		}
		if got := AppSpecificID(hostID, app); got != want {
			t.Errorf("AppSpecificID(host, %x) = %x, systemd-id128 says %x", app, got, want)
		}
	}
}

func TestULAPrefix(t *testing.T) {
	fd := netip.MustParsePrefix("fd00::/8")
	var out strings.Builder
	seen := map[netip.Prefix]bool{}
	ids := []string{"3d1219c7c4c5404aaa1f6d2a48adfda4", "0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdee", "ffffffffffffffffffffffffffffffff"}
	for _, s := range ids {
		id := mustParseMachineID(s)
		p := ULAPrefix(id)
		if p.Bits() != 48 || !fd.Contains(p.Addr()) || p.Masked() != p {
			t.Errorf("ULAPrefix(%s) = %s, want a masked /48 inside fd00::/8", s, p)
		}
		if p != ULAPrefix(id) {
			t.Errorf("ULAPrefix(%s) is not deterministic", s)
		}
		if seen[p] {
			t.Errorf("ULAPrefix(%s) = %s collides with another id", s, p)
		}
		seen[p] = true
		// The machine id must not show through.
		if strings.Contains(strings.ReplaceAll(p.Addr().StringExpanded(), ":", ""), s[:10]) {
			t.Errorf("ULAPrefix(%s) = %s exposes the machine id", s, p)
		}
		fmt.Fprintf(&out, "%s %s\n", s, p)
	}
	golden.Check(t, "testdata/ula_prefixes.golden", []byte(out.String()))
}
