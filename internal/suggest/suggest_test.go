package suggest

import "testing"

func TestClosest(t *testing.T) {
	names := []string{"lan", "dmz", "backend"}
	for _, tt := range []struct{ given, want string }{
		{"lna", "lan"}, {"backnd", "backend"}, {"dmzz", "dmz"}, {"frontend", ""}, {"", ""}, {"web", ""},
	} {
		if got := Closest(tt.given, names); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.given, got, tt.want)
		}
	}
	if got := DidYouMean("lna", names); got != ` Did you mean "lan"?` {
		t.Errorf("DidYouMean = %q", got)
	}
	if got := DidYouMean("nothing-like-it", names); got != "" {
		t.Errorf("DidYouMean of a far name = %q, want empty", got)
	}
}
