package nebula

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteCANeverOverwrites: a second CA into the same directory is
// refused and leaves the first one's key as it was.
func TestWriteCANeverOverwrites(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	crtPath, keyPath, err := WriteCA(dir, []byte("crt1"), []byte("key1"))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(keyPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key %s: %v, mode %v; want 0600", keyPath, err, st.Mode().Perm())
	}
	if _, _, err := WriteCA(dir, []byte("crt2"), []byte("key2")); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("second WriteCA: %v, want a refusal", err)
	}
	for p, want := range map[string]string{crtPath: "crt1", keyPath: "key1"} {
		if b, _ := os.ReadFile(p); string(b) != want {
			t.Errorf("%s is %q after the refused second CA, want %q", p, b, want)
		}
	}
}

// TestReadStatusWithoutCertificate: a machine without a certificate has
// no sidecar, and the error names the file that is missing. (With one but
// no running sidecar, cmd/nspawnctl's TestNebulaStatusSaysWhyNoPeers
// covers what is shown.)
func TestReadStatusWithoutCertificate(t *testing.T) {
	paths := Paths{ConfigRoot: t.TempDir(), NetnsDir: t.TempDir()}
	if _, err := ReadStatus(context.Background(), "m1", paths, nil); err == nil || !strings.Contains(err.Error(), paths.Cert("m1")) {
		t.Errorf("ReadStatus without a certificate: %v, want an error naming %s", err, paths.Cert("m1"))
	}
}
