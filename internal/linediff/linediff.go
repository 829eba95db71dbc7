// Package linediff shows how two texts differ, line by line, for plans and
// test failures.
package linediff

import (
	"bytes"
	"fmt"
	"strings"
)

// Diff returns a line diff of want and got, marking lines only in want with
// "-" and lines only in got with "+". Unchanged lines are shown with two spaces.
func Diff(want, got string) string {
	w := splitLines(want)
	g := splitLines(got)
	// Longest common subsequence table; golden files are small.
	lcs := make([][]int, len(w)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(g)+1)
	}
	for i := len(w) - 1; i >= 0; i-- {
		for j := len(g) - 1; j >= 0; j-- {
			if w[i] == g[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b bytes.Buffer
	i, j := 0, 0
	for i < len(w) || j < len(g) {
		switch {
		case i < len(w) && j < len(g) && w[i] == g[j]:
			b.WriteString("  " + w[i] + "\n")
			i++
			j++
		case j < len(g) && (i == len(w) || lcs[i][j+1] >= lcs[i+1][j]):
			b.WriteString("+ " + g[j] + "\n")
			j++
		default:
			b.WriteString("- " + w[i] + "\n")
			i++
		}
	}
	return b.String()
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := bytes.Split([]byte(s), []byte("\n"))
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = string(l)
	}
	return out
}

// Unordered lists the lines only in have ("- ") and only in want ("+ "),
// counted as multisets of trimmed lines: for texts whose order carries no
// meaning, such as a ruleset as the kernel lists it (set elements and
// chains come back in the kernel's order, not the one they were written in).
func Unordered(have, want string) string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[strings.TrimSpace(l)]++
		}
		return m
	}
	h, w := count(have), count(want)
	var b strings.Builder
	for _, l := range strings.Split(have, "\n") {
		if k := strings.TrimSpace(l); h[k] > w[k] {
			h[k]--
			fmt.Fprintf(&b, "- %s\n", k)
		}
	}
	h = count(have)
	for _, l := range strings.Split(want, "\n") {
		if k := strings.TrimSpace(l); w[k] > h[k] {
			w[k]--
			fmt.Fprintf(&b, "+ %s\n", k)
		}
	}
	return b.String()
}
