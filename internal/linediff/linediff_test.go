package linediff

import "testing"

func TestDiff(t *testing.T) {
	got := Diff("a\nb\nc\n", "a\nc\nd\n")
	if want := "  a\n- b\n  c\n+ d\n  \n"; got != want {
		t.Errorf("Diff = %q, want %q", got, want)
	}
}

func TestUnordered(t *testing.T) {
	// Reordered lines are no change; duplicates count.
	if d := Unordered("x\n  y\nz", "z\nx\ny"); d != "" {
		t.Errorf("Unordered of a reordering = %q, want empty", d)
	}
	if d, want := Unordered("x\nx\ny", "x\nz"), "- x\n- y\n+ z\n"; d != want {
		t.Errorf("Unordered = %q, want %q", d, want)
	}
}
