package host

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
)

// UnitFailure is a job that did not end "done", with what the unit itself
// says about it, so that a refused or failed start tells the user why
// instead of sending them to the journal.
type UnitFailure struct {
	Verb string // "starting", "stopping"
	Unit string
	// JobResult is the job's result: "failed", "timeout", "dependency", ...
	JobResult string
	// Result is the unit's own Result property for a service ("exit-code",
	// "timeout", "signal", ...); "" when it could not be read.
	Result string
	// Log holds the unit's last journal lines of this invocation, oldest
	// first, as "IDENTIFIER: MESSAGE".
	Log []string
}

// failureLogLines bounds the journal lines a UnitFailure quotes.
const failureLogLines = 12

// Error implements error.
func (f *UnitFailure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: the job ended %q", f.Verb, f.Unit, f.JobResult)
	if f.Result != "" && f.Result != "success" {
		fmt.Fprintf(&b, " (result: %s)", f.Result)
	}
	if len(f.Log) == 0 {
		fmt.Fprintf(&b, "; it logged nothing for this start; see systemctl status %s", f.Unit)
		return b.String()
	}
	b.WriteString("; its log:")
	for _, l := range f.Log {
		b.WriteString("\n    " + l)
	}
	fmt.Fprintf(&b, "\n(full log: journalctl -u %s)", f.Unit)
	return b.String()
}

// describeFailure reads the unit's Result and the journal of its last
// invocation. Errors are left out: the failure is reported either way.
func (u *SystemdUnits) describeFailure(ctx context.Context, verb, unit, jobResult string) *UnitFailure {
	f := &UnitFailure{Verb: verb, Unit: unit, JobResult: jobResult}
	var invocation string
	_ = u.call(ctx, func(c *sd.Conn) error {
		if p, err := c.GetServicePropertyContext(ctx, unit, "Result"); err == nil {
			f.Result, _ = p.Value.Value().(string)
		}
		if p, err := c.GetUnitPropertyContext(ctx, unit, "InvocationID"); err == nil {
			if id, ok := p.Value.Value().([]byte); ok && len(id) > 0 {
				invocation = hex.EncodeToString(id)
			}
		}
		return nil
	})
	if invocation != "" {
		f.Log = invocationLog(ctx, invocation)
	}
	return f
}

// invocationLog returns the last journal lines of one invocation of a unit:
// its processes' output (_SYSTEMD_INVOCATION_ID) and systemd's messages
// about it (INVOCATION_ID). journald may not have stored a process's last
// output when systemd reports the job, so it waits up to two seconds for
// the processes' lines. journalctl is used because the journal's C API
// needs cgo, and nspawnctl is a static binary.
func invocationLog(ctx context.Context, invocation string) []string {
	deadline := time.Now().Add(2 * time.Second)
	for {
		out, err := exec.CommandContext(ctx, "journalctl", "--no-pager", "--quiet", "--output=json",
			"--lines="+fmt.Sprint(failureLogLines),
			"_SYSTEMD_INVOCATION_ID="+invocation, "+", "INVOCATION_ID="+invocation).Output()
		lines, fromProcesses := parseJournalJSON(out)
		if err != nil || fromProcesses || time.Now().After(deadline) || ctx.Err() != nil {
			return lines
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// parseJournalJSON formats journalctl --output=json lines as
// "IDENTIFIER: MESSAGE" and says whether any came from the unit's own
// processes rather than from systemd.
func parseJournalJSON(data []byte) (lines []string, fromProcesses bool) {
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		msg := journalString(e["MESSAGE"])
		if msg == "" {
			continue
		}
		if _, ok := e["_SYSTEMD_INVOCATION_ID"]; ok {
			fromProcesses = true
		}
		// nspawnctl's own messages already start with "nspawnctl: ".
		if id := journalString(e["SYSLOG_IDENTIFIER"]); id != "" && !strings.HasPrefix(msg, id+": ") {
			msg = id + ": " + msg
		}
		lines = append(lines, msg)
	}
	return lines, fromProcesses
}

// journalString decodes a journal JSON field: a string, or an array of
// bytes for a value that is not valid UTF-8 or has control characters.
func journalString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		b := make([]byte, 0, len(v))
		for _, x := range v {
			if n, ok := x.(float64); ok {
				b = append(b, byte(n))
			}
		}
		return strings.ToValidUTF8(strings.TrimRight(string(b), "\n"), "?")
	}
	return ""
}
