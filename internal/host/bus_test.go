package host

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// privateBus starts a dbus-daemon of its own on a socket in a temporary
// directory (never the machine's bus) and returns its address.
func privateBus(t *testing.T) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Fatalf("dbus-daemon is needed for this test (apt-get install dbus-daemon): %v", err)
	}
	addr := "unix:path=" + filepath.Join(t.TempDir(), "bus")
	cmd := exec.Command(daemon, "--session", "--nofork", "--nopidfile", "--address="+addr, "--print-address=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// The daemon prints its address once it listens.
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon did not start: %v", err)
	}
	return strings.TrimSpace(line)
}

// fakeServices plays systemd, machined and networkd on a bus and records
// the unique name of every caller.
type fakeServices struct {
	mu      sync.Mutex
	senders []string
}

func (f *fakeServices) saw(s dbus.Sender) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.senders = append(f.senders, string(s))
}

type fakeSystemd struct{ *fakeServices }

func (f fakeSystemd) Subscribe(s dbus.Sender) *dbus.Error { f.saw(s); return nil }
func (f fakeSystemd) Reload(s dbus.Sender) *dbus.Error    { f.saw(s); return nil }

type fakeMachined struct{ *fakeServices }

type machineEntry struct {
	Name, Class, Service string
	Path                 dbus.ObjectPath
}

func (f fakeMachined) ListMachines(s dbus.Sender) ([]machineEntry, *dbus.Error) {
	f.saw(s)
	return []machineEntry{}, nil
}

type fakeNetworkd struct{ *fakeServices }

func (f fakeNetworkd) Reload(s dbus.Sender) *dbus.Error { f.saw(s); return nil }

func serveFakes(t *testing.T, addr string) *fakeServices {
	t.Helper()
	c, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f := &fakeServices{}
	export := func(v any, path dbus.ObjectPath, iface, name string) {
		if err := c.Export(v, path, iface); err != nil {
			t.Fatal(err)
		}
		if r, err := c.RequestName(name, dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
			t.Fatalf("owning %s on the private bus: %v %v", name, r, err)
		}
	}
	export(fakeSystemd{f}, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "org.freedesktop.systemd1")
	export(fakeMachined{f}, machinedPath, machinedMgr, machinedName)
	export(fakeNetworkd{f}, "/org/freedesktop/network1", "org.freedesktop.network1.Manager", "org.freedesktop.network1")
	return f
}

// countingBus opens a Bus on a private dbus-daemon that serves the fakes,
// with a dialer that counts how often it runs.
func countingBus(t *testing.T) (context.Context, *Bus, *atomic.Int32, *fakeServices) {
	t.Helper()
	addr := privateBus(t)
	services := serveFakes(t, addr)
	dials := &atomic.Int32{}
	dial := func(ctx context.Context) (*dbus.Conn, error) {
		dials.Add(1)
		return dbus.Connect(addr, dbus.WithContext(ctx))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	bus, err := NewBus(ctx, dial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close() })
	return ctx, bus, dials, services
}

// The three adapters share one connection: the dialer runs once, and every
// service sees all of their calls come from one unique bus name.
func TestBusIsOneConnection(t *testing.T) {
	ctx, bus, dials, services := countingBus(t)
	units, err := NewSystemdUnits(ctx, bus)
	if err != nil {
		t.Fatal(err)
	}
	if err := units.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMachined(bus).List(ctx); err != nil {
		t.Fatal(err)
	}
	if err := NewNetworkdBus(bus).Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("the adapters dialled the bus %d times, want 1", n)
	}
	services.mu.Lock()
	senders := services.senders
	services.mu.Unlock()
	// Subscribe, systemd's Reload, ListMachines, networkd's Reload.
	if len(senders) != 4 {
		t.Fatalf("services saw %d calls, want 4: %v", len(senders), senders)
	}
	for _, s := range senders[1:] {
		if s != senders[0] {
			t.Errorf("calls came from %v, want one connection", senders)
			break
		}
	}

	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bus.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	if err := NewNetworkdBus(bus).Reload(ctx); err == nil {
		t.Error("a call after Close succeeded; it must not dial again")
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("after Close the bus was dialled %d times, want 1", n)
	}
}

// A connection closed under the adapters (the bus restarted) is replaced
// once, and systemd's client is rebuilt over the new one.
func TestBusRedialsAClosedConnection(t *testing.T) {
	ctx, bus, dials, _ := countingBus(t)
	units, err := NewSystemdUnits(ctx, bus)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := bus.Conn(ctx)
	first.Close()
	if err := units.Reload(ctx); err != nil {
		t.Fatalf("reload after the connection closed: %v", err)
	}
	if err := NewNetworkdBus(bus).Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if n := dials.Load(); n != 2 {
		t.Errorf("dialled %d times, want 2 (the first and one replacement)", n)
	}
}

// A connection dialled during a call with a short deadline serves the calls
// after it: it is not closed when that call's context ends.
func TestBusOutlivesTheDiallingCall(t *testing.T) {
	ctx, bus, dials, _ := countingBus(t)
	short, cancel := context.WithCancel(ctx)
	first, err := bus.Conn(short)
	if err != nil {
		t.Fatal(err)
	}
	first.Close() // the next call dials, with the short context
	if err := NewNetworkdBus(bus).Reload(short); err != nil {
		t.Fatal(err)
	}
	cancel()
	time.Sleep(50 * time.Millisecond) // godbus closes on ctx.Done in a goroutine
	if err := NewNetworkdBus(bus).Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if n := dials.Load(); n != 2 {
		t.Errorf("dialled %d times, want 2: the connection died with the call that dialled it", n)
	}
}
