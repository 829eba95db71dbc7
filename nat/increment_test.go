package nat

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/nspawnctl/nspawnctl/internal/golden"
)

// TestReplaceMachine drives ReplaceMachine through adding, changing and
// removing machines next to others (wildcard, address-bound, source-limited
// forwards, outbound NAT, systemd's own entries) and checks after every step
// that the kernel lists exactly what Apply of the whole set would, that a
// repeat sends nothing, and that systemd's objects are untouched.
func TestReplaceMachine(t *testing.T) {
	ns, before, a := systemdBed(t)
	a.Links = nil
	installed := map[string]Machine{}
	step := func(name string, old *Machine, m Machine) {
		t.Helper()
		if err := a.ReplaceMachine(old, m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(m.Forwards) > 0 || len(m.Masquerade) > 0 {
			installed[m.Name] = m
		} else {
			delete(installed, m.Name)
		}
		var all []Machine
		for _, im := range installed {
			all = append(all, im)
		}
		want, err := Plan(all)
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.Installed()
		if err != nil {
			t.Fatal(err)
		}
		// Interval sets list in insertion order, which differs between
		// one apply of all and a sequence of changes.
		if g, w := canonical(got).OwnText(), canonical(want).OwnText(); g != w {
			t.Fatalf("%s: installed differs from the plan of all machines:\n%s", name, golden.Diff(w, g))
		}
		n := a.Batches
		if err := a.ReplaceMachine(&m, m); err != nil {
			t.Fatalf("%s, repeated: %v", name, err)
		}
		if a.Batches != n {
			t.Errorf("%s: repeating it sent a batch", name)
		}
		if after := systemdSnapshot(t, ns); after != before {
			t.Fatalf("%s changed systemd's objects:\n%s", name, golden.Diff(before, after))
		}
	}
	none := func(name string) *Machine { return &Machine{Name: name} }
	base := append(planCase("machines"), planCase("masquerade")[1])
	base[0].Masquerade = []netip.Prefix{pfx("10.0.0.0/28")}
	for _, m := range base {
		step("add "+m.Name, none(m.Name), m)
	}
	web := installed["web"]
	web2 := web
	web2.Forwards = []Forward{{Protocol: "tcp", HostPorts: port(8081), Target: a4("10.0.0.2"), TargetPorts: port(80), AllowFrom: []netip.Prefix{pfx("198.51.100.0/24")}}}
	web2.Masquerade = []netip.Prefix{pfx("10.0.0.0/28")}
	step("change web", &web, web2)
	step("remove db", ptr(installed["db"]), Machine{Name: "db"})

	// Refusals: the same port as another machine's wildcard, a wildcard on a
	// port another machine binds to an address, a port systemd maps, and
	// another machine's network on the same link.
	refused := []struct {
		m    Machine
		want string
	}{
		{Machine{Name: "x1", Link: "ve-x1", Masquerade: []netip.Prefix{pfx("10.9.0.0/28")}, Forwards: []Forward{{Protocol: "tcp", HostPorts: port(8081), Target: a4("10.9.0.2"), TargetPorts: port(80)}}},
			`machine "web"`},
		{Machine{Name: "x2", Link: "ve-x2", Forwards: []Forward{{Protocol: "tcp", HostPorts: port(6379), Target: a4("10.9.0.18"), TargetPorts: port(80)}}},
			`machine "cache"`},
		{Machine{Name: "x3", Link: "ve-x3", Forwards: []Forward{{Protocol: "tcp", HostPorts: port(2222), Target: a4("10.9.0.34"), TargetPorts: port(22)}}},
			`already mapped by systemd`},
		{Machine{Name: "x4", Link: "ve-web", Masquerade: []netip.Prefix{pfx("10.0.0.0/24")}},
			`overlaps network 10.0.0.0/28 of machine "web"`},
	}
	for _, r := range refused {
		n := a.Batches
		err := a.ReplaceMachine(none(r.m.Name), r.m)
		if err == nil || !strings.Contains(err.Error(), r.want) {
			t.Errorf("machine %s: err = %v, want %q", r.m.Name, err, r.want)
		}
		if a.Batches != n {
			t.Errorf("machine %s: a refused change sent a batch", r.m.Name)
		}
	}

	// Removing the last machines removes nspawnctl's objects, never systemd's.
	for name, m := range installed {
		step("remove "+name, ptr(m), Machine{Name: name})
	}
	if got := nftIn(t, ns, "", "list", "ruleset"); strings.Contains(got, "nspawnctl") {
		t.Errorf("removing every machine left nspawnctl objects:\n%s", got)
	}

	// After a flush the tables are gone: the first machine falls back to a
	// full apply, which creates systemd's layout again.
	nftIn(t, ns, "", "flush", "ruleset")
	quiet := Machine{Name: "quiet", Link: "ve-quiet", Masquerade: []netip.Prefix{pfx("10.0.0.16/28")}}
	if err := a.ReplaceMachine(&quiet, quiet); err != nil {
		t.Fatal(err)
	}
	want, _ := Plan([]Machine{quiet})
	if got := nftIn(t, ns, "", "list", "ruleset"); got != want.Text() {
		t.Errorf("after a flush:\n%s", golden.Diff(want.Text(), got))
	}
}

func ptr[T any](v T) *T { return &v }

func planCase(name string) []Machine {
	for _, c := range planCases {
		if c.name == name {
			return append([]Machine{}, c.machines...)
		}
	}
	panic(name)
}

// canonical sorts every set's elements by their text.
func canonical(rs *Ruleset) *Ruleset {
	out := rs.filter(func(Element) bool { return true })
	for f := range out.Tables {
		for k := range out.Tables[f].Sets {
			slices.SortFunc(out.Tables[f].Sets[k], func(a, b Element) int {
				return strings.Compare(elementText(SetKind(k), a), elementText(SetKind(k), b))
			})
		}
	}
	return out
}
