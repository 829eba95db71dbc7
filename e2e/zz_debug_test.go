package e2e

import (
	"os"
	"testing"
	"time"
)

// TestZZDebugHold is a temporary debugging aid (removed before handing over).
func TestZZDebugHold(t *testing.T) {
	h, ctx := lifecycleHost(t)
	os.WriteFile("/tmp/lc/leader", []byte(fmtInt(h.Leader())), 0o644)
	if os.Getenv("DBG_WEB") == "1" {
		createWeb(t, ctx, h, "web", 8181)
	}
	for i := 0; i < 1500; i++ {
		if _, err := os.Stat("/tmp/lc/release"); err == nil {
			return
		}
		time.Sleep(time.Second)
	}
}

func fmtInt(i int) string { return time.Duration(0).String()[:0] + itoa(i) }
func itoa(i int) string {
	s := ""
	for i > 0 {
		s = string(rune('0'+i%10)) + s
		i /= 10
	}
	return s
}
