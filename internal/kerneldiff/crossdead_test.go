package kerneldiff

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
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

// TestCrossTableDeadFocused is the same property on rulesets made to
// meet it: every table and hook, from a small vocabulary of conditions
// (protocol and port, address, interface, mark, TTL, state, length) and
// of targets that drop, accept, or change what later rules read (MARK,
// TTL, CT --notrack, DNAT, REDIRECT, SNAT, MASQUERADE), so that drops
// and rewrites meet often; and packets from both sides and the host
// itself, with replies, aimed at the same values.
func TestCrossTableDeadFocused(t *testing.T) {
	rulesets, reported, packets := 1500, 0, 0
	if testing.Short() {
		rulesets = 300
	}
	for i := range rulesets {
		r := rand.New(rand.NewPCG(0xc0ffee, uint64(i)))
		text := focusedRuleset(r)
		lr := load.Bytes("focused.rules", []byte(text), load.Options{})
		if lr.Diags.HasErrors() {
			t.Fatalf("ruleset %d does not load: %v\n%s", i, lr.Err(), text)
		}
		dead := map[int]string{} // line -> the warning
		for _, d := range analyze.Lint(lr.Rules) {
			if strings.Contains(d.Msg, "dropped earlier on its way") {
				dead[d.Pos.Line] = d.Msg
			}
		}
		reported += len(dead)
		byKey := map[string]int{} // table/chain/rule -> its line
		for _, tb := range lr.Rules.Tables {
			for _, ch := range tb.Chains {
				for n, rl := range ch.Rules {
					byKey[hitString(tb.Name, ch.Name, n+1)] = rl.Pos.Line
				}
			}
		}
		e, err := engine.New(lr.Rules, nil, engine.Config{})
		if err != nil {
			t.Fatal(err)
		}
		s := sim.New(e)
		pkts := focusedPackets(r)
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
				t.Fatalf("%s: %v", d.String(), err)
			}
			packets++
			outs[j] = got.Out
			for _, h := range append(got.Hits, got.ReplyHits...) {
				line := byKey[hitString(h.Table, h.Chain, h.Rule)]
				if msg, ok := dead[line]; ok && !h.Policy {
					t.Errorf("ruleset %d: packet %d (%s) hit %s %s rule %d (line %d), reported dead: %s\n%s",
						i, j, d.String(), h.Table, h.Chain, h.Rule, line, msg, text)
				}
			}
		}
	}
	t.Logf("%d rulesets, %d packets, %d rules reported dead across tables", rulesets, packets, reported)
	if reported == 0 {
		t.Error("no ruleset drew a cross-table dead-rule warning: the property was never tested")
	}
}

// focusedRuleset writes one ruleset of TestCrossTableDeadFocused.
func focusedRuleset(r *rand.Rand) string {
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	chance := func(p float64) bool { return r.Float64() < p }
	protos := []string{"-p icmp", "-p icmp -m icmp --icmp-type 8", "-p tcp -m tcp --dport 22", "-p tcp -m tcp --syn", "-p udp -m udp --dport 53", "-p tcp"}
	addrs := []string{"-d 198.51.100.1", "-d 192.0.2.10", "-d 203.0.113.7", "-s 203.0.113.7", "-s 192.0.2.10", "-s 198.51.100.1"}
	metas := []string{"-m mark --mark 0x1", "-m mark --mark 0x0", "-m mark --mark 0x1", "-m mark --mark 0x0", "-m mark --mark 0x1", "-m ttl --ttl-eq 63", "-m ttl --ttl-eq 64", "-m ttl --ttl-lt 3",
		"-m state --state NEW", "-m state --state ESTABLISHED", "-m conntrack --ctstate DNAT", "-m conntrack --ctstate SNAT",
		"-m state --state UNTRACKED", "-m length --length 0:60"}
	targets := map[string][]string{
		"raw":    {"-j DROP", "-j ACCEPT", "-j MARK --set-xmark 0x1/0xffffffff", "-j MARK --set-xmark 0x1/0xffffffff", "-j CT --notrack", ""},
		"mangle": {"-j DROP", "-j ACCEPT", "-j MARK --set-xmark 0x1/0xffffffff", "-j MARK --set-xmark 0x1/0xffffffff", "-j MARK --set-xmark 0x0/0xffffffff", "-j TTL --ttl-set 63", "-j RETURN", ""},
		"filter": {"-j DROP", "-j ACCEPT", "-j ACCEPT", "-j REJECT", "", "-j MARK --set-xmark 0x1/0xffffffff"},
	}
	natTargets := map[string][]string{
		"PREROUTING":  {"-j DNAT --to-destination 192.0.2.10", "-j DNAT --to-destination 198.51.100.1", "-j REDIRECT", "-j ACCEPT", ""},
		"OUTPUT":      {"-j DNAT --to-destination 192.0.2.10", "-j DNAT --to-destination 203.0.113.7", "-j ACCEPT", ""},
		"INPUT":       {"-j SNAT --to-source 203.0.113.9", "-j ACCEPT", ""},
		"POSTROUTING": {"-j SNAT --to-source 198.51.100.1", "-j MASQUERADE", "-j ACCEPT", ""},
	}
	var b strings.Builder
	for _, table := range []string{"raw", "mangle", "nat", "filter"} {
		if table != "filter" && chance(0.2) {
			continue
		}
		fmt.Fprintf(&b, "*%s\n", table)
		for _, c := range builtin[table] {
			pol := "ACCEPT"
			if table == "filter" && chance(0.15) || table == "mangle" && chance(0.05) {
				pol = "DROP"
			}
			fmt.Fprintf(&b, ":%s %s [0:0]\n", c, pol)
		}
		// A user chain that several hooks jump to: its rules are
		// reached from each of them.
		user := table != "nat" && chance(0.4)
		chains := builtin[table]
		if user {
			b.WriteString(":u - [0:0]\n")
			chains = append(slices.Clone(chains), "u")
		}
		for _, c := range chains {
			if user && c != "u" && chance(0.5) {
				fmt.Fprintf(&b, "-A %s -j u\n", c)
			}
			for n := r.IntN(4); n > 0; n-- {
				var parts []string
				if chance(0.5) {
					parts = append(parts, pick(protos))
				}
				if chance(0.4) {
					parts = append(parts, pick(addrs))
				}
				if c != "OUTPUT" && c != "POSTROUTING" && c != "u" && chance(0.3) {
					parts = append(parts, "-i "+pick([]string{"eth0", "wlan0", "lo"}))
				}
				if (c == "OUTPUT" || c == "FORWARD" || c == "POSTROUTING") && c != "u" && chance(0.3) {
					parts = append(parts, "-o "+pick([]string{"eth0", "wlan0"}))
				}
				if chance(0.4) {
					parts = append(parts, pick(metas))
				}
				tg := ""
				if table == "nat" {
					tg = pick(natTargets[c])
				} else {
					tg = pick(targets[table])
				}
				if strings.Contains(tg, "REJECT") && (c != "INPUT" && c != "FORWARD" && c != "OUTPUT" || table != "filter") {
					tg = "-j DROP"
				}
				if len(parts) == 0 && (tg == "-j DROP" || tg == "-j REJECT") {
					// A drop of everything leaves nothing to test.
					parts = append(parts, pick(metas))
				}
				parts = append(parts, tg)
				fmt.Fprintf(&b, "-A %s %s\n", c, strings.TrimSpace(strings.Join(parts, " ")))
			}
		}
		b.WriteString("COMMIT\n")
	}
	return b.String()
}

// focusedPackets are the packets of one ruleset of
// TestCrossTableDeadFocused: new flows from outside, inside and the host,
// each maybe answered.
func focusedPackets(r *rand.Rand) []Packet {
	var out []Packet
	type end struct {
		in       string
		src, dst string
	}
	ends := []end{
		{"eth0", "203.0.113.7", "198.51.100.1"}, {"eth0", "203.0.113.7", "192.0.2.10"}, {"eth0", "198.51.100.9", "192.0.2.10"},
		{"eth0", "203.0.113.7", "203.0.113.8"}, {"wlan0", "192.0.2.10", "198.51.100.1"}, {"wlan0", "192.0.2.10", "203.0.113.7"},
		{"wlan0", "192.0.2.10", "192.0.2.1"}, {"", "198.51.100.1", "203.0.113.7"}, {"", "192.0.2.1", "192.0.2.10"},
		{"eth0", "192.0.2.10", "198.51.100.1"},
	}
	sport := uint16(40000)
	for n := 20 + r.IntN(20); n > 0; n-- {
		e := ends[r.IntN(len(ends))]
		d := packet.Desc{In: e.in, Local: e.in == "", Src: netip.MustParseAddr(e.src), Dst: netip.MustParseAddr(e.dst)}
		sport++
		switch r.IntN(4) {
		case 0:
			d.Proto, d.Type = packet.ProtoICMP, 8
		case 1:
			d.Proto, d.Sport, d.Dport = packet.ProtoUDP, sport, 53
		default:
			d.Proto, d.Sport, d.Dport = packet.ProtoTCP, sport, []uint16{22, 80}[r.IntN(2)]
			f, _ := packet.ParseTCPFlags("S")
			d.Flags = &f
		}
		if r.IntN(4) == 0 {
			ttl := []uint8{2, 63, 64}[r.IntN(3)]
			d.TTL = &ttl
		}
		if r.IntN(6) == 0 {
			d.Len = 100
		}
		of := len(out)
		out = append(out, Packet{Desc: d, Of: -1})
		if r.IntN(2) == 0 {
			rep := packet.Desc{}
			if d.Proto == packet.ProtoTCP {
				f, _ := packet.ParseTCPFlags("SA")
				rep.Flags = &f
			}
			out = append(out, Packet{Desc: rep, Of: of, Answer: answerReply})
		}
	}
	return out
}
