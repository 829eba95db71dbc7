package engine

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nspawnctl/nspawnctl/internal/host/hostfake"

	"github.com/nspawnctl/nspawnctl/internal/crashpoint"
	"github.com/nspawnctl/nspawnctl/internal/host"
	"github.com/nspawnctl/nspawnctl/machine/state"
)

// crashHelperEnv makes the test binary run one create or remove on the file
// system under $NSPAWNCTL_TEST_CRASH_ROOT, as the nspawnctl the crash test
// kills (the kill point comes from crashpoint's variables).
const (
	crashHelperEnv = "NSPAWNCTL_TEST_CRASH_OP"
	crashRootEnv   = "NSPAWNCTL_TEST_CRASH_ROOT"
	crashConfigEnv = "NSPAWNCTL_TEST_CRASH_CONFIG" // "tarball" or "directory"
)

const crashConfig = `machine "web" {
  root {
    tarball = "/srv/web.tar.gz"
  }
  forward_port {
    host_port      = 8181
    container_port = 80
  }
}
`

func crashManager(t *testing.T, root string) *Manager {
	units := hostfake.NewUnits()
	return &Manager{
		FSRoot: root, Store: &state.Store{Dir: filepath.Join(root, "var/lib/nspawnctl")},
		Units: units, Networkd: &hostfake.Networkd{}, NAT: fakeNATStore{},
		Binary: "/usr/local/bin/nspawnctl", MachineID: testFacts.MachineID,
		Run: host.ExecRun(os.Stderr),
	}
}

func TestCrashHelperProcess(t *testing.T) {
	op, root := os.Getenv(crashHelperEnv), os.Getenv(crashRootEnv)
	if op == "" {
		t.Skip("helper process for TestCreateKilledAnywhereConverges")
	}
	m := crashManager(t, root)
	ctx := context.Background()
	var err error
	switch op {
	case "create":
		src := crashConfig
		if os.Getenv(crashConfigEnv) == "directory" {
			src = webConfig // the root exists already
		}
		if err = m.Create(ctx, resolveSource(t, src), "web", CreateOptions{Ownership: state.OwnerImperative, Start: true}); err == nil {
			err = m.StartCreated(ctx, "web", time.Minute)
		}
	case "remove":
		err = m.Remove(ctx, "web", RemoveOptions{})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runCrashHelper runs op in a helper process, killed at point at (0: never);
// it reports whether the helper was killed, and fails the test when a run
// that was not killed failed.
func runCrashHelper(t *testing.T, root, op string, at int, logPath, after string) (killed bool) {
	t.Helper()
	killed, out, err := crashHelper(root, op, at, logPath)

	if err != nil {
		t.Fatalf("%s after %s: %v\n%s", op, after, err, out)
	}
	return killed
}

// crashHelper runs op in a helper process, killed at point at (0: never).
// A kill is no error.
func crashHelper(root, op string, at int, logPath string) (killed bool, out []byte, err error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperProcess$")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+op, crashRootEnv+"="+root,
		fmt.Sprintf("%s=%d", crashpoint.EnvAt, at), crashpoint.EnvLog+"="+logPath)
	out, err = cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true, out, nil
		}
	}
	return false, out, err
}

// lastPoint returns the last line of a crashpoint log.
func lastPoint(logPath string) string {
	f, err := os.Open(logPath)
	if err != nil {
		return "(none)"
	}
	defer f.Close()
	last := "(none)"
	for sc := bufio.NewScanner(f); sc.Scan(); {
		last = sc.Text()
	}
	return last
}

// A create --start killed with SIGKILL at any of its steps (on the real file
// system, with real tar in the import; systemd is a fake here, the e2e
// scenario TestKillCreateConverges has the real one) is finished by the
// next create, and a remove after it leaves exactly what was there before,
// temporary files included. The same for a remove killed at any step. Both
// for a root the create imports and for one that exists already, where
// files the root had must stay and files nspawnctl wrote into it must go.
func TestCreateKilledAnywhereConverges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (the import runs tar in a PID namespace of its own)")
	}
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar is missing")
	}
	for _, variant := range []string{"tarball", "directory"} {
		t.Run(variant, func(t *testing.T) {
			t.Setenv(crashConfigEnv, variant)
			killEverywhere(t, crashHost(t, variant))
		})
	}
}

// crashHost makes the host file system of a variant: the tarball to import,
// or a root that exists already with networkd enabled the way Debian's
// systemd package has it (that link is not nspawnctl's to remove).
func crashHost(t *testing.T, variant string) string {
	root := t.TempDir()
	if variant == "directory" {
		link := filepath.Join(root, "var/lib/machines/web/etc/systemd/system/multi-user.target.wants/systemd-networkd.service")
		os.MkdirAll(filepath.Dir(link), 0o755)
		if err := os.Symlink("/lib/systemd/system/systemd-networkd.service", link); err != nil {
			t.Fatal(err)
		}
		return root
	}
	src := filepath.Join(t.TempDir(), "src")
	for _, d := range []string{"etc", "usr/bin", "var/www"} {
		os.MkdirAll(filepath.Join(src, d), 0o755)
	}
	os.WriteFile(filepath.Join(src, "etc/os-release"), []byte("ID=test\n"), 0o644)
	big := make([]byte, 4<<20) // enough for the import's two kill points to fall apart
	os.WriteFile(filepath.Join(src, "usr/bin/big"), big, 0o755)
	os.MkdirAll(filepath.Join(root, "srv"), 0o755)
	if out, err := exec.Command("tar", "-czf", filepath.Join(root, "srv/web.tar.gz"), "-C", src, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	return root
}

// killEverywhere kills create (then remove) at each of its points on the
// host file system at root, and checks that the re-run converges and a
// remove brings back exactly the files that were there before.
func killEverywhere(t *testing.T, root string) {
	// The state lock stays once taken, as on a host.
	listing := func() string {
		var out []string
		for _, f := range listFiles(t, root) {
			if f != "var/lib/nspawnctl/lock" {
				out = append(out, f)
			}
		}
		return strings.Join(out, "\n")
	}
	before := listing()

	check := func(what string) {
		t.Helper()
		if after := listing(); after != before {
			t.Fatalf("%s: remove left the host different:\nbefore:\n%s\nafter:\n%s", what, before, after)
		}
	}
	points := 0
	for _, op := range []string{"create", "remove"} {
		for at := 1; ; at++ {
			logPath := filepath.Join(t.TempDir(), "points")
			if op == "remove" {
				runCrashHelper(t, root, "create", 0, "", "nothing")
			}
			killed := runCrashHelper(t, root, op, at, logPath, "nothing")
			if !killed {
				if op == "create" {
					runCrashHelper(t, root, "remove", 0, "", "a create")
				}
				check(fmt.Sprintf("%s with no kill", op))
				break
			}
			points++
			where := fmt.Sprintf("%s killed at point %s", op, lastPoint(logPath))
			// The re-run converges: it succeeds, or, when the kill came
			// after the create had recorded itself complete, says the
			// machine exists (what a second create says).
			if _, out, err := crashHelper(root, op, 0, ""); err != nil {
				rec, lerr := crashManager(t, root).Store.Load("web")
				if op != "create" || !strings.Contains(string(out), "exists already") || lerr != nil || rec == nil || rec.Incomplete {
					t.Fatalf("%s after %s: %v\n%s", op, where, err, out)
				}
			}
			if op == "create" {
				runCrashHelper(t, root, "remove", 0, "", "the re-run after "+where)
			}
			check(where)
		}
	}
	t.Logf("%d kill points, every one converged", points)
	if points < 50 {
		t.Errorf("only %d kill points; the crash test promises at least 50", points)
	}
}
