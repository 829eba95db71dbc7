package unitfile

import "strings"

// ExecPath quotes a program path for an Exec*= line: systemd expands
// specifiers (%) and splits at white space, so "%" is doubled and a path
// with spaces, quotes or backslashes is put in double quotes.
func ExecPath(p string) string {
	p = strings.ReplaceAll(p, "%", "%%")
	if !strings.ContainsAny(p, " \t\n\"'\\") {
		return p
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`).Replace(p) + `"`
}
