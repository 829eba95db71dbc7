package renumber

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

type recorder struct {
	mu   sync.Mutex
	sent []Deprecation
}

func (r *recorder) Send(d Deprecation) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, d)
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sent)
}

func fast(time.Duration) []time.Duration { return []time.Duration{0, 20 * time.Millisecond} }

func run(t *testing.T, events ...Event) *recorder {
	t.Helper()
	rec := &recorder{}
	w := &Watcher{Send: rec, Grace: 30 * time.Millisecond, Schedule: fast}
	ch := make(chan Event, len(events))
	for _, e := range events {
		ch <- e
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_ = w.Run(ctx, ch)
	return rec
}

var (
	old = netip.MustParsePrefix("2001:db8:f000:102::1/64")
	ula = netip.MustParsePrefix("fd12:3456:789a:1::1/64")
)

func TestRemovedDelegatedAddressIsDeprecatedOnSchedule(t *testing.T) {
	rec := run(t, Event{Addr: old, Removed: true, Valid: 89 * time.Second})
	if rec.count() != 2 {
		t.Fatalf("sent %d advertisements, want 2 (the schedule's): %+v", rec.count(), rec.sent)
	}
	d := rec.sent[0]
	if d.Prefix != old.Masked() || d.Valid <= 88*time.Second || d.Valid > 89*time.Second || d.RouterLifetime != DefaultRouterLifetime {
		t.Errorf("first advertisement %+v, want %s valid just under 89 s", d, old.Masked())
	}
}

func TestPrefixThatComesBackIsNotDeprecated(t *testing.T) {
	rec := run(t, Event{Addr: old, Removed: true, Valid: time.Minute}, Event{Addr: old, Valid: time.Minute})
	if rec.count() != 0 {
		t.Fatalf("sent %+v for a prefix re-added within the grace", rec.sent)
	}
}

func TestOnlyGlobalPrefixesAreDeprecated(t *testing.T) {
	ll := netip.MustParsePrefix("fe80::1/64")
	if rec := run(t, Event{Addr: ula, Removed: true, Valid: time.Minute}, Event{Addr: ll, Removed: true, Valid: time.Minute},
		Event{Addr: old, Removed: true, Valid: 0}); rec.count() != 0 {
		t.Fatalf("sent %+v for a ULA, a link-local and an expired address", rec.sent)
	}
}

func TestValidLifetimeCapsAtTwoHours(t *testing.T) {
	rec := run(t, Event{Addr: old, Removed: true, Valid: -1})
	if rec.count() == 0 || rec.sent[0].Valid > MinValidLifetime || rec.sent[0].Valid < MinValidLifetime-time.Second {
		t.Fatalf("infinite lifetime: sent %+v, want valid lifetime just under 2 h", rec.sent)
	}
}

func TestScheduleEndsWithinValidLifetime(t *testing.T) {
	for _, c := range []struct {
		valid time.Duration
		n     int
	}{{5 * time.Second, 3}, {89 * time.Second, 5}, {MinValidLifetime, 16}} {
		s := Schedule(c.valid)
		if len(s) != c.n || s[len(s)-1] >= c.valid {
			t.Errorf("Schedule(%s) = %v, want %d steps before %s", c.valid, s, c.n, c.valid)
		}
	}
}

func TestAdvertisementLayout(t *testing.T) {
	b := Advertisement(Deprecation{Prefix: netip.MustParsePrefix("2001:db8:f000:102::/64"), Valid: 89 * time.Second, RouterLifetime: 1800 * time.Second})
	want := []byte{
		134, 0, 0, 0, 0, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, // RA: router lifetime 1800
		3, 4, 64, 0xc0, 0, 0, 0, 89, 0, 0, 0, 0, 0, 0, 0, 0, // PIO: L+A, valid 89, preferred 0
		0x20, 0x01, 0x0d, 0xb8, 0xf0, 0x00, 0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 0,
	}
	if string(b) != string(want) {
		t.Fatalf("advertisement\n% x\nwant\n% x", b, want)
	}
}

func TestUnitRunsWatcherForInstanceLink(t *testing.T) {
	b, err := Unit("/opt/my tools/nspawnctl")
	if err != nil {
		t.Fatal(err)
	}
	u := string(b)
	for _, want := range []string{
		`ExecStart="/opt/my tools/nspawnctl" prefix-delegation deprecate-stale %i`,
		"StopWhenUnneeded=yes",
	} {
		if !strings.Contains(u, want) {
			t.Errorf("unit lacks %q:\n%s", want, u)
		}
	}
	// A newline in the path is escaped, not a new key.
	if b, err := Unit("/opt/nspawnctl\nExecStartPre=/bin/evil"); err != nil || strings.Contains(string(b), "\nExecStartPre=") {
		t.Errorf("a binary path with a newline: %v\n%s", err, b)
	}
	if got := UnitInstance("ve-pd1"); got != "nspawnctl-pd-deprecate@ve-pd1.service" {
		t.Errorf("UnitInstance = %s", got)
	}
}
