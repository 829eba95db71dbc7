package engine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nspawnctl/nspawnctl/internal/crashpoint"
)

// importTarball extracts the tarball at src (a host path) into dir with tar.
// nspawnctl reads the file itself and feeds it to tar's standard input, so
// that it can show how much of it is done; tar does not detect compression
// on a pipe, so the flag comes from the file's first bytes.
func (m *Manager) importTarball(ctx context.Context, src, dir string) error {
	f, err := os.Open(m.host(src))
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	head, _ := br.Peek(6)
	args := []string{"--numeric-owner", "--xattrs", "--xattrs-include=*", "-xp", "-f", "-", "-C", dir}
	if flag := compressionFlag(head); flag != "" {
		args = append([]string{flag}, args...)
	}
	in := &progressReader{r: br, total: st.Size(), out: m.Progress, label: "importing " + filepath.Base(src)}
	err = m.Run(ctx, in, "tar", args...)
	in.finish(err == nil)
	return err
}

// compressionFlag is tar's flag for the compression whose magic number
// starts head, or "" for an uncompressed archive.
func compressionFlag(head []byte) string {
	for _, c := range []struct {
		magic []byte
		flag  string
	}{
		{[]byte{0x1f, 0x8b}, "--gzip"},
		{[]byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, "--xz"},
		{[]byte("BZh"), "--bzip2"},
		{[]byte{0x28, 0xb5, 0x2f, 0xfd}, "--zstd"},
		{[]byte("LZIP"), "--lzip"},
		{[]byte{0x5d, 0x00, 0x00}, "--lzma"},
	} {
		if bytes.HasPrefix(head, c.magic) {
			return c.flag
		}
	}
	return ""
}

// progressReader counts the bytes read through it and, when out is set (a
// terminal), keeps one line up to date with bytes done of total. It prints
// only when the shown percentage changes, so at most about a hundred times.
type progressReader struct {
	r           io.Reader
	total, done int64
	out         io.Writer
	label       string
	shown       int64 // last percentage printed, -1 before the first
	started     bool
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	before := p.done
	p.done += int64(n)
	// Kill points for the crash test: tar has started and written part of the root.
	if before == 0 && n > 0 {
		crashpoint.Hit("import: first block read by tar")
	}
	if p.total > 0 && before < p.total/2 && p.done >= p.total/2 {
		crashpoint.Hit("import: half the tarball read by tar")
	}
	p.show(false)
	return n, err
}

func (p *progressReader) show(final bool) {
	if p.out == nil {
		return
	}
	pct := int64(100)
	if p.total > 0 {
		pct = p.done * 100 / p.total
	}
	if !p.started {
		p.started, p.shown = true, -1
	}
	if pct == p.shown && !final {
		return
	}
	p.shown = pct
	fmt.Fprintf(p.out, "\r%s: %s of %s (%d%%)", p.label, mib(p.done), mib(p.total), pct)
}

// finish ends the progress line: complete when ok, as far as it got otherwise.
func (p *progressReader) finish(ok bool) {
	if p.out == nil || !p.started {
		return
	}
	if ok {
		p.done = p.total
	}
	p.show(true)
	fmt.Fprintln(p.out)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// rootTempDir is where a root is filled before it is renamed into place at
// rootDir: a hidden sibling named after it, so that the next create and
// remove of the machine find what a killed create left.
func rootTempDir(rootDir string) string {
	return filepath.Join(filepath.Dir(rootDir), "."+filepath.Base(rootDir)+".nspawnctl-tmp")
}

// removeRootTemp deletes a root's temporary directory. A program that filled
// it dies with the nspawnctl that ran it, but its last writes may land a
// moment after a re-run has started, so a failure is retried a few times.
func removeRootTemp(tmp string) error {
	var err error
	for i := 0; i < 5; i++ {
		if err = os.RemoveAll(tmp); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("removing the leftover %s of an interrupted create: %w; make sure no tar or mmdebstrap still writes into it and retry", tmp, err)
}
