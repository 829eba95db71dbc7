package nat

import (
	"strings"
	"testing"
)

// TestCheckMachine: in a real kernel with systemd's tables populated as
// nspawn's Port= leaves them, the pre-start check refuses a port systemd maps
// and a port another machine's installed forward claims, accepts a free one,
// and changes nothing in the kernel in any case.
func TestCheckMachine(t *testing.T) {
	requireKernel(t)
	ns := newNS(t)
	nftIn(t, ns, systemdReference+systemdElements, "-f", "-")
	a := newApplier(t, ns)
	db := Machine{Name: "db", Link: "ve-db", Forwards: []Forward{{Protocol: "tcp", HostPorts: port(5432), Target: a4("10.0.0.3"), TargetPorts: port(5432)}}}
	if err := a.ApplyMachine(db); err != nil {
		t.Fatal(err)
	}
	before, batches := nftIn(t, ns, "", "list", "ruleset"), a.Batches
	web := func(p uint16) Machine {
		return Machine{Name: "web", Link: "ve-web", Forwards: []Forward{{Protocol: "tcp", HostPorts: port(p), Target: a4("10.0.0.2"), TargetPorts: port(80)}}}
	}
	for _, c := range []struct {
		port uint16
		want string // "" = accepted
	}{
		{2222, `machine "web": tcp port 2222 (ip) is already mapped by systemd in ip io.systemd.nat map_port_ipport (an nspawn Port= setting)`},
		{5432, `machine "web": host port tcp *:5432 is also forwarded by machine "db"`},
		{8080, ""},
	} {
		err := a.CheckMachine(web(c.port))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("port %d: %v, want no conflict", c.port, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("port %d: error %v, want one containing %q", c.port, err, c.want)
		}
	}
	// The machine's own installed forwards are no conflict (a restart).
	if err := a.CheckMachine(db); err != nil {
		t.Errorf("db against its own forwards: %v", err)
	}
	if after := nftIn(t, ns, "", "list", "ruleset"); after != before || a.Batches != batches {
		t.Errorf("CheckMachine changed the kernel (%d batches):\n%s", a.Batches-batches, after)
	}
}
