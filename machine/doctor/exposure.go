package doctor

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nspawnctl/nspawnctl/machine/doctor/nfteval"
	"github.com/nspawnctl/nspawnctl/nat"
)

// checkExposure reports whether nspawnctl's exposure protections
// (nat/protect.go) are in the kernel for every family a running machine
// needs them in, and whether a container link has route_localnet=1 without
// the loopback protection (the link then lets its container reach the
// host's 127.0.0.1-only services).
func checkExposure(h HostView, opts Options) Check {
	c := Check{ID: "exposure"}
	const remedy = "run nspawnctl nat restore; to have it done after every firewall reload, keep nspawnctl-nat-restore.service enabled (nspawnctl installs it with the first NATed machine)"
	need := map[string][]string{} // family -> machines
	for _, m := range opts.Running {
		fams := map[string]bool{}
		for _, a := range m.Addrs {
			fams[famName(a.Is4())] = true
		}
		for _, f := range m.Forwards {
			fams[famName(f.Target.Is4())] = true
		}
		for f := range fams {
			need[f] = append(need[f], m.Name)
		}
	}
	raw, err := h.Ruleset()
	if err != nil {
		return skip(c, "cannot read the nftables ruleset to check the protections", err)
	}
	rs, err := nfteval.Parse(raw)
	if err != nil {
		return skip(c, "cannot decode the nftables ruleset to check the protections", err)
	}
	want := map[string]map[string][]string{ // family -> chain -> rule comments
		"ip":  {"nspawnctl_raw": {nat.CommentLoopbackDst, nat.CommentLoopbackSrc}, "nspawnctl_forward": {nat.CommentLinkDown, nat.CommentIsolatedFrom, nat.CommentIsolatedTo, nat.CommentUnpublished}},
		"ip6": {"nspawnctl_forward": {nat.CommentLinkDown, nat.CommentIsolatedFrom, nat.CommentIsolatedTo, nat.CommentUnpublished}},
	}
	var problems, found []string
	var drops uint64
	installed := map[string]bool{}
	for _, fam := range []string{"ip", "ip6"} {
		missing := []string{}
		for chain, comments := range want[fam] {
			ch := rs.Chain(fam, nat.TableName, chain)
			if ch == nil {
				missing = append(missing, "chain "+chain)
				continue
			}
			have := map[string]bool{}
			for _, r := range ch.Rules {
				have[r.Comment] = true
				drops += r.Counter()
			}
			for _, cm := range comments {
				if !have[cm] {
					missing = append(missing, fmt.Sprintf("rule %q in %s", cm, chain))
				}
			}
		}
		sort.Strings(missing)
		installed[fam] = len(missing) == 0
		if ms := need[fam]; len(ms) > 0 {
			sort.Strings(ms)
			if len(missing) > 0 {
				problems = append(problems, fmt.Sprintf("%s %s lacks %s, which running machine(s) %s need", fam, nat.TableName, strings.Join(missing, ", "), strings.Join(ms, ", ")))
			} else {
				found = append(found, fmt.Sprintf("%s: in place for %s", fam, strings.Join(ms, ", ")))
			}
		}
	}
	if !installed["ip"] {
		if links, err := h.Links(); err == nil {
			for _, l := range links {
				if v, err := h.Sysctl("net/ipv4/conf/" + l.Name + "/route_localnet"); err == nil && v == "1" && isContainerLink(l.Name) {
					problems = append(problems, fmt.Sprintf("%s has route_localnet=1 and the loopback protection (chain nspawnctl_raw) is missing: its container can reach the host's 127.0.0.1-only services", l.Name))
				}
			}
		}
	}
	detail := "Packets to or from 127.0.0.0/8 arriving on a link other than lo are dropped (route_localnet, which localhost forwards need, would let a container reach the host's localhost services); new connections from other hosts to private machine addresses are dropped unless a forward translated them; isolated machines get no new connections from other machine links."
	if len(problems) > 0 {
		c.Status = StatusFail
		c.Summary = "exposure protections missing: machines are reachable beyond their forwards"
		c.Detail = detail + "\n" + strings.Join(problems, "\n")
		c.Remedy = remedy
		return c
	}
	c.Status = StatusOK
	if len(found) == 0 {
		c.Summary = "no running machine needs the exposure protections"
		c.Detail = detail
		return c
	}
	c.Summary = fmt.Sprintf("exposure protections in place (%d packets dropped so far)", drops)
	c.Detail = detail + "\n" + strings.Join(found, "\n")
	return c
}

func famName(is4 bool) string {
	if is4 {
		return "ip"
	}
	return "ip6"
}
