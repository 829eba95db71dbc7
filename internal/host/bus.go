package host

import (
	"context"
	"fmt"
	"sync"

	"github.com/godbus/dbus/v5"
)

// Bus is nspawnctl's one connection to the system bus, shared by the
// systemd, machined and networkd adapters: one authentication, one Hello, one
// socket per command instead of one per adapter. It redials once when the
// connection was closed under it (the bus restarted, systemd re-executed)
// so that a long command does not fail every later call.
type Bus struct {
	mu     sync.Mutex
	dial   func(ctx context.Context) (*dbus.Conn, error)
	conn   *dbus.Conn
	closed bool
}

// DialError is the failure to connect to the system bus. Its message says
// what to check; Reason is godbus's own error, for a caller that words the
// failure itself (doctor reports it as the reason a check was skipped).
type DialError struct{ Reason error }

func (e *DialError) Error() string {
	return fmt.Sprintf("connecting to systemd over D-Bus (the system bus): %v (is this a systemd host with D-Bus running, and are you root?)", e.Reason)
}

// Unwrap returns Reason.
func (e *DialError) Unwrap() error { return e.Reason }

// DialSystemBus opens a new, unshared connection to the system bus. Its
// error is a *DialError.
func DialSystemBus(ctx context.Context) (*dbus.Conn, error) {
	c, err := dbus.ConnectSystemBus(dbus.WithContext(ctx))
	if err != nil {
		return nil, &DialError{Reason: err}
	}
	return c, nil
}

// OpenBus connects to the system bus.
func OpenBus(ctx context.Context) (*Bus, error) { return NewBus(ctx, DialSystemBus) }

// NewBus opens a Bus whose connections come from dial; tests pass a dialer
// that counts, or one to a private dbus-daemon. dial's context carries the
// caller's values but is never cancelled: the connection outlives the call.
func NewBus(ctx context.Context, dial func(context.Context) (*dbus.Conn, error)) (*Bus, error) {
	b := &Bus{dial: dial}
	if _, err := b.Conn(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// Conn returns the live connection, dialling again if it was closed.
func (b *Bus) Conn(ctx context.Context) (*dbus.Conn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("system bus: %w", dbus.ErrClosed)
	}
	if b.conn != nil && b.conn.Connected() {
		return b.conn, nil
	}
	// The connection serves every later call, so it must not end with the
	// call that happened to dial it (godbus closes a connection when its
	// context is done).
	c, err := b.dial(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	b.conn = c
	return c, nil
}

// Close closes the connection; later calls fail instead of redialling.
// Closing twice is harmless.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.conn == nil {
		return nil
	}
	return b.conn.Close()
}
