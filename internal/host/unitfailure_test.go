package host

import (
	"slices"
	"strings"
	"testing"
)

func TestParseJournalJSON(t *testing.T) {
	// As journalctl --output=json prints them (fields trimmed): systemd's
	// own message, a hook's stderr, and a message stored as bytes.
	data := `{"MESSAGE":"Starting systemd-nspawn@web.service...","SYSLOG_IDENTIFIER":"systemd","INVOCATION_ID":"ab"}
{"MESSAGE":"nspawnctl: machine \"web\": tcp port 8080 (ip) is already mapped by systemd","SYSLOG_IDENTIFIER":"nspawnctl","_SYSTEMD_INVOCATION_ID":"ab"}
{"MESSAGE":[98,97,100,10],"SYSLOG_IDENTIFIER":"nspawnctl","_SYSTEMD_INVOCATION_ID":"ab"}
not json
{"SYSLOG_IDENTIFIER":"systemd"}
`
	lines, procs := parseJournalJSON([]byte(data))
	want := []string{
		"systemd: Starting systemd-nspawn@web.service...",
		`nspawnctl: machine "web": tcp port 8080 (ip) is already mapped by systemd`,
		"nspawnctl: bad",
	}
	if !slices.Equal(lines, want) || !procs {
		t.Errorf("got %q (from processes: %v), want %q and true", lines, procs, want)
	}
	if _, procs := parseJournalJSON([]byte(`{"MESSAGE":"x","INVOCATION_ID":"ab"}`)); procs {
		t.Error("systemd's own message counted as the unit's processes'")
	}
}

func TestUnitFailureError(t *testing.T) {
	f := &UnitFailure{Verb: "starting", Unit: "systemd-nspawn@web.service", JobResult: "failed", Result: "exit-code",
		Log: []string{"nspawnctl: port taken", "systemd: systemd-nspawn@web.service: Control process exited, code=exited, status=3/NOTIMPLEMENTED"}}
	got := f.Error()
	for _, want := range []string{`the job ended "failed" (result: exit-code); its log:`, "\n    nspawnctl: port taken\n", "journalctl -u systemd-nspawn@web.service"} {
		if !strings.Contains(got, want) {
			t.Errorf("error %q lacks %q", got, want)
		}
	}
	empty := (&UnitFailure{Verb: "starting", Unit: "u.service", JobResult: "dependency"}).Error()
	if !strings.Contains(empty, "logged nothing") || strings.Contains(empty, "result:") {
		t.Errorf("error without a log: %q", empty)
	}
}
