package host

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/nspawnctl/nspawnctl/internal/crashpoint"
)

// Units is what nspawnctl needs of the service manager. The real
// implementation talks to systemd over D-Bus; tests may fake it.
type Units interface {
	// Start starts unit and waits until its job finished; a job that does not
	// end in "done" is an error naming the result.
	Start(ctx context.Context, unit string) error
	// Stop stops unit and waits for the job.
	Stop(ctx context.Context, unit string) error
	// Reload makes systemd re-read unit files (daemon-reload).
	Reload(ctx context.Context) error
	// ResetFailed clears a failed unit's state, so a new start is not refused.
	ResetFailed(ctx context.Context, unit string) error
	// ActiveState returns the unit's ActiveState (active, inactive, failed, ...).
	ActiveState(ctx context.Context, unit string) (string, error)
}

// SystemdUnits implements Units over systemd's D-Bus API on the shared
// Bus. When the bus redialled, it builds go-systemd's client again over the
// new connection (go-systemd takes it through its dialer argument) instead
// of failing every later call.
type SystemdUnits struct {
	bus  *Bus
	mu   sync.Mutex
	raw  *dbus.Conn // the bus connection conn was built over
	conn *sd.Conn
}

// NewSystemdUnits returns systemd's unit manager on bus.
func NewSystemdUnits(ctx context.Context, bus *Bus) (*SystemdUnits, error) {
	u := &SystemdUnits{bus: bus}
	if _, err := u.get(ctx); err != nil {
		return nil, err
	}
	return u, nil
}

func (u *SystemdUnits) get(ctx context.Context) (*sd.Conn, error) {
	raw, err := u.bus.Conn(ctx)
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conn != nil && u.raw == raw {
		return u.conn, nil
	}
	// go-systemd asks its dialer twice (calls, signals); both are the shared
	// connection. Its Close would close that, so it is never called: the Bus
	// owns the connection.
	c, err := sd.NewConnection(func() (*dbus.Conn, error) { return raw, nil })
	if err != nil {
		return nil, fmt.Errorf("connecting to systemd over D-Bus: %w (is this a systemd host, and are you root?)", err)
	}
	// On the system bus (unlike systemd's private socket) systemd emits
	// JobRemoved, which tells Start and Stop that their job ended, only
	// while some client has subscribed.
	if err := raw.Object(systemdName, systemdPath).
		CallWithContext(ctx, systemdName+".Manager.Subscribe", 0).Err; err != nil {
		return nil, fmt.Errorf("subscribing to systemd's job signals: %w (is this a systemd host, and are you root?)", err)
	}
	u.raw, u.conn = raw, c
	return c, nil
}

// call runs fn with a connection, retrying once on a closed connection.
func (u *SystemdUnits) call(ctx context.Context, fn func(*sd.Conn) error) error {
	for attempt := 0; ; attempt++ {
		c, err := u.get(ctx)
		if err != nil {
			return err
		}
		err = fn(c)
		if err == nil || attempt > 0 || !isClosed(err) {
			return err
		}
	}
}

func isClosed(err error) bool {
	return errors.Is(err, dbus.ErrClosed) || strings.Contains(err.Error(), "connection closed")
}

func (u *SystemdUnits) job(ctx context.Context, verb, unit string, start func(*sd.Conn, chan<- string) (int, error)) error {
	ch := make(chan string, 1)
	if err := u.call(ctx, func(c *sd.Conn) error { _, err := start(c, ch); return err }); err != nil {
		return fmt.Errorf("%s %s: %w", verb, unit, err)
	}
	crashpoint.Hit(verb + " " + unit + ": job queued, systemd carries it out")
	select {
	case res := <-ch:
		if res != "done" {
			return u.describeFailure(ctx, verb, unit, res)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s %s: gave up waiting for the job: %w; it may still finish, see systemctl status %s", verb, unit, ctx.Err(), unit)
	}
}

// Start implements Units.
func (u *SystemdUnits) Start(ctx context.Context, unit string) error {
	return u.job(ctx, "starting", unit, func(c *sd.Conn, ch chan<- string) (int, error) {
		return c.StartUnitContext(ctx, unit, "replace", ch)
	})
}

// Stop implements Units.
func (u *SystemdUnits) Stop(ctx context.Context, unit string) error {
	return u.job(ctx, "stopping", unit, func(c *sd.Conn, ch chan<- string) (int, error) {
		return c.StopUnitContext(ctx, unit, "replace", ch)
	})
}

// Reload implements Units.
func (u *SystemdUnits) Reload(ctx context.Context) error {
	if err := u.call(ctx, func(c *sd.Conn) error { return c.ReloadContext(ctx) }); err != nil {
		return fmt.Errorf("reloading systemd's unit files: %w", err)
	}
	return nil
}

// ResetFailed implements Units. A unit that is not failed (or not loaded) is fine.
func (u *SystemdUnits) ResetFailed(ctx context.Context, unit string) error {
	err := u.call(ctx, func(c *sd.Conn) error { return c.ResetFailedUnitContext(ctx, unit) })
	var de dbus.Error
	if errors.As(err, &de) && (strings.HasSuffix(de.Name, "NoSuchUnit") || strings.HasSuffix(de.Name, "UnitNotLoaded")) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("resetting the failed state of %s: %w", unit, err)
	}
	return nil
}

// ActiveState implements Units.
func (u *SystemdUnits) ActiveState(ctx context.Context, unit string) (string, error) {
	var state string
	err := u.call(ctx, func(c *sd.Conn) error {
		p, err := c.GetUnitPropertyContext(ctx, unit, "ActiveState")
		if err != nil {
			return err
		}
		s, ok := p.Value.Value().(string)
		if !ok {
			return fmt.Errorf("unexpected ActiveState %v", p.Value)
		}
		state = s
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading the state of %s: %w", unit, err)
	}
	return state, nil
}
