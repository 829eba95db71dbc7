package main

import "testing"

func TestBytesText(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 999: "999 B", 1000: "1 kB", 2853: "2.9 kB", 1_200_000: "1.2 MB", 5_000_000_000: "5 GB"} {
		if got := bytesText(n); got != want {
			t.Errorf("bytesText(%d) = %q, want %q", n, got, want)
		}
	}
}
