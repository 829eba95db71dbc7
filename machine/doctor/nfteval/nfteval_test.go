package nfteval_test

import (
	"slices"
	"testing"

	"github.com/nspawnctl/nspawnctl/machine/doctor/nfteval"
)

// chains is a ruleset with return, goto-free jumps, a verdict map with a
// jump, and a second base chain in another family.
const chains = `{"nftables": [
{"chain": {"family": "inet", "table": "t", "name": "in", "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
{"chain": {"family": "inet", "table": "t", "name": "ret"}},
{"chain": {"family": "inet", "table": "t", "name": "acc"}},
{"chain": {"family": "ip6", "table": "u", "name": "in", "type": "filter", "hook": "input", "prio": 10, "policy": "drop"}},
{"rule": {"family": "inet", "table": "t", "chain": "ret", "handle": 1, "expr": [{"return": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "ret", "handle": 2, "expr": [{"accept": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "acc", "handle": 3, "comment": "containers", "expr": [{"counter": {"packets": 7, "bytes": 420}}, {"accept": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 4, "expr": [{"jump": {"target": "ret"}}]}},
{"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 5, "expr": [{"vmap": {"key": {"meta": {"key": "iifname"}}, "data": {"set": [["ve-*", {"jump": {"target": "acc"}}]]}}}]}}
]}`

// TestEvaluateChains covers the control flow of the evaluator: return,
// verdict maps with jumps, and a base chain in another family.
func TestEvaluateChains(t *testing.T) {
	rs, err := nfteval.Parse([]byte(chains))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pkt       nfteval.Packet
		want      nfteval.Outcome
		droppedBy []string
	}{
		{nfteval.Packet{Family: "ip", IIFName: "ve-a", Proto: "udp", DPort: 53}, nfteval.Accepted, nil},
		{nfteval.Packet{Family: "ip", IIFName: "eth0", Proto: "udp", DPort: 53}, nfteval.Dropped, []string{"inet t in"}},
		// the ip6 base chain has no rules, and its policy drops
		{nfteval.Packet{Family: "ip6", IIFName: "ve-a", Proto: "udp", DPort: 53}, nfteval.Dropped, []string{"ip6 u in"}},
	} {
		v := nfteval.Evaluate(rs, tc.pkt)
		if v.Outcome != tc.want || !slices.Equal(v.DroppedBy, tc.droppedBy) {
			t.Errorf("%s on %s: got %+v, want outcome %d dropped by %v", tc.pkt, tc.pkt.IIFName, v, tc.want, tc.droppedBy)
		}
	}
	if n := len(rs.InputChains("ip")); n != 1 {
		t.Errorf("IPv4 input chains: %d, want 1 (inet t in)", n)
	}
	if n := len(rs.InputChains("ip6")); n != 2 {
		t.Errorf("IPv6 input chains: %d, want 2", n)
	}
	acc := rs.Chain("inet", "t", "acc")
	if acc == nil || len(acc.Rules) != 1 || acc.Rules[0].Comment != "containers" || acc.Rules[0].Counter() != 7 {
		t.Errorf("chain inet t acc: %+v, want one rule with comment and counter 7", acc)
	}
	if rs.Chain("ip", "t", "acc") != nil {
		t.Errorf("Chain found inet t acc under family ip")
	}
}

// TestEvaluateUndecided: a match on the source address cannot be decided
// for a probe, so a rule that accepts on it leaves the verdict open, and
// says which rule did.
func TestEvaluateUndecided(t *testing.T) {
	const js = `{"nftables": [
{"chain": {"family": "inet", "table": "f", "name": "input", "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
{"rule": {"family": "inet", "table": "f", "chain": "input", "handle": 9, "expr": [
  {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.0.0.0/8"}}, {"accept": null}]}}
]}`
	rs, err := nfteval.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	v := nfteval.Evaluate(rs, nfteval.Packet{Family: "ip", IIFName: "ve-a", Proto: "udp", DPort: 53})
	if v.Outcome != nfteval.Undecided || len(v.Uncertain) != 1 {
		t.Fatalf("got %+v, want undecided with one uncertain rule", v)
	}
	t.Logf("uncertain: %s", v.Uncertain[0])
}

func TestParseRejectsNonJSON(t *testing.T) {
	if _, err := nfteval.Parse([]byte("table inet f {}")); err == nil {
		t.Error("Parse accepted nft's text syntax; it reads only nft -j output")
	}
}
