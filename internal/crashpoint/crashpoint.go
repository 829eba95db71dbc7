// Package crashpoint lets the crash-safety test kill nspawnctl with SIGKILL
// at a chosen step, deterministically, instead of at a moment guessed with a
// timer. Each step that leaves the host in a different state calls Hit; in
// normal use (the variables below unset) Hit does nothing but count.
//
//	NSPAWNCTL_TEST_CRASH_AT=N     the Nth call of Hit SIGKILLs the process
//	NSPAWNCTL_TEST_CRASH_LOG=FILE every call of Hit appends "N NAME" to FILE
//
// The log lets the test find out how many points a run passes, and name the
// point in a failure message.
package crashpoint

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// Environment variables read once, at the first Hit.
const (
	EnvAt  = "NSPAWNCTL_TEST_CRASH_AT"
	EnvLog = "NSPAWNCTL_TEST_CRASH_LOG"
)

var (
	mu      sync.Mutex
	once    sync.Once
	at      int
	logPath string
	count   int
)

// Hit marks the step name. When it is the step the test asked for, the
// process kills itself with SIGKILL, as kill -9 would: no deferred
// function, no cleanup runs.
func Hit(name string) {
	once.Do(func() {
		at, _ = strconv.Atoi(os.Getenv(EnvAt))
		logPath = os.Getenv(EnvLog)
	})
	if at <= 0 && logPath == "" {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	count++
	if logPath != "" {
		if f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			fmt.Fprintf(f, "%d %s\n", count, name)
			f.Close()
		}
	}
	if count == at {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way; never go on past the point
	}
}
