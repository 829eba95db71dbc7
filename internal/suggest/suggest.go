// Package suggest proposes the declared name a misspelled reference most
// likely meant, by the same rule HCL uses for attribute names (an edit
// distance below 3), so references get the "Did you mean" attributes get.
package suggest

import "fmt"

// Closest returns the candidate nearest to given by edit distance, when that
// distance is below 3, and "" otherwise. Ties go to the earlier candidate,
// so the answer does not depend on anything but the candidates' order.
func Closest(given string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := distance(given, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// DidYouMean returns " Did you mean \"NAME\"?" for the closest candidate, or
// "" when none is close: ready to append to a diagnostic's detail.
func DidYouMean(given string, candidates []string) string {
	if c := Closest(given, candidates); c != "" {
		return fmt.Sprintf(" Did you mean %q?", c)
	}
	return ""
}

// distance is the Levenshtein distance of a and b, counted in runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
