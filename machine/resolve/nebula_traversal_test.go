package resolve_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/machine/resolve"
)

// forwardsOf lists a resolved machine's forwards as nat prints them.
func forwardsOf(r *resolve.Resolved, name string) []string {
	var out []string
	for _, f := range r.Machine(name).Forwards {
		out = append(out, f.String())
	}
	return out
}

// The fleet examples validate on their own (each host applies one file), and
// every sidecar with a listen port gets a UDP forward of it per family.
func TestFleetExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/fleet/host*.hcl")
	if err != nil || len(files) != 3 {
		t.Fatalf("examples/fleet: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, diags := loadAndValidate([]string{f})
			if diags.HasErrors() || r == nil {
				t.Fatalf("%s: %v", f, diags)
			}
			for _, m := range r.Machines {
				if m.Nebula == nil || len(m.Nebula.AdvertiseAddrs) == 0 {
					t.Errorf("%s: machine %s has no advertised address; every fleet machine is reached from other hosts", f, m.Name)
					continue
				}
				fw := forwardsOf(r, m.Name)
				want := fmt.Sprintf("udp *:%d -> ", m.Nebula.ListenPort)
				if len(fw) != 2 || !strings.HasPrefix(fw[0], want) || !strings.HasPrefix(fw[1], want) {
					t.Errorf("%s: machine %s forwards %v, want a UDP forward of its listen port for IPv4 and IPv6", f, m.Name, fw)
				}
			}
		})
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.hcl")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// traversalMachine is machine NAME with network mode MODE (and NET), EXTRA
// blocks, and a nebula block with NEBULA.
const traversalMachine = `machine "NAME" {
  network {
    mode = "MODE"
    NET
  }
  EXTRA
  nebula {
    network = "n"
    ca      = "/ca.crt"
    ca_key  = "/ca.key"
    address = "10.42.0.5/24"
    NEBULA
  }
}
`

// A fixed listen port is forwarded on NATed networks only, an explicit UDP
// forward to it is used instead of a second one, and a clash between two
// machines is reported at the nebula block's listen_port.
func TestNebulaListenPortForward(t *testing.T) {
	for _, c := range []struct {
		name, mode, net, extra, nebula string
		want                           []string
	}{
		{"member", "veth", "", "", "listen_port = 4243", []string{"udp *:4243 -> "}},
		{"zone", "zone", `zone = "z"`, "", "listen_port = 4243", []string{"udp *:4243 -> "}},
		{"lighthouse", "veth", "", "", "am_lighthouse = true", []string{"udp *:4242 -> "}},
		{"random", "veth", "", "", "", nil},
		{"macvlan", "macvlan", `macvlan = ["eth0"]`, "", "listen_port = 4243", nil},
		{"explicit", "veth", "", `forward_port {
    protocol       = "udp"
    host_port      = 14243
    container_port = 4243
  }`, "listen_port = 4243", []string{"udp *:14243 -> "}},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := strings.NewReplacer("NAME", c.name, "MODE", c.mode, "NET", c.net, "EXTRA", c.extra, "NEBULA", c.nebula).Replace(traversalMachine)
			if c.mode == "zone" {
				body = "zone \"z\" {}\n" + body
			}
			r, diags := loadAndValidate([]string{writeConfig(t, body)})
			if diags.HasErrors() {
				t.Fatalf("%v\n%s", diags, body)
			}
			got := forwardsOf(r, c.name)
			var v4 []string
			for _, f := range got {
				if !strings.Contains(f, "[") {
					v4 = append(v4, f)
				}
			}
			if len(v4) != len(c.want) {
				t.Fatalf("IPv4 forwards %v, want %v", v4, c.want)
			}
			for i := range v4 {
				if !strings.HasPrefix(v4[i], c.want[i]) {
					t.Errorf("forward %q, want %q...", v4[i], c.want[i])
				}
			}
		})
	}
}

func TestNebulaListenPortClash(t *testing.T) {
	body := `machine "a" {
  nebula {
    network     = "n"
    ca          = "/ca.crt"
    ca_key      = "/ca.key"
    address     = "10.42.0.5/24"
    listen_port = 4243
  }
}
machine "b" {
  nebula {
    network     = "n"
    ca          = "/ca.crt"
    ca_key      = "/ca.key"
    address     = "10.42.0.6/24"
    listen_port = 4243
  }
}
`
	_, diags := loadAndValidate([]string{writeConfig(t, body)})
	if !diags.HasErrors() {
		t.Fatal("two machines with listen_port 4243 on one host validated")
	}
	var found bool
	for _, d := range diags {
		if d.Summary == "Host port already forwarded" && d.Subject != nil && d.Subject.Start.Line == 16 {
			found = true
		}
	}
	if !found {
		t.Errorf("want the clash reported at machine b's listen_port (line 16): %v", diags)
	}
}
