package renumber

import (
	"context"
	"net/netip"
	"time"
)

// Event is an address of the watched link appearing or going away, as the
// kernel reports it.
type Event struct {
	Addr    netip.Prefix
	Removed bool
	// Valid is what remained of the address's valid lifetime (for a removal,
	// at the moment it was removed); negative means infinite.
	Valid time.Duration
}

// Sender puts one deprecating advertisement on the link.
type Sender interface {
	Send(d Deprecation) error
}

// DefaultGrace is how long a removed address must stay away before its
// prefix is deprecated: networkd removes and re-adds its addresses when a
// link is reconfigured, and a prefix that comes straight back is not stale.
const DefaultGrace = 500 * time.Millisecond

// Watcher turns removals of delegated addresses into deprecating router
// advertisements, on the schedule of Schedule, until the prefix comes back
// or its valid lifetime is over.
type Watcher struct {
	Send Sender
	// RouterLifetime of the advertisements (0: DefaultRouterLifetime).
	RouterLifetime time.Duration
	// Grace before the first advertisement (0: DefaultGrace).
	Grace time.Duration
	// Schedule gives the offsets of the advertisements after the grace
	// (nil: the package's Schedule).
	Schedule func(valid time.Duration) []time.Duration
	// Logf reports each advertisement sent and each failure (nil: silent).
	Logf func(format string, args ...any)
}

type pending struct {
	d       Deprecation
	removed time.Time
	steps   []time.Duration
}

func (p *pending) due() time.Time { return p.removed.Add(p.steps[0]) }

// Run consumes events until ctx ends or events is closed.
func (w *Watcher) Run(ctx context.Context, events <-chan Event) error {
	logf := w.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	sched := w.Schedule
	if sched == nil {
		sched = Schedule
	}
	grace := cmpOr(w.Grace, DefaultGrace)
	rl := cmpOr(w.RouterLifetime, DefaultRouterLifetime)
	stale := map[netip.Prefix]*pending{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	rearm := func() {
		timer.Stop()
		var soonest time.Time
		for _, p := range stale {
			if soonest.IsZero() || p.due().Before(soonest) {
				soonest = p.due()
			}
		}
		if !soonest.IsZero() {
			timer.Reset(max(0, time.Until(soonest)))
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			p := ev.Addr.Masked()
			switch {
			case !Stale(ev.Addr) || p.Bits() != 64:
			case !ev.Removed:
				if _, was := stale[p]; was {
					logf("%s is back on the link: not deprecating it", p)
				}
				delete(stale, p)
			default:
				valid := ev.Valid
				if valid < 0 {
					valid = MinValidLifetime
				}
				if valid = ValidLifetime(valid); valid > 0 {
					steps := sched(valid)
					for i := range steps {
						steps[i] += grace
					}
					stale[p] = &pending{d: Deprecation{Prefix: p, Valid: valid, RouterLifetime: rl}, removed: time.Now(), steps: steps}
				}
			}
			rearm()
		case <-timer.C:
			now := time.Now()
			for p, st := range stale {
				if st.due().After(now) {
					continue
				}
				// One advertisement per due step; the valid lifetime
				// counts down as the old lease's would have.
				for len(st.steps) > 0 && !st.due().After(now) {
					st.steps = st.steps[1:]
				}
				d := st.d
				d.Valid -= now.Sub(st.removed)
				if d.Valid > 0 {
					if err := w.Send.Send(d); err != nil {
						logf("deprecating %s: %v", p, err)
					} else {
						logf("announced %s with preferred lifetime 0, valid lifetime %s", p, d.Valid.Round(time.Second))
					}
				}
				if len(st.steps) == 0 || d.Valid <= 0 {
					delete(stale, p)
				}
			}
			rearm()
		}
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
