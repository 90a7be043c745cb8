package kerneldiff

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/analyze"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/sim"
)

// TestCrossTableDeadNeverHit checks the cross-table dead-rule warnings of
// the analysis against the engine, by property: over the generated
// rulesets of this package (every table, NAT, MARK, CT, jumps, policies)
// and their packets (flows with their replies, fragments, ICMP errors),
// no rule the analysis reports as dropped earlier on its way may ever
// be hit. No kernel is needed: the answers are addressed to what ipsift
// made of the packets they answer.
func TestCrossTableDeadNeverHit(t *testing.T) {
	rulesets, reported, packets := 400, 0, 0
	if testing.Short() {
		rulesets = 100
	}
	for i := range rulesets {
		text, pkts := Generate(0xdead, i, 80)
		lr := load.Bytes("generated.rules", []byte(text), load.Options{})
		if lr.Diags.HasErrors() {
			continue
		}
		// Warnings name a rule by its line; "-s A,B" makes several
		// rules of one line, and then every one of them must be warned
		// about for the line to count.
		dead := map[string]string{} // table/chain/rule -> the warning
		warned, msgs, perLine := map[int]int{}, map[int]string{}, map[int]int{}
		for _, d := range analyze.Lint(lr.Rules) {
			if strings.Contains(d.Msg, "dropped earlier on its way") {
				warned[d.Pos.Line]++
				msgs[d.Pos.Line] = d.Msg
			}
		}
		for _, tb := range lr.Rules.Tables {
			for _, ch := range tb.Chains {
				for _, r := range ch.Rules {
					perLine[r.Pos.Line]++
				}
			}
		}
		for _, tb := range lr.Rules.Tables {
			for _, ch := range tb.Chains {
				for n, r := range ch.Rules {
					if l := r.Pos.Line; warned[l] > 0 && warned[l] == perLine[l] {
						dead[hitString(tb.Name, ch.Name, n+1)] = msgs[l]
					}
				}
			}
		}
		reported += len(dead)
		e, err := engine.New(lr.Rules, nil, engine.Config{})
		if err != nil {
			t.Fatal(err)
		}
		s := sim.New(e)
		sent := make([]packet.Desc, len(pkts))
		outs := make([][]sim.Out, len(pkts))
		for j, p := range pkts {
			d, ok := resolve(p, pkts, sent, outs)
			if !ok {
				continue
			}
			sent[j] = d
			got, err := s.Run(j, d)
			if err != nil {
				continue // a description the builder refuses
			}
			packets++
			outs[j] = got.Out
			for _, h := range append(got.Hits, got.ReplyHits...) {
				if h.Policy {
					continue
				}
				if msg, ok := dead[hitString(h.Table, h.Chain, h.Rule)]; ok {
					t.Errorf("ruleset %d: packet %d (%s) hit %s/%s rule %d, reported dead: %s\n%s",
						i, j, d.String(), h.Table, h.Chain, h.Rule, msg, text)
				}
			}
		}
	}
	t.Logf("%d rulesets, %d packets, %d rules reported dead across tables", rulesets, packets, reported)
	if reported == 0 {
		t.Error("no ruleset drew a cross-table dead-rule warning: the property was never tested")
	}
}
