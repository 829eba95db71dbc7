// Package nfteval decides what an nftables ruleset's input hook does with
// a packet, from the ruleset as "nft -j list ruleset" prints it. It is
// three-valued: a match it cannot decide (source addresses, marks, xt
// matches, rate limits) may or may not apply, and the result says which
// rules left it open. nspawnctl doctor uses it to tell whether a host
// firewall lets container links reach DNS, DHCP and LLMNR.
package nfteval

// doctor's firewall check reads the ruleset as "nft -j list ruleset" prints it
// rather than through google/nftables: nft's JSON already decodes the
// kernel's bytecode into the expressions people write (iifname "ve-*",
// th dport, ct state, verdict maps, named sets), including the native
// expressions iptables-nft emits for "-i ve-+ -j ACCEPT". Reading netlink
// directly would mean re-deriving those from registers and byte compares.
// nft is present wherever an nftables firewall is configured; when it is
// not, the check says what to verify by hand.

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// outcome is a set of possible results of a chain or rule for one packet.
type outcome uint8

const (
	outAccept outcome = 1 << iota
	outDrop
	outCont   // fell through, or the rule set no verdict: evaluation goes on
	outReturn // return (or a goto's fall-through): the current chain ends
)

// Ruleset is the part of nft's JSON output the evaluator needs: chains,
// their rules, and named sets and maps.
type Ruleset struct {
	chains map[string]*Chain // key: family/table/name
	sets   map[string][]any  // key: family/table/name, the elements
}

// Chain is one chain of the ruleset, with its rules in order.
type Chain struct {
	Family, Table, Name string
	Type, Hook, Policy  string
	Prio                int
	Rules               []Rule `json:"-"`
}

// Rule is one rule of a chain: nft's JSON expressions, undecoded.
type Rule struct {
	Handle  int
	Comment string
	Expr    []map[string]json.RawMessage
}

func chainKey(f, t, n string) string { return f + "/" + t + "/" + n }

// Chain returns the chain family/table/name, or nil.
func (rs *Ruleset) Chain(family, table, name string) *Chain {
	return rs.chains[chainKey(family, table, name)]
}

// Counter returns the packets of the rule's counter expression, 0 if none.
func (r Rule) Counter() uint64 {
	for _, e := range r.Expr {
		if raw, ok := e["counter"]; ok {
			var ctr struct{ Packets uint64 }
			if json.Unmarshal(raw, &ctr) == nil {
				return ctr.Packets
			}
		}
	}
	return 0
}

// Outcome is what the input hook does with a packet.
type Outcome int

// The outcomes of Evaluate.
const (
	Accepted  Outcome = iota // every input chain accepts it
	Dropped                  // some input chain drops it, whatever undecided matches do
	Undecided                // it depends on matches the evaluator cannot decide
)

// Verdict is the input hook's decision for one packet, with its reasons.
type Verdict struct {
	Outcome Outcome
	// Uncertain names the rules whose matches were undecided ("family
	// table chain handle N: why"), sorted; set when Outcome is Undecided.
	Uncertain []string
	// DroppedBy names the base chains ("family table chain") that may drop
	// the packet, sorted.
	DroppedBy []string
}

// Evaluate decides what the input hook of rs does with p: a packet is
// accepted only if every filter base chain at the hook accepts it.
func Evaluate(rs *Ruleset, p Packet) Verdict {
	e := &evaluator{rs: rs, pkt: p, uncertain: map[string]bool{}, droppedBy: map[string]bool{}}
	var v Verdict
	switch e.verdict() {
	case outAccept:
		v.Outcome = Accepted
	case outDrop:
		v.Outcome = Dropped
	default:
		v.Outcome = Undecided
		v.Uncertain = slices.Sorted(maps.Keys(e.uncertain))
	}
	v.DroppedBy = slices.Sorted(maps.Keys(e.droppedBy))
	return v
}

// Parse decodes nft -j list ruleset.
func Parse(b []byte) (*Ruleset, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("decode nft -j output: %w", err)
	}
	rs := &Ruleset{chains: map[string]*Chain{}, sets: map[string][]any{}}
	var rules []struct {
		Family, Table, Chain string
		Handle               int
		Comment              string
		Expr                 []map[string]json.RawMessage
	}
	for _, obj := range doc.Nftables {
		for kind, raw := range obj {
			switch kind {
			case "chain":
				var c Chain
				if err := json.Unmarshal(raw, &c); err != nil {
					return nil, fmt.Errorf("decode chain: %w", err)
				}
				rs.chains[chainKey(c.Family, c.Table, c.Name)] = &c
			case "set", "map":
				var s struct {
					Family, Table, Name string
					Elem                []any
				}
				if err := json.Unmarshal(raw, &s); err != nil {
					return nil, fmt.Errorf("decode set: %w", err)
				}
				rs.sets[chainKey(s.Family, s.Table, s.Name)] = s.Elem
			case "rule":
				var r struct {
					Family, Table, Chain string
					Handle               int
					Comment              string
					Expr                 []map[string]json.RawMessage
				}
				if err := json.Unmarshal(raw, &r); err != nil {
					return nil, fmt.Errorf("decode rule: %w", err)
				}
				rules = append(rules, r)
			}
		}
	}
	for _, r := range rules {
		if c := rs.chains[chainKey(r.Family, r.Table, r.Chain)]; c != nil {
			c.Rules = append(c.Rules, Rule{Handle: r.Handle, Comment: r.Comment, Expr: r.Expr})
		}
	}
	return rs, nil
}

// Packet is what the evaluator knows about a probe packet: a new connection
// from a container link to a local port.
type Packet struct {
	Family  string // "ip" or "ip6"
	IIFName string // the interface it arrives on
	Proto   string // "tcp" or "udp"
	DPort   int
}

// String names the packet as doctor reports it: "IPv4 53/udp".
func (p Packet) String() string {
	fam := "IPv4"
	if p.Family == "ip6" {
		fam = "IPv6"
	}
	return fmt.Sprintf("%s %d/%s", fam, p.DPort, p.Proto)
}

// evaluator decides what the input hook does with a packet. It is
// three-valued: a match it cannot decide (source addresses, marks, xt
// matches, rate limits) may or may not apply, and it records where.
type evaluator struct {
	rs        *Ruleset
	pkt       Packet
	uncertain map[string]bool // "family table chain handle N: why"
	droppedBy map[string]bool // "family table chain" of the base chains that drop
}

// InputChains returns the filter base chains at the input hook that see
// packets of family fam, in hook order.
func (rs *Ruleset) InputChains(fam string) []*Chain {
	var out []*Chain
	for _, c := range rs.chains {
		if c.Hook == "input" && c.Type == "filter" && (c.Family == "inet" || c.Family == fam) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Prio != out[j].Prio {
			return out[i].Prio < out[j].Prio
		}
		return chainKey(out[i].Family, out[i].Table, out[i].Name) < chainKey(out[j].Family, out[j].Table, out[j].Name)
	})
	return out
}

// verdict is the input hook's decision for pkt: a packet is accepted only if
// every base chain accepts it (a drop anywhere is final).
func (e *evaluator) verdict() outcome {
	total := outAccept
	for _, c := range e.rs.InputChains(e.pkt.Family) {
		o := e.chain(c, 0)
		if o&outCont != 0 {
			o &^= outCont
			if c.Policy == "drop" {
				o |= outDrop
			} else {
				o |= outAccept
			}
		}
		if o&outDrop != 0 {
			e.droppedBy[c.Family+" "+c.Table+" "+c.Name] = true
		}
		if o == outDrop {
			return outDrop
		}
		total |= o
	}
	return total
}

const maxJumpDepth = 16 // nft's own limit on nested jumps

// chain evaluates the rules of c in order.
func (e *evaluator) chain(c *Chain, depth int) outcome {
	if depth > maxJumpDepth {
		e.uncertain[c.Family+" "+c.Table+" "+c.Name+": jumps nested too deep"] = true
		return outAccept | outDrop | outCont
	}
	var result outcome
	for _, r := range c.Rules {
		o, sure := e.rule(c, r, depth)
		result |= o &^ (outCont | outReturn)
		if o&outReturn != 0 {
			result |= outCont // to the caller, a return is a fall-through
		}
		if sure && o&outCont == 0 {
			return result
		}
	}
	return result | outCont
}

// rule evaluates one rule. sure is false when its matches may or may not
// apply; o is then what it does if they apply.
func (e *evaluator) rule(c *Chain, r Rule, depth int) (o outcome, sure bool) {
	where := fmt.Sprintf("%s %s %s handle %d", c.Family, c.Table, c.Name, r.Handle)
	sure = true
	var reasons []string
	maybe := func(why string) {
		sure = false
		reasons = append(reasons, where+": "+why)
	}
	// Only rules that stay undecided to the end explain an undecided result.
	defer func() {
		if !sure {
			for _, r := range reasons {
				e.uncertain[r] = true
			}
		}
	}()
	for _, ex := range r.Expr {
		for kind, raw := range ex {
			switch kind {
			case "match":
				var m struct {
					Op          string
					Left, Right any
				}
				if json.Unmarshal(raw, &m) != nil {
					maybe("unreadable match")
					continue
				}
				switch e.match(c, m.Op, m.Left, m.Right) {
				case triNo:
					return outCont, true
				case triMaybe:
					maybe("matches on " + describe(m.Left))
				}
			case "counter", "log", "mangle", "notrack", "comment":
				// No effect on the verdict.
			case "accept":
				return outAccept, sure
			case "drop", "reject":
				return outDrop, sure
			case "return":
				return outReturn, sure
			case "jump", "goto":
				var t struct{ Target string }
				_ = json.Unmarshal(raw, &t)
				sub := e.rs.chains[chainKey(c.Family, c.Table, t.Target)]
				if sub == nil {
					maybe("jumps to unknown chain " + t.Target)
					return outAccept | outDrop | outCont, false
				}
				so := e.chain(sub, depth+1)
				if kind == "goto" && so&outCont != 0 {
					// A goto's fall-through returns from this chain too.
					so = so&^outCont | outReturn
				}
				return so, sure
			case "vmap":
				var v struct {
					Key  any
					Data any
				}
				_ = json.Unmarshal(raw, &v)
				so, vsure := e.vmap(c, v.Key, v.Data, depth)
				if !vsure {
					maybe("verdict map on " + describe(v.Key))
				}
				return so, sure && vsure
			default:
				// limit, quota, xt, ... : the rule may or may not go on.
				maybe(kind + " statement")
			}
		}
	}
	return outCont, true
}

// vmap evaluates a verdict map statement.
func (e *evaluator) vmap(c *Chain, key, data any, depth int) (outcome, bool) {
	var elems []any
	switch d := data.(type) {
	case string:
		elems = e.rs.sets[chainKey(c.Family, c.Table, strings.TrimPrefix(d, "@"))]
	case map[string]any:
		elems, _ = d["set"].([]any)
	}
	val, ok := e.value(c, key)
	var all outcome = outCont // no element matched
	for _, el := range elems {
		pair, _ := el.([]any)
		if len(pair) != 2 {
			continue
		}
		vo := e.verdictOf(c, pair[1], depth)
		if !ok {
			all |= vo
			continue
		}
		switch matchElem(val, pair[0]) {
		case triYes:
			return vo, true
		case triMaybe:
			all |= vo
			ok = false
		}
	}
	if !ok {
		return all, false
	}
	return outCont, true
}

// verdictOf turns a verdict in a map ({"accept": null}, {"jump": {...}}) into an outcome.
func (e *evaluator) verdictOf(c *Chain, v any, depth int) outcome {
	m, _ := v.(map[string]any)
	for k, arg := range m {
		switch k {
		case "accept":
			return outAccept
		case "drop", "reject":
			return outDrop
		case "return":
			return outReturn
		case "continue":
			return outCont
		case "jump", "goto":
			t, _ := arg.(map[string]any)
			name, _ := t["target"].(string)
			if sub := e.rs.chains[chainKey(c.Family, c.Table, name)]; sub != nil {
				so := e.chain(sub, depth+1)
				if k == "goto" && so&outCont != 0 {
					so = so&^outCont | outReturn
				}
				return so
			}
		}
	}
	return outAccept | outDrop | outCont
}

type tri int

const (
	triNo tri = iota
	triYes
	triMaybe
)

// value returns the packet's value for the left side of a match, or false
// when the packet does not determine it. A value of nil means the
// expression's protocol does not match the packet at all (a tcp header field
// on a udp packet), so every match on it fails.
func (e *evaluator) value(c *Chain, left any) (any, bool) {
	m, _ := left.(map[string]any)
	if meta, ok := m["meta"].(map[string]any); ok {
		switch meta["key"] {
		case "iifname", "iif":
			return e.pkt.IIFName, true
		case "l4proto":
			return e.pkt.Proto, true
		case "nfproto":
			return map[string]string{"ip": "ipv4", "ip6": "ipv6"}[e.pkt.Family], true
		case "protocol":
			return map[string]string{"ip": "ip", "ip6": "ip6"}[e.pkt.Family], true
		}
		return nil, false
	}
	if ct, ok := m["ct"].(map[string]any); ok {
		switch ct["key"] {
		case "state":
			return "new", true
		case "status":
			return "", true // a new connection from a container has no status bits (no dnat)
		}
		return nil, false
	}
	if p, ok := m["payload"].(map[string]any); ok {
		proto, _ := p["protocol"].(string)
		field, _ := p["field"].(string)
		switch {
		case proto == "th" && field == "dport":
			return e.pkt.DPort, true
		case proto == "tcp" || proto == "udp" || proto == "udplite" || proto == "sctp" || proto == "dccp":
			if proto != e.pkt.Proto {
				return nil, true
			}
			if field == "dport" {
				return e.pkt.DPort, true
			}
			return nil, false
		case proto == "ip" || proto == "ip6":
			if proto != e.pkt.Family {
				return nil, true
			}
			if field == "protocol" || field == "nexthdr" {
				return e.pkt.Proto, true
			}
			return nil, false
		case proto == "icmp" || proto == "icmpv6" || proto == "igmp":
			return nil, true
		}
	}
	return nil, false
}

func (e *evaluator) match(c *Chain, op string, left, right any) tri {
	val, ok := e.value(c, left)
	if !ok {
		return triMaybe
	}
	if val == nil {
		return triNo
	}
	var elems []any
	switch r := right.(type) {
	case string:
		if strings.HasPrefix(r, "@") {
			s, found := e.rs.sets[chainKey(c.Family, c.Table, r[1:])]
			if !found {
				return triMaybe
			}
			elems = s
		} else {
			elems = []any{r}
		}
	case []any: // flags written as a list: ct state established,related
		elems = r
	case map[string]any:
		if s, ok := r["set"].([]any); ok {
			elems = s
		} else {
			elems = []any{r}
		}
	default:
		elems = []any{r}
	}
	res := triNo
	for _, el := range elems {
		switch op {
		case "==", "in", "!=":
			switch matchElem(val, el) {
			case triYes:
				res = triYes
			case triMaybe:
				if res == triNo {
					res = triMaybe
				}
			}
		case "<", ">", "<=", ">=":
			n, isNum := val.(int)
			b, okB := number(el)
			if !isNum || !okB {
				return triMaybe
			}
			if (op == "<" && n < b) || (op == ">" && n > b) || (op == "<=" && n <= b) || (op == ">=" && n >= b) {
				res = triYes
			}
		default:
			return triMaybe
		}
	}
	if op == "!=" {
		switch res {
		case triYes:
			return triNo
		case triNo:
			return triYes
		}
	}
	return res
}

// services maps the service names nft may print to ports.
var services = map[string]int{"domain": 53, "bootps": 67, "bootpc": 68, "dhcpv6-client": 546, "dhcpv6-server": 547, "mdns": 5353, "llmnr": 5355}

func number(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		return int(x), true
	case string:
		if n, ok := services[x]; ok {
			return n, true
		}
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}

// matchElem matches a packet value against one set element: a string
// (with nft's trailing "*" wildcard, or iptables' "+"), a number or a range.
func matchElem(val, el any) tri {
	if m, ok := el.(map[string]any); ok {
		if inner, ok := m["elem"].(map[string]any); ok {
			return matchElem(val, inner["val"])
		}
		if r, ok := m["range"].([]any); ok && len(r) == 2 {
			n, isNum := val.(int)
			lo, ok1 := number(r[0])
			hi, ok2 := number(r[1])
			if !isNum || !ok1 || !ok2 {
				return triMaybe
			}
			if n >= lo && n <= hi {
				return triYes
			}
			return triNo
		}
		return triMaybe
	}
	switch v := val.(type) {
	case int:
		n, ok := number(el)
		if !ok {
			return triMaybe
		}
		if n == v {
			return triYes
		}
		return triNo
	case string:
		s, ok := el.(string)
		if !ok {
			return triMaybe
		}
		if strings.HasSuffix(s, "*") || strings.HasSuffix(s, "+") {
			if strings.HasPrefix(v, s[:len(s)-1]) {
				return triYes
			}
			return triNo
		}
		if s == v {
			return triYes
		}
		return triNo
	}
	return triMaybe
}

// describe names an expression for messages: "ip saddr", "meta mark".
func describe(x any) string {
	m, _ := x.(map[string]any)
	for k, v := range m {
		inner, _ := v.(map[string]any)
		switch k {
		case "payload":
			return fmt.Sprintf("%v %v", inner["protocol"], inner["field"])
		case "meta", "ct":
			return fmt.Sprintf("%s %v", k, inner["key"])
		default:
			return k
		}
	}
	return fmt.Sprint(x)
}
