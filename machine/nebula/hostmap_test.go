package nebula

import (
	"bytes"
	"crypto/rand"
	"io/fs"

	"go.yaml.in/yaml/v3"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The hostmap of each Debian nebula release, recorded from real runs
// (testdata/hostmap/README.md), reads as the same peers.
func TestParseHostmapOfEachRelease(t *testing.T) {
	for _, v := range []string{"1.6.1", "1.9.3", "1.11.0"} {
		for _, c := range []struct {
			view string
			want Peer
		}{
			{"member", Peer{Addresses: []string{"10.99.0.1"}, Name: "lh", Groups: []string{"infra"},
				Fingerprint: "e36af11d65ba5c0cde31a422c40eafb5581364c48d10d1e20e55455366f57984",
				Remote:      "198.51.100.1:4242", Remotes: []string{"198.51.100.1:4242"}, Relays: []string{}}},
			{"lighthouse", Peer{Addresses: []string{"10.99.0.2"}, Name: "m1", Groups: []string{"blue"},
				Fingerprint: "1d44753207fc6dd7edbb4d21ff875e3c6b1b74ad2bb993e09b8c228b9f1ff03c", Relays: []string{}}},
		} {
			out, err := os.ReadFile(filepath.Join("testdata", "hostmap", c.view+"-"+v+".json"))
			if err != nil {
				t.Fatal(err)
			}
			peers, err := ParseHostmap(out)
			if err != nil {
				t.Fatalf("%s %s: %v", c.view, v, err)
			}
			if len(peers) != 1 {
				t.Fatalf("%s %s: %d peers, want 1: %+v", c.view, v, len(peers), peers)
			}
			got := peers[0]
			if got.Messages == 0 {
				t.Errorf("%s %s: message counter 0", c.view, v)
			}
			got.Messages = 0
			if c.view == "lighthouse" {
				// The member's source port is random.
				if len(got.Remotes) != 1 || got.Remote != got.Remotes[0] || got.Remote[:13] != "198.51.100.2:" {
					t.Errorf("%s %s: remote %q remotes %q, want 198.51.100.2:PORT", c.view, v, got.Remote, got.Remotes)
				}
				got.Remote, got.Remotes = "", nil
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s %s:\n got %+v\nwant %+v", c.view, v, got, c.want)
			}
		}
	}
}

func TestParseHostmapRejectsOtherOutput(t *testing.T) {
	for _, out := range []string{"", "10.99.0.1: [198.51.100.1:4242]\n", `[{"remoteAddrs":[7]}]`} {
		if _, err := ParseHostmap([]byte(out)); err == nil {
			t.Errorf("ParseHostmap(%q) succeeded", out)
		}
	}
	peers, err := ParseHostmap([]byte("[]\n"))
	if err != nil || len(peers) != 0 {
		t.Errorf("empty hostmap: %v %v", peers, err)
	}
}

// The console a config turns on listens only on loopback, reads its host
// key from the unit's credentials, and admits the one client key, which is
// kept across applies.
func TestConsoleSection(t *testing.T) {
	read := func(string) ([]byte, error) { return nil, fs.ErrNotExist }
	k, err := consoleKeys("m", read, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := RenderConfig(RenderInput{Machine: "m", Settings: withDefaults(&Settings{Network: "n"}), CA: fakeCA, Cert: fakeCert, Key: fakeKey, Console: &k})
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		SSHD struct {
			Enabled bool
			Listen  string
			HostKey string `yaml:"host_key"`
			Users   []struct {
				User string
				Keys []string
			} `yaml:"authorized_users"`
		}
	}
	if err := yaml.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	pub, _ := authorizedKey(k.Client)
	s := conf.SSHD
	if !s.Enabled || s.Listen != "127.0.0.1:4241" || s.HostKey != "/run/credentials/nspawnctl-nebula@m.service/console_host.key" ||
		len(s.Users) != 1 || s.Users[0].User != ConsoleUser || len(s.Users[0].Keys) != 1 || s.Users[0].Keys[0] != pub {
		t.Errorf("sshd section: %+v", s)
	}
	again, err := consoleKeys("m", func(p string) ([]byte, error) {
		if p == ConsoleHostKeyPath("m") {
			return k.Host, nil
		}
		return k.Client, nil
	}, rand.Reader)
	if err != nil || !bytes.Equal(again.Host, k.Host) || !bytes.Equal(again.Client, k.Client) {
		t.Errorf("keys not kept across applies (%v)", err)
	}
}
