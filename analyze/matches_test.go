package analyze

import (
	"strings"
	"testing"

	"github.com/ipsift/ipsift/rules"
)

// point is a packet as coordinates; unset dimensions are 0 (except the
// state, NEW without NAT bits).
type probe map[int]uint32

func (p probe) in(r region) bool {
	for _, b := range r {
		inside := true
		for d := range b {
			v, ok := p[d]
			if !ok && d == dimState {
				v = 2
			}
			if !b[d].has(v) {
				inside = false
				break
			}
		}
		if inside {
			return true
		}
	}
	return false
}

// state returns the dimState point of base state bits and NAT bits.
func state(t *testing.T, bits uint8) uint32 {
	for v := uint32(0); v < numCTValues; v++ {
		if ctBits(v) == bits {
			return v
		}
	}
	t.Fatalf("no state point has bits %#x", bits)
	return 0
}

// TestMatchCond reads matches from their canonical iptables-save text and
// checks, for sample packets, whether the match surely matches (lower),
// may match (upper), or does not.
func TestMatchCond(t *testing.T) {
	const (
		no    = 0 // outside upper
		maybe = 1 // in upper, not in lower
		yes   = 2 // in lower (and so in upper)
	)
	tcp := &rules.Rule{Proto: protoTCP}
	udp := &rules.Rule{Proto: protoUDP}
	type sample struct {
		p    probe
		want int
	}
	syn := probe{dimProto: protoTCP, dimFlags: 0x02}
	for _, tc := range []struct {
		name, text, listed string
		r                  *rules.Rule
		exact              bool
		samples            []sample
	}{
		{"tcp", " --dport 22 --tcp-flags FIN,SYN,RST,ACK SYN", "", tcp, true, []sample{
			{probe{dimProto: 6, dimDport: 22, dimFlags: 0x02}, yes},
			{probe{dimProto: 6, dimDport: 22, dimFlags: 0x12}, no},  // SYN+ACK
			{probe{dimProto: 6, dimDport: 22, dimFlags: 0x0a}, yes}, // PSH is not in the mask
			{probe{dimProto: 6, dimDport: 23, dimFlags: 0x02}, no},
			{probe{dimProto: 6, dimDport: 22, dimFlags: 0x02, dimFrag: 1}, no},
			{probe{dimProto: 17, dimDport: 22, dimFlags: 0x02}, no},
		}},
		{"tcp", " ! --sport 1024:65535 ! --tcp-flags SYN,RST NONE", "", tcp, true, []sample{
			{probe{dimProto: 6, dimSport: 80, dimFlags: 0x02}, yes},
			{probe{dimProto: 6, dimSport: 80, dimFlags: 0x10}, no},
			{probe{dimProto: 6, dimSport: 1024, dimFlags: 0x02}, no},
		}},
		{"tcp", " --dport 22 --tcp-option 2", "", tcp, false, []sample{
			{probe{dimProto: 6, dimDport: 22}, maybe},
			{probe{dimProto: 6, dimDport: 21}, no},
		}},
		{"tcp", " --dport 22 --mystery 1", "", tcp, false, []sample{
			// Unexpected text: the whole match is opaque.
			{probe{dimProto: 6, dimDport: 21}, maybe},
		}},
		{"udp", " --sport 53", "", udp, true, []sample{
			{probe{dimProto: 17, dimSport: 53}, yes},
			{probe{dimProto: 17, dimSport: 54}, no},
		}},
		{"icmp", " --icmp-type any", "", &rules.Rule{Proto: 1}, true, []sample{
			{probe{dimProto: 1, dimICMP: 8 << 8}, yes},
			{probe{dimProto: 1, dimFrag: 1}, no},
		}},
		{"icmp", " ! --icmp-type 8", "", &rules.Rule{Proto: 1}, true, []sample{
			{probe{dimProto: 1, dimICMP: 8<<8 | 1}, no},
			{probe{dimProto: 1, dimICMP: 0}, yes},
		}},
		{"icmp", " --icmp-type 3/1", "", &rules.Rule{Proto: 1}, false, []sample{
			// Saved "3/1" may stand for codes 1 up to anything.
			{probe{dimProto: 1, dimICMP: 3<<8 | 1}, yes},
			{probe{dimProto: 1, dimICMP: 3<<8 | 200}, maybe},
			{probe{dimProto: 1, dimICMP: 3 << 8}, no},
		}},
		{"icmp", " --icmp-type 3/1", " icmptype 3 codes 1-4", &rules.Rule{Proto: 1}, true, []sample{
			{probe{dimProto: 1, dimICMP: 3<<8 | 4}, yes},
			{probe{dimProto: 1, dimICMP: 3<<8 | 5}, no},
		}},
		{"icmp", " ! --icmp-type 3/1", " icmp !type 3 code 1", &rules.Rule{Proto: 1}, true, []sample{
			{probe{dimProto: 1, dimICMP: 3<<8 | 1}, no},
			{probe{dimProto: 1, dimICMP: 3<<8 | 2}, yes},
		}},
		{"icmp", " --icmp-type 255/255", "", &rules.Rule{Proto: 1}, true, []sample{
			// Type 255 is the kernel's "any", whatever the codes.
			{probe{dimProto: 1, dimICMP: 0}, yes},
		}},
		{"multiport", " --dports 22,1024:2048", "", tcp, true, []sample{
			{probe{dimProto: 6, dimDport: 1500}, yes},
			{probe{dimProto: 6, dimDport: 23}, no},
			{probe{dimProto: 6, dimDport: 22, dimFrag: 1}, no},
		}},
		{"multiport", " ! --ports 22,25", "", tcp, true, []sample{
			{probe{dimProto: 6, dimSport: 22, dimDport: 80}, no},
			{probe{dimProto: 6, dimSport: 80, dimDport: 25}, no},
			{probe{dimProto: 6, dimSport: 80, dimDport: 80}, yes},
		}},
		{"multiport", " --dports 22", "", &rules.Rule{Proto: 1}, false, []sample{
			{probe{dimProto: 1}, maybe},
		}},
		{"conntrack", " --ctstate RELATED,ESTABLISHED", "", tcp, true, nil},
		{"conntrack", " --ctstate NEW --ctorigdst 192.0.2.1/32 --ctdir ORIGINAL", "", tcp, false, nil},
		{"conntrack", " ! --ctstate DNAT", "", tcp, true, nil},
		{"state", " --state INVALID,UNTRACKED", "", tcp, true, nil},
		{"iprange", " ! --src-range 192.0.2.1-192.0.2.9 --dst-range 198.51.100.0-198.51.100.255", "", tcp, true, []sample{
			{probe{dimSrc: 0xc0000201, dimDst: 0xc6336400}, no},
			{probe{dimSrc: 0xc000020a, dimDst: 0xc6336400}, yes},
			{probe{dimSrc: 0xc000020a, dimDst: 0xc6336500}, no},
		}},
		{"mark", " --mark 0x10", "", tcp, true, []sample{{probe{dimMark: 16}, yes}, {probe{dimMark: 17}, no}}},
		{"mark", " ! --mark 0x10/0xf0", "", tcp, false, []sample{{probe{dimMark: 16}, maybe}}},
		{"length", " --length 0:100", "", tcp, true, []sample{{probe{dimLen: 100}, yes}, {probe{dimLen: 101}, no}}},
		{"ttl", " --ttl-lt 5", "", tcp, true, []sample{{probe{dimTTL: 4}, yes}, {probe{dimTTL: 5}, no}}},
		{"ttl", " ! --ttl-eq 5", "", tcp, true, []sample{{probe{dimTTL: 4}, yes}, {probe{dimTTL: 5}, no}}},
		{"comment", ` --comment "a \"quoted\" --dport 22"`, "", tcp, true, []sample{{probe{}, yes}}},
		{"limit", " --limit 1/sec --limit-burst 4", "", tcp, false, []sample{{syn, maybe}}},
		{"addrtype", " --dst-type LOCAL", "", tcp, false, []sample{{syn, maybe}}},
	} {
		t.Run(tc.name+tc.text, func(t *testing.T) {
			c, exact := matchCond(tc.name, tc.text, tc.listed, tc.r, &work{left: 1 << 30}, nil)
			if exact != tc.exact {
				t.Errorf("exact = %v, want %v", exact, tc.exact)
			}
			for _, s := range tc.samples {
				got := no
				if s.p.in(c.upper) {
					got = maybe
				}
				if s.p.in(c.lower) {
					got = yes
					if !s.p.in(c.upper) {
						t.Errorf("%v is in lower but not upper", s.p)
					}
				}
				if got != s.want {
					t.Errorf("%v: got %d, want %d (0 no, 1 maybe, 2 yes)", s.p, got, s.want)
				}
			}
		})
	}
}

// TestStates checks the conntrack state points against xt_conntrack's
// rule: a state mask matches when it shares a bit with the packet's
// state, SNAT and DNAT bits included.
func TestStates(t *testing.T) {
	w := &work{left: 1 << 30}
	for _, tc := range []struct {
		text string
		in   []uint8
		out  []uint8
	}{
		{" --ctstate RELATED,ESTABLISHED", []uint8{stEstablished, stRelated | stDNAT}, []uint8{stNew, stInvalid, stUntracked}},
		{" --ctstate DNAT", []uint8{stNew | stDNAT, stEstablished | stSNAT | stDNAT}, []uint8{stNew, stNew | stSNAT}},
		{" ! --ctstate INVALID,NEW,RELATED,ESTABLISHED", []uint8{stUntracked}, []uint8{stNew | stDNAT, stInvalid}},
		{" --state UNTRACKED", []uint8{stUntracked}, []uint8{stInvalid}},
	} {
		c, _ := matchCond("conntrack", tc.text, "", &rules.Rule{}, w, nil)
		for _, bits := range tc.in {
			if !(probe{dimState: state(t, bits)}).in(c.lower) {
				t.Errorf("%s: state %#x should match", tc.text, bits)
			}
		}
		for _, bits := range tc.out {
			if (probe{dimState: state(t, bits)}).in(c.upper) {
				t.Errorf("%s: state %#x should not match", tc.text, bits)
			}
		}
	}
}

// TestInterfaces checks wildcard interface names against atoms.
func TestInterfaces(t *testing.T) {
	rs := load(t, "t", filter("ACCEPT", nil,
		"-A INPUT -i eth+ -j ACCEPT",
		"-A INPUT -i eth0 -j ACCEPT",
		"-A INPUT -i eth1+ -j ACCEPT",
		"-A INPUT -i wlan0 -j ACCEPT"))
	a := newIfaceAtoms([]*rules.Ruleset{rs})
	names := func(pattern string) string {
		var out []string
		for _, x := range a.matching(pattern) {
			for v := x.lo; v <= x.hi && len(out) < 10; v++ {
				out = append(out, a.name(v))
			}
		}
		return strings.Join(out, " ")
	}
	for pattern, want := range map[string]string{
		"eth+":  "eth+ eth0 eth1+",
		"eth0":  "eth0",
		"eth1+": "eth1+",
		"wlan0": "wlan0",
		"wlan+": "wlan0",
		"ppp0":  "",
	} {
		if got := names(pattern); got != want {
			t.Errorf("%s matches atoms %q, want %q", pattern, got, want)
		}
	}
	if !a.matching("+").isFull(dimIn) {
		t.Errorf("+ should match every interface")
	}
}
