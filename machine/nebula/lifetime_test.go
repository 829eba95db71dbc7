package nebula

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slackhq/nebula/cert"
)

// bundleCA writes a CA of the given versions into dir.
func bundleCA(t *testing.T, dir string, now time.Time, versions ...cert.Version) (crt, key string) {
	t.Helper()
	return writeCA(t, dir, "fleet", nil, versions, now)
}

var (
	nebula193 = Version{1, 9, 3}
	nebula111 = Version{1, 11, 0}
)

// TestV2CertificatesInAMixedNetwork: under one v1+v2 bundle CA, a machine
// with cert_version = 2 gets a v2 certificate with its IPv4 and IPv6
// addresses and one without gets v1; nebula's own CA pool, given the
// bundle as a sidecar is, accepts both.
func TestV2CertificatesInAMixedNetwork(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	caCrt, caKey := bundleCA(t, dir, now, cert.Version1, cert.Version2)
	root := filepath.Join(dir, "host")
	cfg6 := withDefaults(&Settings{Network: "n", CA: caCrt, CAKey: caKey, Address: pfx("10.42.0.5/24"), Address6: pfx("fd42::5/64"), CertVersion: cert.Version2})
	res, err := Artifacts(Request{Machine: "six", Settings: cfg6, Version: nebula111, ReadFile: rooted(root), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	cfg4 := withDefaults(&Settings{Network: "n", CA: caCrt, CAKey: caKey, Address: pfx("10.42.0.6/24")})
	res4, err := Artifacts(Request{Machine: "four", Settings: cfg4, Version: Version{1, 6, 1}, ReadFile: rooted(root), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(caCrt)
	pool, err := cert.NewCAPoolFromPEM(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		res      *Result
		machine  string
		version  cert.Version
		networks string
	}{{res, "six", cert.Version2, "10.42.0.5/24 fd42::5/64"}, {res4, "four", cert.Version1, "10.42.0.6/24"}} {
		hc, err := ParseHostCert(fileOf(t, c.res, CertPath(c.machine)).Content)
		if err != nil {
			t.Fatal(err)
		}
		var nets []string
		for _, n := range hc.Networks {
			nets = append(nets, n.String())
		}
		if hc.Cert.Version() != c.version || strings.Join(nets, " ") != c.networks {
			t.Errorf("%s: version %d, networks %v; want %d, %s", c.machine, hc.Cert.Version(), nets, c.version, c.networks)
		}
		if _, err := pool.VerifyCertificate(now, hc.Cert); err != nil {
			t.Errorf("%s: nebula's CA pool of the bundle refuses the certificate: %v", c.machine, err)
		}
	}
	// A v1-only CA cannot sign v2, and the error says how to migrate.
	dir1 := t.TempDir()
	v1Crt, v1Key := bundleCA(t, dir1, now, cert.Version1)
	cfg6.CA, cfg6.CAKey = v1Crt, v1Key
	_, err = Artifacts(Request{Machine: "six", Settings: cfg6, Version: nebula111, ReadFile: rooted(filepath.Join(dir1, "host")), Now: now})
	if err == nil || !strings.Contains(err.Error(), "--version 1,2") {
		t.Errorf("v2 from a v1-only CA: %v", err)
	}
}

// TestV2RefusedBelowNebula110: the request is refused naming the
// installed nebula, and the reason is real: nebula 1.6.1 itself cannot
// load a config with a v2 certificate.
func TestV2RefusedBelowNebula110(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	caCrt, caKey := bundleCA(t, dir, now, cert.Version1, cert.Version2)
	root := filepath.Join(dir, "host")
	cfg := withDefaults(&Settings{Network: "n", CA: caCrt, CAKey: caKey, Address: pfx("10.42.0.5/24"), CertVersion: cert.Version2})
	for _, v := range []Version{{1, 6, 1}, nebula193} {
		_, err := Artifacts(Request{Machine: "m", Settings: cfg, Version: v, ReadFile: rooted(root), Now: now})
		if err == nil || !strings.Contains(err.Error(), "nebula "+v.String()) || !strings.Contains(err.Error(), "cert_version = 1") {
			t.Errorf("cert_version 2 on nebula %s: %v", v, err)
		}
	}
	if need, _ := Required(cfg); need != v2CertVersion {
		t.Errorf("Required = %s, want %s (prepare checks it at every start)", need, v2CertVersion)
	}
	nb, err := exec.LookPath("nebula")
	if err != nil {
		t.Skip("nebula is not installed")
	}
	out, _ := exec.Command(nb, "-version").CombinedOutput()
	if v, err := ParseVersion(string(out)); err != nil || !v.Less(v2CertVersion) {
		t.Skipf("installed nebula %s reads v2; the refusal is shown with an older one", v)
	}
	res, err := Artifacts(Request{Machine: "m", Settings: cfg, ReadFile: rooted(root), Now: now}) // no version: no check
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, root, res.Files)
	if out, err := exec.Command(nb, "-test", "-config", filepath.Join(root, ConfigPath("m"))).CombinedOutput(); err == nil {
		t.Errorf("nebula %s accepted a config with a v2 certificate; the gate would be needless:\n%s", v2CertVersion, out)
	} else {
		t.Logf("nebula below %s on a v2 certificate: %s", v2CertVersion, bytes.TrimSpace(out))
	}
}

// TestDurationAndRenewal: a short-lived certificate is kept by apply until
// its renewal window, then re-signed with the same key and addresses, by
// apply and by Renew alike; Renew's config is what a fresh render gives.
func TestDurationAndRenewal(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Now().Truncate(time.Second)
	caCrt, caKey := bundleCA(t, dir, t0, cert.Version1)
	root := filepath.Join(dir, "host")
	cfg := withDefaults(&Settings{Network: "n", CA: caCrt, CAKey: caKey, Address: pfx("10.42.0.5/24"), Groups: []string{"g"}, Duration: 3 * time.Hour, DurationText: "3h"})
	apply := func(now time.Time) *Result {
		t.Helper()
		res, err := Artifacts(Request{Machine: "m", Settings: cfg, Version: Version{1, 6, 1}, ReadFile: rooted(root), Now: now})
		if err != nil {
			t.Fatal(err)
		}
		writeFiles(t, root, res.Files)
		return res
	}
	first := apply(t0)
	if !first.Signed || !first.Expires.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("first apply: signed %v, expires %s, want %s", first.Signed, first.Expires, t0.Add(3*time.Hour))
	}
	if again := apply(t0.Add(time.Hour)); again.Signed {
		t.Errorf("apply 1h into a 3h certificate (renewal window 1h) re-signed it")
	}
	read := rooted(root)
	if r, err := Renew(read, "m", t0.Add(time.Hour+59*time.Minute), false); err != nil || r != nil {
		t.Errorf("Renew before the window: %v, %v", r, err)
	}
	at := t0.Add(2*time.Hour + 30*time.Minute)
	r, err := Renew(read, "m", at, false)
	if err != nil || r == nil {
		t.Fatalf("Renew in the window: %v, %v", r, err)
	}
	old, _ := ParseHostCert(fileOf(t, first, CertPath("m")).Content)
	nc, err := ParseHostCert(r.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(nc.Cert.PublicKey(), old.Cert.PublicKey()) || !slices.Equal(nc.Networks, old.Networks) || !slices.Equal(nc.Groups, old.Groups) || !nc.NotAfter.Equal(at.Add(3*time.Hour)) {
		t.Errorf("renewed certificate %+v, old %+v", nc, old)
	}
	key, _ := read(KeyPath("m"))
	caPEM, _ := read(CAPath("m"))
	console, err := consoleKeys("m", read, nil) // the keys are on disk: no randomness needed
	if err != nil {
		t.Fatal(err)
	}
	want, err := RenderConfig(RenderInput{Machine: "m", Settings: cfg, CA: caPEM, Cert: r.Cert, Key: key, Console: &console})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Config, want) {
		t.Errorf("Renew's config differs from a fresh render:\n%s\n---\n%s", r.Config, want)
	}
	// Written as the Manager does, the next apply keeps it.
	writeFiles(t, root, []File{{Path: CertPath("m"), Content: r.Cert, Mode: FileMode}, {Path: ConfigPath("m"), Content: r.Config, Mode: FileMode}})
	if again := apply(at.Add(time.Minute)); again.Signed || !bytes.Equal(fileOf(t, again, ConfigPath("m")).Content, r.Config) {
		t.Errorf("apply after renew re-signed (%v) or rewrote the config", again.Signed)
	}
	// Apply renews too, in the window.
	if late := apply(at.Add(2*time.Hour + 10*time.Minute)); !late.Signed {
		t.Errorf("apply in the renewal window did not re-sign")
	}
	// Without the CA key on the host, renewal says what to do.
	os.Rename(caKey, caKey+".away")
	if _, err := Renew(read, "m", at.Add(3*time.Hour), true); err == nil || !strings.Contains(err.Error(), "nebula-cert sign") {
		t.Errorf("Renew without the CA key: %v", err)
	}
}

// TestBlocklist: fingerprints are nebula's own (nebula-cert print), expired
// entries drop out, and SetBlocklist gives what a render with the list gives.
func TestBlocklist(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	caCrt, caKey := bundleCA(t, dir, now, cert.Version1)
	root := filepath.Join(dir, "host")
	cfg := withDefaults(&Settings{Network: "n", CA: caCrt, CAKey: caKey, Address: pfx("10.42.0.5/24")})
	res, err := Artifacts(Request{Machine: "gone", Settings: cfg, ReadFile: rooted(root), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, root, res.Files)
	rev, err := Revoke(rooted(root), "gone", now)
	if err != nil {
		t.Fatal(err)
	}
	if rev.Network != "n" || rev.Blocked.Machine != "gone" {
		t.Errorf("Revoke = %+v", rev)
	}
	if nc, err := exec.LookPath("nebula-cert"); err == nil {
		out, err := exec.Command(nc, "print", "-json", "-path", filepath.Join(root, CertPath("gone"))).CombinedOutput()
		if err != nil {
			t.Fatalf("nebula-cert print: %v\n%s", err, out)
		}
		var p struct{ Fingerprint string }
		if err := json.Unmarshal(out, &p); err != nil || p.Fingerprint != rev.Blocked.Fingerprint {
			t.Errorf("fingerprint %q, nebula-cert print says %q (%v)", rev.Blocked.Fingerprint, p.Fingerprint, err)
		}
	}
	bl := Blocklist{}
	if !bl.Add("n", rev.Blocked) || bl.Add("n", rev.Blocked) {
		t.Errorf("Add twice should add once: %v", bl)
	}
	bl.Add("n", Blocked{Fingerprint: "00expired", NotAfter: now.Add(-time.Hour)})
	bl.Add("other", Blocked{Fingerprint: "11other"})
	fps := bl.Fingerprints("n", now)
	if !slices.Equal(fps, []string{rev.Blocked.Fingerprint}) {
		t.Errorf("Fingerprints = %v", fps)
	}
	b, _ := bl.Marshal()
	p := filepath.Join(dir, BlocklistFile)
	os.WriteFile(p, b, 0o600)
	if back, err := LoadBlocklist(p); err != nil || len(back["n"]) != 2 {
		t.Errorf("LoadBlocklist = %v, %v", back, err)
	}
	if empty, err := LoadBlocklist(filepath.Join(dir, "missing")); err != nil || len(empty) != 0 {
		t.Errorf("a missing blocklist: %v, %v", empty, err)
	}
	os.WriteFile(p, []byte("{"), 0o600)
	if _, err := LoadBlocklist(p); err == nil || !strings.Contains(err.Error(), "removed machines") {
		t.Errorf("a broken blocklist: %v", err)
	}

	conf := fileOf(t, res, ConfigPath("gone")).Content
	with, err := SetBlocklist(conf, fps)
	if err != nil {
		t.Fatal(err)
	}
	console, err := consoleKeys("gone", rooted(root), nil) // written above: no randomness needed
	if err != nil {
		t.Fatal(err)
	}
	in := RenderInput{Machine: "gone", Settings: cfg, CA: fileOf(t, res, CAPath("gone")).Content, Cert: fileOf(t, res, CertPath("gone")).Content, Key: fileOf(t, res, KeyPath("gone")).Content, Blocklist: fps, Console: &console}
	want, _ := RenderConfig(in)
	if !bytes.Equal(with, want) {
		t.Errorf("SetBlocklist differs from a render with the blocklist:\n%s\n---\n%s", with, want)
	}
	if !bytes.Contains(with, []byte(`blocklist:`)) {
		t.Errorf("no blocklist in:\n%s", with)
	}
	without, _ := SetBlocklist(with, nil)
	if !bytes.Equal(without, conf) {
		t.Errorf("SetBlocklist(nil) does not give back the config without one")
	}
	if nb, err := exec.LookPath("nebula"); err == nil {
		// The console's host key is where the unit's credentials would be;
		// point the config at the copy on the "host", so nebula loads it.
		with := bytes.ReplaceAll(with, []byte(consoleHostKeyInUnit("gone")), []byte(filepath.Join(root, ConsoleHostKeyPath("gone"))))
		writeFiles(t, root, []File{{Path: ConfigPath("gone"), Content: with, Mode: FileMode}})
		if out, err := exec.Command(nb, "-test", "-config", filepath.Join(root, ConfigPath("gone"))).CombinedOutput(); err != nil {
			t.Errorf("nebula -test with a blocklist: %v\n%s", err, out)
		}
	}
}

func TestCertProblems(t *testing.T) {
	v1, v2, v3 := 1, 2, 3
	for _, c := range []struct {
		cfg  CertAttrs
		attr string
	}{
		{CertAttrs{Signs: true, CertVersion: &v3}, "cert_version"},
		{CertAttrs{Signs: true, Address6: "fd42::5/64"}, "address6"},
		{CertAttrs{Signs: true, Address6: "fd42::5/64", CertVersion: &v1}, "address6"},
		{CertAttrs{Signs: true, Address6: "10.0.0.1/24", CertVersion: &v2}, "address6"},
		{CertAttrs{Address6: "fd42::5/64", CertVersion: &v2}, "address6"},
		{CertAttrs{Signs: true, Duration: "soon"}, "duration"},
		{CertAttrs{Signs: true, Duration: "10s"}, "duration"},
		{CertAttrs{Duration: "24h"}, "duration"},
		{CertAttrs{Signs: true, Duration: "24h", RenewBefore: "24h"}, "renew_before"},
		{CertAttrs{Signs: true, Address6: "fd42::5/64", CertVersion: &v2, Duration: "24h", RenewBefore: "1h"}, ""},
	} {
		p := CertProblems(c.cfg)
		got := ""
		if len(p) > 0 {
			got = p[0].Attr
		}
		if got != c.attr {
			t.Errorf("%+v: problem at %q (%v), want %q", c.cfg, got, p, c.attr)
		}
	}
	if d, r, err := ParseLifetime("3h", ""); err != nil || d != 3*time.Hour || r != time.Hour {
		t.Errorf("ParseLifetime(3h) = %s, %s, %v", d, r, err)
	}
	if _, r, err := ParseLifetime("", ""); err != nil || r != RenewBefore {
		t.Errorf("default renewal window %s, %v", r, err)
	}
	if d, r, err := ParseLifetime("24h", "1h"); err != nil || d != 24*time.Hour || r != time.Hour {
		t.Errorf("ParseLifetime(24h, 1h) = %s, %s, %v", d, r, err)
	}
	if _, _, err := ParseLifetime("soon", ""); err == nil || !strings.Contains(err.Error(), "duration: \"soon\" is not a duration") {
		t.Errorf("ParseLifetime(soon): %v, want the duration's problem", err)
	}
	if v, err := ParseCAVersions("1,2"); err != nil || len(v) != 2 {
		t.Errorf("ParseCAVersions(1,2) = %v, %v", v, err)
	}
	if _, err := ParseCAVersions("3"); err == nil {
		t.Error("ParseCAVersions(3) accepted")
	}
}
