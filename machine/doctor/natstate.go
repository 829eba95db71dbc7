package doctor

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/nspawnctl/nspawnctl/nat"
)

// checkNATState checks that every running machine's objects are in the
// kernel: its forwards and, separately, the outbound NAT of its networks
// (nspawnctl_masq). Both are wiped by "nft flush ruleset"; "nat restore"
// (and nspawnctl-nat-restore.service) brings them back.
func checkNATState(h HostView, running []nat.Machine) Check {
	c := Check{ID: "nat-state"}
	var want []nat.Machine
	for _, m := range running {
		if len(m.Forwards) > 0 || len(m.Masquerade) > 0 {
			want = append(want, m)
		}
	}
	if len(want) == 0 {
		c.Status, c.Summary = StatusOK, "no running machine needs port forwards or outbound NAT"
		return c
	}
	raw, err := h.Ruleset()
	if err != nil {
		return skip(c, "cannot read the nftables ruleset to check the running machines' forwards and outbound NAT", err)
	}
	have, err := ownerCounts(raw)
	if err != nil {
		return skip(c, "cannot parse the nftables ruleset", err)
	}
	var noNAT, noForwards []string
	for _, m := range want {
		rs, err := nat.Plan([]nat.Machine{m})
		if err != nil {
			continue // the NAT record is refused anyway; nat up says why
		}
		for _, fam := range nat.Families {
			for kind, elems := range rs.Tables[fam].Sets {
				k := nat.SetKind(kind)
				if len(elems) == 0 || have[setOwner{fam.String(), k.Name(), m.Name}] >= len(elems) {
					continue
				}
				if k == nat.SetMasq {
					noNAT = appendOnce(noNAT, m.Name)
				} else {
					noForwards = appendOnce(noForwards, m.Name)
				}
			}
		}
	}
	if len(noNAT) == 0 && len(noForwards) == 0 {
		c.Status, c.Summary = StatusOK, fmt.Sprintf("the forwards and outbound NAT of %d running machine(s) are installed", len(want))
		return c
	}
	c.Status = StatusFail
	var parts []string
	if len(noNAT) > 0 {
		parts = append(parts, "outbound NAT is missing for "+strings.Join(noNAT, ", ")+" (their containers cannot reach beyond the host)")
	}
	if len(noForwards) > 0 {
		parts = append(parts, "port forwards are missing for "+strings.Join(noForwards, ", "))
	}
	c.Summary = strings.Join(parts, "; ")
	c.Detail = "Something flushed io.systemd.nat (\"nft flush ruleset\", e.g. a firewall reload) and nothing put nspawnctl's objects back. " +
		"networkd's own masq_saddr entries do not come back either; nspawnctl keeps its own copy in nspawnctl_masq."
	c.Remedy = "run nspawnctl nat restore; and make sure " + RestoreUnitName + " is enabled, so that it runs after every reload of nftables.service"
	return c
}

func appendOnce(l []string, s string) []string {
	if slices.Contains(l, s) {
		return l
	}
	return append(l, s)
}

// setOwner names the elements of one set owned by one machine.
type setOwner struct{ family, set, machine string }

// ownerCounts counts the elements of io.systemd.nat's sets and maps by
// their owner comment, from "nft -j list ruleset".
func ownerCounts(raw []byte) (map[setOwner]int, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	out := map[setOwner]int{}
	for _, obj := range doc.Nftables {
		for _, kind := range []string{"set", "map"} {
			body, ok := obj[kind]
			if !ok {
				continue
			}
			var s struct {
				Family, Name, Table string
				Elem                []json.RawMessage
			}
			if err := json.Unmarshal(body, &s); err != nil || s.Table != nat.TableName {
				continue
			}
			for _, e := range s.Elem {
				if owner := elemComment(e); owner != "" {
					out[setOwner{s.Family, s.Name, owner}]++
				}
			}
		}
	}
	return out, nil
}

// elemComment returns an element's comment: a set element is
// {"elem": {"val": ..., "comment": ...}}, a map element [that, data].
func elemComment(raw json.RawMessage) string {
	var pair []json.RawMessage
	if json.Unmarshal(raw, &pair) == nil && len(pair) > 0 {
		raw = pair[0]
	}
	var e struct {
		Elem struct {
			Comment string `json:"comment"`
		} `json:"elem"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return ""
	}
	return e.Elem.Comment
}
