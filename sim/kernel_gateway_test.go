package sim

import (
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
)

// TestKernelGatewayScenarios sends the scenarios of gateway.rules
// (testdata/gateway-scenarios.jsonl: ssh from the admins and from
// elsewhere, the hostile source, RST scans past their limit, a SYN burst
// to port 25 past its burst and its refill, the port forward and its
// replies, eight web connections spread over four mirrors, masquerade
// and its replies, ICMP errors as RELATED) through the kernel and
// through ipsift, packet by packet: the rules hit, the verdict, and the
// packets that left (after NAT). Time-dependent rules see the real gaps
// between the packets the kernel got.
func TestKernelGatewayScenarios(t *testing.T) {
	kernel.Require(t)
	text, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/gateway-scenarios.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	descs, err := packet.ReadDescs(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	res := load.Bytes("gateway.rules", text, load.Options{})
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags)
	}
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			if diffs := compareWithKernel(t, b, string(text), res.Rules, descs, true); diffs != 0 {
				t.Errorf("%d differences", diffs)
			}
		})
	}
}

// TestKernelComparisonFindsPlantedDifference gives ipsift a ruleset with
// one DNAT address changed and checks that the comparison with the kernel
// reports the packets it affects: a comparison that cannot fail proves
// nothing.
func TestKernelComparisonFindsPlantedDifference(t *testing.T) {
	kernel.Require(t)
	text, err := os.ReadFile("../examples/gateway.rules")
	if err != nil {
		t.Fatal(err)
	}
	wrong := strings.Replace(string(text), "192.0.2.20:80", "192.0.2.21:80", 1)
	res := load.Bytes("planted.rules", []byte(wrong), load.Options{})
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags)
	}
	descs, err := packet.ReadDescs(strings.NewReader(`{"in":"eth0","src":"203.0.113.9","dst":"198.51.100.1","proto":"tcp","sport":44000,"dport":80,"flags":"S"}
{"in":"eth0","src":"203.0.113.9","dst":"198.51.100.1","proto":"tcp","sport":44001,"dport":80,"flags":"S"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if diffs := compareWithKernel(t, kernel.NFT, string(text), res.Rules, descs, false); diffs != 1 {
		t.Errorf("the planted difference shows in %d packets, want exactly the second", diffs)
	}
}

// compareWithKernel sends descs through the kernel loaded with
// kernelRules and through ipsift with ours, and returns how many packets
// differ; with report each difference is a test error.
func compareWithKernel(t *testing.T, b kernel.Backend, kernelRules string, ours *rules.Ruleset, descs []packet.Desc, report bool) int {
	fw := kernel.NewFirewall(t, b)
	if err := fw.Restore(kernelRules); err != nil {
		t.Fatal(err)
	}
	addNeighbours(t, fw, descs)
	e, err := engine.New(ours, nil, engine.Config{Legacy: b == kernel.Legacy})
	if err != nil {
		t.Fatal(err)
	}
	s := New(e)
	var last time.Time
	diffs := 0
	for i, d := range descs {
		data, err := d.Build(i)
		if err != nil {
			t.Fatal(err)
		}
		if d.DelayMS > 0 {
			time.Sleep(time.Duration(d.DelayMS) * time.Millisecond)
		}
		before, _ := fw.SaveCounters()
		ipBefore, _ := fw.Delivered()
		sent := time.Now()
		if d.Local {
			err = fw.SendLocal(data)
		} else {
			err = fw.Inject(d.In, data)
		}
		if err != nil {
			t.Fatal(err)
		}
		out, err := fw.CaptureAll()
		if err != nil {
			t.Fatal(err)
		}
		after, _ := fw.SaveCounters()
		ipAfter, _ := fw.Delivered()
		// ipsift gets the gap the kernel really saw.
		if !last.IsZero() {
			d.DelayMS = 0
			s.Now += sent.Sub(last).Nanoseconds()
		}
		last = sent
		got, err := s.Run(i, d)
		if err != nil {
			t.Fatal(err)
		}
		kHits := kernel.Diff(kernel.ParseSaveCounters(before), kernel.ParseSaveCounters(after))
		verdict := "drop"
		if ipAfter.InDelivers+ipAfter.InUnknownProtos > ipBefore.InDelivers+ipBefore.InUnknownProtos {
			verdict = "accept-local"
		}
		if d.Local {
			verdict = "drop"
		}
		var left []string
		for ifname, frames := range out {
			for _, fr := range frames {
				var p packet.Packet
				if p.Decode(fr) != nil {
					continue
				}
				if !d.Local && hostAnswer(&p, d) {
					continue
				}
				left = append(left, ifname+" "+p.Src.String()+">"+p.Dst.String())
				if d.Local {
					verdict = "sent"
				} else if verdict == "drop" {
					verdict = "forward"
				}
			}
		}
		keep := func(h Hit) bool {
			if d.Local {
				return true
			}
			return verdict == "forward" && h.Chain != "OUTPUT" || h.Chain != "OUTPUT" && h.Chain != "POSTROUTING"
		}
		var kh []Hit
		for k, c := range kHits {
			for j := uint64(0); j < c.Packets; j++ {
				kh = append(kh, Hit{Table: k.Table, Chain: k.Chain, Rule: k.Rule})
			}
		}
		want, have := hitKeys(kh, keep), hitKeys(got.Hits, keep)
		var outs []string
		for _, o := range got.Out {
			if !o.HostReply {
				outs = append(outs, o.If+" "+o.Src+">"+o.Dst)
			}
		}
		sort.Strings(left)
		sort.Strings(outs)
		gv := got.Verdict
		if gv == "reject" {
			gv = "drop"
		}
		if want.String() != have.String() || verdict != gv || strings.Join(left, ",") != strings.Join(outs, ",") {
			diffs++
			say := t.Errorf
			if !report {
				say = t.Logf
			}
			say("packet %d %s:\n kernel: %s %s %v\n ipsift: %s %s %v", i, d.String(), verdict, want, left, got.Verdict, have, outs)
		}
	}
	t.Logf("%s: %d packets, %d differences", b, len(descs), diffs)
	return diffs
}

// hostAnswer reports whether a frame is the host's own answer to the
// packet d (a RST or an ICMP error from one of its addresses), which
// the comparison leaves out as packets.md says.
func hostAnswer(p *packet.Packet, d packet.Desc) bool {
	if p.Dst != d.Src {
		return false
	}
	switch p.Proto {
	case packet.ProtoTCP:
		return p.TCPFlags&packet.TCPRst != 0
	case packet.ProtoICMP:
		return p.ICMPType == 3 || p.ICMPType == 0 || p.ICMPType == 11
	}
	return false
}

// TestKernelArticleScenarios runs the article's own ten rules, each line
// as ipsift check suggests fixing it (examples/article-fixed.sh, in the
// article's order: rule 1 locks out ssh and mail), against the kernel.
// The kernel cannot load the legacy nth match, so it gets ipsift's own
// iptables-save of the script, where the nth rules are the statistic
// rules that give the same sequence; ipsift runs the script itself.
func TestKernelArticleScenarios(t *testing.T) {
	kernel.Require(t)
	script, err := os.ReadFile("../examples/article-fixed.sh")
	if err != nil {
		t.Fatal(err)
	}
	res := load.Bytes("article-fixed.sh", script, load.Options{})
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags)
	}
	var saved strings.Builder
	res.Rules.Save(&saved, rules.SaveOptions{})
	f, err := os.Open("testdata/gateway-scenarios.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	descs, err := packet.ReadDescs(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	more, err := packet.ReadDescs(strings.NewReader(`{"in":"wlan0","src":"192.0.2.11","dst":"198.51.100.1","proto":"tcp","sport":48000,"dport":2222,"flags":"S"}
{"in":"eth0","src":"198.51.100.66","dst":"198.51.100.1","proto":"tcp","sport":48001,"dport":80,"flags":"A"}
{"in":"eth0","src":"203.0.113.7","dst":"198.51.100.1","proto":"tcp","sport":48002,"dport":22,"flags":"S"}
`))
	if err != nil {
		t.Fatal(err)
	}
	descs = append(descs, more...)
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			if diffs := compareWithKernel(t, b, saved.String(), res.Rules, descs, true); diffs != 0 {
				t.Errorf("%d differences", diffs)
			}
		})
	}
}
