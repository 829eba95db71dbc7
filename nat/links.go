package nat

import (
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netns"
)

// NamespaceLinks is the LinkConfig for links in one network namespace. A
// sysctl under /proc/sys/net applies to the namespace of the thread that
// opens it, so a namespace other than the caller's is entered on a
// throwaway locked thread; the caller's thread never changes namespace.
type NamespaceLinks struct {
	// NS is the namespace; netns.None() (-1) means the caller's own.
	NS netns.NsHandle
}

// EnableRouteLocalnet implements LinkConfig.
func (n NamespaceLinks) EnableRouteLocalnet(link string) error {
	if link == "" || len(link) > maxLinkName || link == "." || link == ".." {
		return fmt.Errorf("invalid link name %q", link)
	}
	path := "/proc/sys/net/ipv4/conf/" + link + "/route_localnet"
	return InNamespace(n.NS, func() error {
		if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("set route_localnet on %s: %w", link, err)
		}
		return nil
	})
}

// InNamespace runs fn on a locked OS thread that has entered ns, and waits
// for it. Sockets fn creates stay in ns. If the thread cannot return to its
// original namespace it is left locked, so Go discards it instead of reusing
// a thread in the wrong namespace. ns < 0 runs fn in the caller's namespace.
func InNamespace(ns netns.NsHandle, fn func() error) error {
	if ns < 0 {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("open the current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			done <- fmt.Errorf("return from network namespace (thread discarded): %w", err)
			return // thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}
