package unitfile

import "testing"

func TestExecPath(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/nspawnctl":       "/usr/bin/nspawnctl",
		"/opt/my tools/nspawnctl%": `"/opt/my tools/nspawnctl%%"`,
		`/opt/a"b\c`:               `"/opt/a\"b\\c"`,
		"/opt/%i/nspawnctl":        "/opt/%%i/nspawnctl",
	} {
		if got := ExecPath(in); got != want {
			t.Errorf("ExecPath(%q) = %s, want %s", in, got, want)
		}
	}
}
