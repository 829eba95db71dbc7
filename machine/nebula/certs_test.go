package nebula

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slackhq/nebula/cert"
)

// needTool skips when a Debian nebula binary is missing.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install nebula)", name)
	}
	return p
}

// testCA writes a fresh v1 CA into dir and returns its paths.
func testCA(t *testing.T, dir string, networks ...netip.Prefix) (crt, key string) {
	t.Helper()
	return writeCA(t, dir, "test-ca", networks, nil, time.Now())
}

// writeCA writes a CA with the given networks and certificate versions
// into dir and returns its paths.
func writeCA(t *testing.T, dir, name string, networks []netip.Prefix, versions []cert.Version, now time.Time) (crt, key string) {
	t.Helper()
	c, k, err := NewCA(name, 48*time.Hour, networks, nil, versions, now, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	crt, key = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if err := os.WriteFile(crt, c, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, k, 0o600); err != nil {
		t.Fatal(err)
	}
	return crt, key
}

// writeFiles writes a Result's host files under root, as the Manager does.
func writeFiles(t *testing.T, root string, files []File) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Content, os.FileMode(f.Mode)); err != nil {
			t.Fatal(err)
		}
	}
}

func fileOf(t *testing.T, r *Result, path string) File {
	t.Helper()
	for _, f := range r.Files {
		if f.Path == path {
			return f
		}
	}
	t.Fatalf("no file %s in %v", path, r.Files)
	return File{}
}

func rooted(root string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		if strings.HasPrefix(p, ConfigRoot) {
			p = filepath.Join(root, p)
		}
		return os.ReadFile(p)
	}
}

func TestSignedCertVerifiesWithNebulaCert(t *testing.T) {
	nc := needTool(t, "nebula-cert")
	dir := t.TempDir()
	caCrt, caKey := testCA(t, dir, netip.MustParsePrefix("198.51.100.0/24"))
	cfg := withDefaults(&Settings{Network: "t", CA: caCrt, CAKey: caKey, Groups: []string{"web", "prod"}})
	res, err := Artifacts(Request{Machine: "web1", Settings: cfg, Address: netip.MustParsePrefix("198.51.100.7/24"), Version: Version{1, 6, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Signed || res.Address.String() != "198.51.100.7/24" {
		t.Fatalf("Signed=%v Address=%v", res.Signed, res.Address)
	}
	root := filepath.Join(dir, "host")
	writeFiles(t, root, res.Files)
	crt := filepath.Join(root, CertPath("web1"))
	if out, err := exec.Command(nc, "verify", "-ca", caCrt, "-crt", crt).CombinedOutput(); err != nil {
		t.Fatalf("nebula-cert verify: %v\n%s", err, out)
	}
	out, err := exec.Command(nc, "print", "-json", "-path", crt).CombinedOutput()
	if err != nil {
		t.Fatalf("nebula-cert print: %v\n%s", err, out)
	}
	var printed struct {
		Details struct {
			Name   string
			Ips    []string
			Groups []string
			IsCa   bool
		}
	}
	if err := json.Unmarshal(out, &printed); err != nil {
		t.Fatalf("nebula-cert print -json: %v\n%s", err, out)
	}
	d := printed.Details
	if d.Name != "web1" || len(d.Ips) != 1 || d.Ips[0] != "198.51.100.7/24" || strings.Join(d.Groups, ",") != "web,prod" || d.IsCa {
		t.Errorf("nebula-cert print shows %+v", d)
	}
	// The CA key is in the format nebula-cert reads: it can sign with it.
	if out, err := exec.Command(nc, "sign", "-ca-crt", caCrt, "-ca-key", caKey, "-name", "other", "-ip", "198.51.100.9/24",
		"-out-crt", filepath.Join(dir, "o.crt"), "-out-key", filepath.Join(dir, "o.key")).CombinedOutput(); err != nil {
		t.Fatalf("nebula-cert sign with nspawnctl's CA key: %v\n%s", err, out)
	}
	// The key belongs to the certificate; nebula itself checks that at load.
	if nb, err := exec.LookPath("nebula"); err == nil {
		// The console's host key is where the unit's credentials would be;
		// point the config at the copy on the "host", so nebula loads it too.
		conf, err := os.ReadFile(filepath.Join(root, ConfigPath("web1")))
		if err != nil {
			t.Fatal(err)
		}
		conf = bytes.ReplaceAll(conf, []byte(consoleHostKeyInUnit("web1")), []byte(filepath.Join(root, ConsoleHostKeyPath("web1"))))
		testConf := filepath.Join(dir, "test.yml")
		if err := os.WriteFile(testConf, conf, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(nb, "-test", "-config", testConf).CombinedOutput(); err != nil {
			t.Fatalf("nebula -test on the rendered config: %v\n%s", err, out)
		}
	}
	for _, f := range res.Files {
		if !f.InRoot && f.Mode != 0o600 {
			t.Errorf("%s has mode %o, want 0600", f.Path, f.Mode)
		}
		if f.InRoot && bytes.Contains(f.Content, []byte("PRIVATE KEY")) {
			t.Errorf("%s inside the root holds a key", f.Path)
		}
	}
}

func TestArtifactsKeepAndRenew(t *testing.T) {
	dir := t.TempDir()
	caCrt, caKey := testCA(t, dir)
	root := filepath.Join(dir, "host")
	cfg := withDefaults(&Settings{Network: "t", CA: caCrt, CAKey: caKey, Address: pfx("198.51.100.3/24"), Groups: []string{"a"}})
	req := Request{Machine: "m", Settings: cfg, ReadFile: rooted(root)}
	first, err := Artifacts(req)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, root, first.Files)
	again, err := Artifacts(req)
	if err != nil {
		t.Fatal(err)
	}
	if again.Signed {
		t.Error("an unchanged machine got a new certificate")
	}
	for i := range first.Files {
		if !bytes.Equal(first.Files[i].Content, again.Files[i].Content) {
			t.Errorf("%s changed on a second apply", first.Files[i].Path)
		}
	}
	// New groups: a new certificate for the same key.
	cfg.Groups = []string{"a", "b"}
	regrouped, err := Artifacts(req)
	if err != nil {
		t.Fatal(err)
	}
	if !regrouped.Signed || bytes.Equal(fileOf(t, regrouped, CertPath("m")).Content, fileOf(t, first, CertPath("m")).Content) {
		t.Error("changed groups did not re-sign")
	}
	if !bytes.Equal(fileOf(t, regrouped, KeyPath("m")).Content, fileOf(t, first, KeyPath("m")).Content) {
		t.Error("re-signing changed the key")
	}
	// Close to the CA's expiry (48h), but a new certificate could not live
	// longer: kept.
	req.Now = time.Now().Add(24 * time.Hour)
	cfg.Groups = []string{"a"}
	writeFiles(t, root, regrouped.Files)
	late, err := Artifacts(req)
	if err != nil {
		t.Fatal(err)
	}
	if !late.Signed {
		// groups changed back, so it is re-signed once ...
		t.Error("changed groups did not re-sign")
	}
	writeFiles(t, root, late.Files)
	if later, err := Artifacts(req); err != nil || later.Signed {
		t.Errorf("a certificate that ends with its CA was re-signed (%v)", err)
	}
	// A new CA (rotation): re-signed under it, same key.
	cfg.CA, cfg.CAKey = testCA(t, t.TempDir())
	rotated, err := Artifacts(req)
	if err != nil {
		t.Fatal(err)
	}
	if !rotated.Signed || !bytes.Equal(fileOf(t, rotated, KeyPath("m")).Content, fileOf(t, first, KeyPath("m")).Content) {
		t.Error("a new CA did not re-sign with the same key")
	}
}

func TestArtifactsErrors(t *testing.T) {
	needTool(t, "nebula-cert")
	dir := t.TempDir()
	caCrt, caKey := testCA(t, dir)
	otherCrt, otherKey := testCA(t, t.TempDir())
	// A certificate and key made by nebula-cert, given by path.
	crt, key := filepath.Join(dir, "h.crt"), filepath.Join(dir, "h.key")
	if out, err := exec.Command("nebula-cert", "sign", "-ca-crt", caCrt, "-ca-key", caKey, "-name", "h", "-ip", "198.51.100.5/24", "-groups", "g1",
		"-out-crt", crt, "-out-key", key).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ok, err := Artifacts(Request{Machine: "h", Settings: withDefaults(&Settings{CA: caCrt, Cert: crt, Key: key}), Version: Version{1, 6, 1}})
	if err != nil {
		t.Fatalf("a nebula-cert certificate was refused: %v", err)
	}
	if ok.Signed || ok.Address.String() != "198.51.100.5/24" {
		t.Errorf("given certificate: Signed=%v Address=%v", ok.Signed, ok.Address)
	}
	_, otherHostKey, _ := GenerateHostKey(rand.Reader)
	wrongKey := filepath.Join(dir, "wrong.key")
	os.WriteFile(wrongKey, otherHostKey, 0o600)
	for name, tc := range map[string]struct {
		cfg  *Settings
		req  Request
		want string
	}{
		"other CA":          {cfg: withDefaults(&Settings{CA: otherCrt, Cert: crt, Key: key}), want: "does not verify against CA"},
		"wrong key":         {cfg: withDefaults(&Settings{CA: caCrt, Cert: crt, Key: wrongKey}), want: "does not belong to certificate"},
		"groups differ":     {cfg: withDefaults(&Settings{CA: caCrt, Cert: crt, Key: key, Groups: []string{"g2"}}), want: "groups come from the certificate"},
		"CA key mismatch":   {cfg: withDefaults(&Settings{CA: caCrt, CAKey: otherKey, Address: pfx("198.51.100.5/24")}), want: "does not belong to CA certificate"},
		"no address":        {cfg: withDefaults(&Settings{CA: caCrt, CAKey: caKey}), want: "no nebula overlay address"},
		"missing CA":        {cfg: withDefaults(&Settings{CA: filepath.Join(dir, "nope.crt"), CAKey: caKey}), want: "reading the nebula CA certificate"},
		"group and groups":  {cfg: withDefaults(&Settings{CA: caCrt, CAKey: caKey, Address: pfx("198.51.100.5/24"), Outbound: []Rule{{Group: "a", Groups: []string{"b"}}}}), want: "both group and groups"},
		"privileged port":   {cfg: withDefaults(&Settings{CA: caCrt, CAKey: caKey, Address: pfx("198.51.100.5/24"), ListenPort: 443}), want: "below 1024"},
		"local_cidr on 1.6": {cfg: withDefaults(&Settings{CA: caCrt, CAKey: caKey, Address: pfx("198.51.100.5/24"), Inbound: []Rule{{Host: "any", LocalCIDR: pfx("198.51.100.5/32")}}}), req: Request{Version: Version{1, 6, 1}}, want: "silently ignore"},
	} {
		t.Run(name, func(t *testing.T) {
			r := tc.req
			r.Machine, r.Settings, r.ReadFile = "h", tc.cfg, rooted(t.TempDir())
			_, err := Artifacts(r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Signing outside the CA's networks is refused by the cert package.
	limCrt, limKey := testCA(t, t.TempDir(), netip.MustParsePrefix("198.51.100.0/28"))
	_, err = Artifacts(Request{Machine: "h", Settings: withDefaults(&Settings{CA: limCrt, CAKey: limKey, Address: pfx("198.51.100.100/24")}), ReadFile: rooted(t.TempDir())})
	if err == nil || !strings.Contains(err.Error(), "CA's networks") {
		t.Errorf("signing outside the CA's networks: %v", err)
	}
}

func TestNewCARefusesV6(t *testing.T) {
	if _, _, err := NewCA("x", time.Hour, []netip.Prefix{netip.MustParsePrefix("fd00::/64")}, nil, nil, time.Now(), rand.Reader); err == nil {
		t.Error("an IPv6 CA network was accepted")
	}
	if _, _, err := NewCA("", time.Hour, nil, nil, nil, time.Now(), rand.Reader); err == nil {
		t.Error("a CA without a name was accepted")
	}
}

// Every golden config loads in Debian's nebula once the PEM is real: the
// keys are ones nebula reads (no "unknown key" surprises in the other
// direction: nebula ignores unknown keys, which TestCheckVersion covers).
func TestRenderedConfigsPassNebulaTest(t *testing.T) {
	nb := needTool(t, "nebula")
	dir := t.TempDir()
	caCrt, caKey := testCA(t, dir)
	caPEM, _ := os.ReadFile(caCrt)
	keyPEMCA, _ := os.ReadFile(caKey)
	ca, err := ParseCA(caPEM, keyPEMCA, caCrt, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, key, _ := GenerateHostKey(rand.Reader)
	crt, err := ca.Sign(HostRequest{Name: "x", Address: netip.MustParsePrefix("10.42.0.10/24")}, pub, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]*Settings{"lighthouse": lighthouseConfig(), "api": apiConfig(),
		"quoting": withDefaults(&Settings{Inbound: []Rule{{Group: "a: b\n- c"}, {Groups: []string{"#x", "'y'", "\"z\""}}}})} {
		b, err := RenderConfig(RenderInput{Machine: name, Settings: cfg, CA: caPEM, Cert: crt, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name+".yml")
		os.WriteFile(p, b, 0o600)
		out, err := exec.Command(nb, "-test", "-config", p).CombinedOutput()
		if err != nil {
			t.Errorf("nebula -test %s: %v\n%s", name, err, out)
		}
	}
}
