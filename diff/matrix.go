package diff

import (
	"sort"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/bdd"
	"github.com/ipsift/ipsift/rules"
	"github.com/ipsift/ipsift/symbolic"
)

// MatrixRow is one cell pair of the service matrix: which sources reach
// a service (a new connection to a protocol and port, arriving on an
// interface, accepted for the host or forwarded) before and after.
type MatrixRow struct {
	In string `json:"in"`
	To string `json:"to"` // "host" (accepted for the host) or "forward"

	Proto string `json:"proto"`
	Port  uint16 `json:"port"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// servicePorts are the destination ports the rulesets name.
func servicePorts(rss ...*rules.Ruleset) []uint16 {
	seen := map[uint16]bool{}
	for _, rs := range rss {
		for _, t := range rs.Tables {
			for _, c := range t.Chains {
				for _, r := range c.Rules {
					toks := strings.Fields(r.Spec())
					for i, w := range toks {
						if (w == "--dport" || w == "--dports" || w == "--destination-port") && i+1 < len(toks) {
							for _, p := range strings.Split(toks[i+1], ",") {
								lo, _, _ := strings.Cut(p, ":")
								if n, err := strconv.ParseUint(lo, 10, 16); err == nil {
									seen[uint16(n)] = true
								}
							}
						}
					}
				}
			}
		}
	}
	var out []uint16
	for p := range seen {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// matrix computes the service matrix; all: every row, else the rows that
// change.
func (c *comparer) matrix(res *Result, old, new *rules.Ruleset, all bool) {
	m := c.s.M
	in := c.s.Input.F
	reach := func(r *symbolic.Run, verdict string) bdd.Node {
		n := bdd.False
		for _, l := range r.Leaves {
			if l.Verdict == verdict {
				n = m.Or(n, l.G)
			}
		}
		return n
	}
	others := otherVars(c.s.Header, c.s.FieldVars(symbolic.FSrc))
	pool := c.s.PoolVars()
	text := func(n bdd.Node) string {
		n = m.Exists(m.Exists(n, pool), others)
		switch n {
		case bdd.False:
			return "none"
		case bdd.True:
			return "all"
		}
		return c.setText(symbolic.FSrc, n, c.s.FieldVars(symbolic.FSrc))
	}
	first := m.And(c.s.Domain, in[symbolic.FFirst][0])
	for _, to := range []struct{ verdict, name string }{{"accept-local", "host"}, {"forward", "forward"}} {
		ro, rn := reach(c.old, to.verdict), reach(c.new, to.verdict)
		for _, port := range servicePorts(old, new) {
			for _, proto := range []uint64{6, 17} {
				for i, ifc := range c.s.Ifaces {
					if ifc.Name == "lo" {
						continue
					}
					cls := m.And(first, m.Eq(in[symbolic.FIn], bdd.UintVec(uint64(i+1), c.s.IfBits)))
					cls = m.And(cls, m.Eq(in[symbolic.FProto], bdd.UintVec(proto, 8)))
					cls = m.And(cls, m.Eq(in[symbolic.FDport], bdd.UintVec(uint64(port), 16)))
					a, b := m.And(cls, ro), m.And(cls, rn)
					if a == b && !all {
						continue
					}
					ta, tb := text(a), text(b)
					if ta == tb && !all {
						continue
					}
					res.Matrix = append(res.Matrix, MatrixRow{In: ifc.Name, To: to.name, Proto: protoNames[proto], Port: port, Old: ta, New: tb})
				}
			}
		}
	}
}
