package testhost

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// imageFormat is part of every cache key; bump it when the way an image is
// built changes in a way its Image fields do not show.
const imageFormat = "nspawnctl-e2e-image-v1"

// DefaultMirror is used when neither NSPAWNCTL_E2E_MIRROR nor the machine's apt
// sources name a Debian mirror.
const DefaultMirror = "http://deb.debian.org/debian"

// Output says how mmdebstrap stores an image in the cache.
type Output int

const (
	// Directory keeps the image as a directory tree, to be copied per run.
	Directory Output = iota
	// Tarball keeps the image as an uncompressed tar archive, to be streamed
	// into the test host.
	Tarball
)

// Image describes a Debian root file system built with mmdebstrap. Everything
// that changes its content is part of Key, so a changed package list builds a
// new image instead of reusing a stale one.
type Image struct {
	// Name prefixes the cache entry ("testhost", "guest").
	Name string
	// Suite is the Debian suite, e.g. "bookworm".
	Suite string
	// Packages are passed to --include, on top of the minbase variant.
	Packages []string
	// Hooks are mmdebstrap --customize-hook commands ("$1" is the root).
	Hooks []string
	// Output says whether the cache holds a directory or a tarball.
	Output Output
	// AptOptions are passed as mmdebstrap --aptopt (e.g. sid's
	// Check-Valid-Until, see Suite).
	AptOptions []string
}

// TestHostImage is the root of the booted test host: what nspawnctl needs at
// run time (systemd, machined, networkd, D-Bus, nftables) and what the tests
// use inside it for checks.
func TestHostImage(suite Suite) Image {
	return Image{
		Name:       suite.imageName("testhost"),
		Suite:      suite.Name,
		AptOptions: suite.AptOptions,
		// netbase: /etc/protocols, so that nft prints "tcp" and not "6", as on
		// a real host. libnss-mymachines: machine names resolve on the host
		// (doctor's nss-mymachines check, "ping NAME" from the host).
		// nebula: the Nebula sidecar runs the host's nebula (1.6.1 in
		// bookworm), and the overlay scenario's lighthouse uses nebula-cert.
		Packages: []string{"systemd", "systemd-container", "dbus", "iproute2", "nftables", "busybox", "curl", "netbase", "libnss-mymachines", "nebula"},
		Hooks:    []string{`chroot "$1" systemctl enable systemd-networkd`},
		Output:   Directory,
	}
}

// GuestImage is the root of the nested containers: it boots under
// systemd-nspawn with Boot=yes, configures host0 with networkd and can serve
// HTTP with busybox httpd. It is Debian 12 whatever the test host's suite:
// the nested machines are the user's payload, and systemd 252 in them runs
// under the newer nspawn of every suite (see Suite).
func GuestImage() Image {
	return Image{
		Name:  "guest",
		Suite: "bookworm",
		// systemd-resolved answers and resolves LLMNR (and mDNS) between
		// containers of a zone or bridge; Debian 12 ships it separately, and
		// its postinst points /etc/resolv.conf at the stub resolver.
		Packages: []string{"systemd", "dbus", "busybox", "iproute2", "systemd-resolved"},
		Hooks: []string{
			`chroot "$1" systemctl enable systemd-networkd`,
			`mkdir -p "$1/srv/www"`,
		},
		Output: Tarball,
	}
}

// Key is a short stable hash of everything that determines the image content.
// The mirror is left out on purpose: the same suite from another mirror is the
// same image, and CI machines may use a different mirror.
func (img Image) Key() string {
	pkgs := slices.Clone(img.Packages)
	slices.Sort(pkgs)
	h := sha256.New()
	fmt.Fprintf(h, "%s\nsuite=%s\noutput=%d\n", imageFormat, img.Suite, img.Output)
	for _, p := range pkgs {
		fmt.Fprintf(h, "pkg=%s\n", p)
	}
	for _, k := range img.Hooks {
		fmt.Fprintf(h, "hook=%s\n", k)
	}
	for _, o := range dpkgOptions {
		fmt.Fprintf(h, "dpkgopt=%s\n", o)
	}
	for _, o := range img.AptOptions { // none for bookworm: its key is unchanged
		fmt.Fprintf(h, "aptopt=%s\n", o)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// CacheName is the file or directory name of the image inside the cache.
func (img Image) CacheName() string {
	name := img.Name + "-" + img.Key()
	if img.Output == Tarball {
		name += ".tar"
	}
	return name
}

// dpkgOptions keep the images small: documentation and translations are of no
// use in a test host and make every per-run copy slower.
var dpkgOptions = []string{
	"path-exclude=/usr/share/man/*",
	"path-exclude=/usr/share/doc/*",
	"path-exclude=/usr/share/info/*",
	"path-exclude=/usr/share/locale/*",
	"path-include=/usr/share/locale/locale.alias",
}

// MmdebstrapArgs returns the mmdebstrap command line that builds img at
// target from mirror.
func (img Image) MmdebstrapArgs(mirror, target string) []string {
	args := []string{"mmdebstrap", "--variant=minbase", "--mode=root"}
	if len(img.Packages) > 0 {
		args = append(args, "--include="+strings.Join(img.Packages, ","))
	}
	for _, o := range dpkgOptions {
		args = append(args, "--dpkgopt="+o)
	}
	for _, o := range img.AptOptions {
		args = append(args, "--aptopt="+o)
	}
	for _, k := range img.Hooks {
		args = append(args, "--customize-hook="+k)
	}
	if img.Output == Tarball {
		args = append(args, "--format=tar")
	} else {
		args = append(args, "--format=directory")
	}
	return append(args, img.Suite, target, mirror)
}

// EnsureImage returns the path of img in cacheDir, building it with mmdebstrap
// first when it is not cached. built says whether it was built now. Builds of
// the same image by concurrent runs are serialized with a lock file, and an
// image appears in the cache only once complete (built under a temporary name,
// then renamed), so an interrupted build leaves nothing that looks usable.
func EnsureImage(ctx context.Context, cacheDir, mirror string, img Image, logf func(string, ...any)) (path string, built bool, err error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", false, fmt.Errorf("image cache %s: %w (set NSPAWNCTL_E2E_CACHE to a writable directory)", cacheDir, err)
	}
	unlock, err := lockFile(ctx, filepath.Join(cacheDir, "."+img.Name+".lock"))
	if err != nil {
		return "", false, fmt.Errorf("image %s: lock the cache: %w", img.Name, err)
	}
	defer unlock()

	final := filepath.Join(cacheDir, img.CacheName())
	if _, err := os.Stat(final); err == nil {
		return final, false, nil
	}
	// Leftovers of interrupted builds of this image (any key) are garbage:
	// the lock says no other build of it is running. The pattern is exact
	// (name, 16 hex digits): "guest-*" would also match the builds of
	// an image named "guest-sid", which another run may be doing under its own
	// lock.
	stale, _ := filepath.Glob(filepath.Join(cacheDir, img.Name+"-"+strings.Repeat("[0-9a-f]", 16)+"*.tmp*"))
	for _, s := range stale {
		logf("image %s: removing leftover of an interrupted build: %s", img.Name, s)
		if err := removeTree(s); err != nil {
			return "", false, fmt.Errorf("image %s: remove leftover %s: %w", img.Name, s, err)
		}
	}

	tmp := fmt.Sprintf("%s.tmp%d", final, os.Getpid())
	logPath := filepath.Join(cacheDir, img.Name+"-"+img.Key()+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", false, fmt.Errorf("image %s: create build log: %w", img.Name, err)
	}
	defer logFile.Close()
	args := img.MmdebstrapArgs(mirror, tmp)
	logf("image %s: building with %s (log %s)", img.Name, strings.Join(args, " "), logPath)
	start := time.Now()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// mmdebstrap runs apt and dpkg; a process group lets cancellation reach
	// all of them instead of leaving dpkg running in the temporary root.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	if err := cmd.Start(); err != nil {
		return "", false, fmt.Errorf("image %s: start mmdebstrap: %w (run e2e/install-deps.sh)", img.Name, err)
	}
	registerBuild(cmd.Process.Pid)
	err = cmd.Wait()
	unregisterBuild(cmd.Process.Pid)
	if err != nil {
		_ = removeTree(tmp)
		return "", false, fmt.Errorf("image %s: mmdebstrap failed: %w; last lines of %s:\n%s", img.Name, err, logPath, tailFile(logPath, 15))
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = removeTree(tmp)
		return "", false, fmt.Errorf("image %s: move into the cache: %w", img.Name, err)
	}
	logf("image %s: built in %s", img.Name, time.Since(start).Round(time.Millisecond))
	return final, true, nil
}

// lockFile takes an exclusive flock on path, polling so that ctx bounds the
// wait. The lock is released by the returned function or when the process
// dies, so a killed run never leaves the cache locked.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for %s held by another run: %w", path, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// DetectMirror returns the Debian mirror to build images from:
// NSPAWNCTL_E2E_MIRROR if set, else the first Debian (non-security) mirror in
// the machine's apt sources under aptDir (normally /etc/apt), else
// DefaultMirror.
func DetectMirror(aptDir string) string {
	if m := os.Getenv("NSPAWNCTL_E2E_MIRROR"); m != "" {
		return m
	}
	files := []string{filepath.Join(aptDir, "sources.list")}
	more, _ := filepath.Glob(filepath.Join(aptDir, "sources.list.d", "*"))
	files = append(files, more...)
	for _, f := range files {
		deb822 := strings.HasSuffix(f, ".sources")
		if !deb822 && !strings.HasSuffix(f, ".list") {
			continue // e.g. "*.disabled": apt ignores those too
		}
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if m := MirrorFromSources(string(data), deb822); m != "" {
			return m
		}
	}
	return DefaultMirror
}

// MirrorFromSources returns the first URI of a "deb" source in an apt sources
// file (one-line format, or deb822 when deb822 is true) that is not a security
// archive, or "" when there is none.
func MirrorFromSources(content string, deb822 bool) string {
	sc := bufio.NewScanner(strings.NewReader(content))
	isDeb := false // deb822: the current stanza has Types: deb
	var uris []string
	flush := func() string {
		defer func() { isDeb, uris = false, nil }()
		if !isDeb {
			return ""
		}
		for _, u := range uris {
			if usableMirror(u) {
				return u
			}
		}
		return ""
	}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if !deb822 {
			fields := strings.Fields(line)
			if len(fields) < 3 || fields[0] != "deb" {
				continue
			}
			i := 1
			if strings.HasPrefix(fields[i], "[") { // options like [arch=amd64 signed-by=...]
				for i < len(fields) && !strings.HasSuffix(fields[i], "]") {
					i++
				}
				i++
			}
			if i < len(fields) && usableMirror(fields[i]) {
				return fields[i]
			}
			continue
		}
		if line == "" {
			if m := flush(); m != "" {
				return m
			}
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "types":
			isDeb = slices.Contains(strings.Fields(value), "deb")
		case "uris":
			uris = append(uris, strings.Fields(value)...)
		}
	}
	return flush()
}

// usableMirror rejects URIs mmdebstrap cannot use as the main archive.
func usableMirror(uri string) bool {
	if !strings.HasPrefix(uri, "http://") && !strings.HasPrefix(uri, "https://") && !strings.HasPrefix(uri, "file:") {
		return false
	}
	return !strings.Contains(uri, "security")
}

// tailFile returns the last n lines of a file, for error messages.
func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	return tailLines(string(data), n)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
