package nat

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netns"
)

// requireKernel skips the test unless it can create network namespaces and
// run nft in them (root, nf_tables, the nft binary).
func requireKernel(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("requires root (network namespaces and nf_tables)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("requires the nft binary (Debian package nftables)")
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("requires nsenter (Debian package util-linux)")
	}
}

// newNS creates an unnamed network namespace on a throwaway locked thread
// (the test's thread never changes namespace) and closes it at cleanup; it
// disappears with its last reference.
func newNS(t testing.TB) netns.NsHandle {
	t.Helper()
	type result struct {
		ns  netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		ns, err := netns.New()
		if err != nil {
			ch <- result{err: err}
			_ = netns.Set(orig)
			return
		}
		if err := netns.Set(orig); err != nil {
			ch <- result{ns, fmt.Errorf("thread could not return: %w", err)}
			return // leave locked: Go discards the thread
		}
		runtime.UnlockOSThread()
		ch <- result{ns: ns}
	}()
	r := <-ch
	if r.err != nil {
		if r.ns.IsOpen() {
			r.ns.Close()
		}
		t.Skipf("cannot create a network namespace: %v", r.err)
	}
	t.Cleanup(func() { r.ns.Close() })
	return r.ns
}

// nsPath names the namespace for tools started as other processes.
func nsPath(ns netns.NsHandle) string { return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns)) }

// nftIn runs nft inside ns, with stdin, bounded in time.
func nftIn(t testing.TB, ns netns.NsHandle, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + nsPath(ns), "nft"}, args...)...)
	cmd.Stdin = bytes.NewBufferString(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("nft %v in the test namespace: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// newApplier returns an Applier bound to ns.
func newApplier(t testing.TB, ns netns.NsHandle) *Applier {
	t.Helper()
	conn, err := NewConn(int(ns))
	if err != nil {
		t.Fatal(err)
	}
	return &Applier{Conn: conn, Links: NamespaceLinks{NS: ns}, Warn: func(f string, a ...any) { t.Logf("warning: "+f, a...) }}
}

var _ = nftables.TableFamilyIPv4
