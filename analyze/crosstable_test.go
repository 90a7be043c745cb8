package analyze

import (
	"strings"
	"testing"
)

// crossWarnings lints a restore text and returns, per line, the
// cross-table "dropped earlier on its way" warnings.
func crossWarnings(t *testing.T, text string) map[int]string {
	t.Helper()
	out := map[int]string{}
	for _, d := range Lint(load(t, "x.rules", text)) {
		if strings.Contains(d.Msg, "dropped earlier on its way") {
			out[d.Pos.Line] = d.Msg
		}
	}
	return out
}

// TestCrossTableDead is the example: mangle PREROUTING drops
// every ICMP packet, so the ICMP rules of filter INPUT and FORWARD are
// dead, and the warning names the rule that kills them; OUTPUT's packets
// never pass PREROUTING, and a TCP rule is not concerned.
func TestCrossTableDead(t *testing.T) {
	got := crossWarnings(t, `*mangle
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p icmp -j DROP
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:icmp_in - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -p icmp --icmp-type echo-request -j ACCEPT
-A INPUT -p icmp -j icmp_in
-A INPUT -p tcp --dport 22 -j ACCEPT
-A FORWARD -p icmp -j ACCEPT
-A OUTPUT -p icmp -j ACCEPT
-A icmp_in -j ACCEPT
COMMIT
`)
	for _, line := range []int{11, 12, 14, 16} {
		msg, ok := got[line]
		if !ok {
			t.Errorf("line %d: no cross-table warning", line)
			continue
		}
		if !strings.Contains(msg, "mangle PREROUTING rule 1 (x.rules:3) `-p icmp -j DROP`") {
			t.Errorf("line %d: %s", line, msg)
		}
	}
	for _, line := range []int{10, 13, 15} {
		if msg, ok := got[line]; ok {
			t.Errorf("line %d: false warning: %s", line, msg)
		}
	}
}

// TestCrossTableNoWarning holds the cases where a rule later on the way
// looks covered by an earlier drop but is not: something between them
// rewrites what the drop reads, the drop does not surely take the
// packets, or the later rule is not on a way through the drop.
func TestCrossTableNoWarning(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"DNAT between", `*mangle
-A PREROUTING -d 198.51.100.5/32 -j DROP
COMMIT
*nat
-A PREROUTING -d 203.0.113.1/32 -p tcp -j DNAT --to-destination 198.51.100.5
COMMIT
*filter
-A INPUT -d 198.51.100.5/32 -j ACCEPT
-A FORWARD -d 198.51.100.5/32 -j ACCEPT
COMMIT
`},
		{"a NAT rule anywhere rewrites replies at each nat stage", `*mangle
-A PREROUTING -s 198.51.100.7/32 -j DROP
COMMIT
*nat
-A POSTROUTING -o eth0 -s 192.0.2.0/24 -j SNAT --to-source 198.51.100.7
COMMIT
*filter
-A INPUT -s 198.51.100.7/32 -j ACCEPT
COMMIT
`},
		{"MARK between", `*mangle
-A PREROUTING -m mark --mark 0x1 -j DROP
-A INPUT -p tcp -j MARK --set-xmark 0x1/0xffffffff
COMMIT
*filter
-A INPUT -m mark --mark 0x1 -j ACCEPT
COMMIT
`},
		{"MARK in a chain jumped to", `*raw
:chk - [0:0]
-A PREROUTING -m mark --mark 0x2 -j DROP
COMMIT
*mangle
:setmark - [0:0]
-A PREROUTING -p udp -j setmark
-A setmark -j MARK --set-xmark 0x2/0xffffffff
COMMIT
*filter
-A INPUT -p udp -m mark --mark 0x2 -j ACCEPT
COMMIT
`},
		{"MARK before the drop in its own chain", `*mangle
-A PREROUTING -p icmp -j MARK --set-xmark 0x3/0xffffffff
-A PREROUTING -p icmp -m mark --mark 0x0 -j DROP
COMMIT
*filter
-A INPUT -p icmp -m mark --mark 0x0 -j ACCEPT
COMMIT
`},
		{"ACCEPT in mangle does not end the way", `*mangle
-A PREROUTING -p icmp -j ACCEPT
-A PREROUTING -p icmp -j DROP
COMMIT
*filter
-A INPUT -p icmp -j ACCEPT
COMMIT
`},
		{"a jump before the drop may decide", `*mangle
:x - [0:0]
-A PREROUTING -p icmp -j x
-A PREROUTING -p icmp -j DROP
-A x -j ACCEPT
COMMIT
*filter
-A INPUT -p icmp -j ACCEPT
COMMIT
`},
		{"a user chain reached from INPUT and from OUTPUT", `*mangle
-A PREROUTING -p icmp -j DROP
COMMIT
*filter
:icmp_ok - [0:0]
-A INPUT -j icmp_ok
-A OUTPUT -j icmp_ok
-A icmp_ok -p icmp -j ACCEPT
COMMIT
`},
		{"another interface", `*mangle
-A PREROUTING -i eth0 -p icmp -j DROP
COMMIT
*filter
-A INPUT -i wlan0 -p icmp -j ACCEPT
-A INPUT -p icmp -j ACCEPT
COMMIT
`},
		{"another hook", `*mangle
-A PREROUTING -p icmp -j DROP
-A OUTPUT -p udp -j DROP
COMMIT
*filter
-A OUTPUT -p icmp -j ACCEPT
COMMIT
*nat
-A POSTROUTING -p icmp -j MASQUERADE
-A POSTROUTING -p udp -j MASQUERADE
COMMIT
`},
		{"the TTL drops by one before FORWARD", `*mangle
-A PREROUTING -m ttl --ttl-eq 1 -j DROP
COMMIT
*filter
-A FORWARD -m ttl --ttl-eq 1 -j ACCEPT
COMMIT
`},
		{"raw sees no conntrack state", `*raw
-A PREROUTING -m state --state INVALID -j DROP
COMMIT
*filter
-A INPUT -m state --state INVALID -j DROP
COMMIT
`},
		{"reassembly before INPUT: a first fragment may lack the flags", `*mangle
-A PREROUTING -p tcp --syn -j DROP
COMMIT
*filter
-A INPUT -p tcp --syn -j ACCEPT
COMMIT
`},
		{"a rate limit surely drops nothing", `*mangle
-A PREROUTING -p icmp -m limit --limit 1/sec -j DROP
COMMIT
*filter
-A INPUT -p icmp -j ACCEPT
COMMIT
`},
		{"a queue's listener may change the packet", `*raw
-A PREROUTING -m mark --mark 0x5 -j DROP
COMMIT
*mangle
-A PREROUTING -p icmp -j NFQUEUE --queue-num 1
COMMIT
*filter
-A INPUT -m mark --mark 0x5 -j ACCEPT
COMMIT
`},
		{"mangle OUTPUT reroutes", `*raw
-A OUTPUT -o eth0 -j DROP
COMMIT
*mangle
-A OUTPUT -p tcp -j TOS --set-tos 0x10/0xff
COMMIT
*filter
-A OUTPUT -o eth0 -j ACCEPT
COMMIT
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := crossWarnings(t, tc.text); len(got) > 0 {
				t.Errorf("false warnings: %v", got)
			}
		})
	}
}

// TestCrossTableMore covers the other killers: a DROP policy, REJECT in
// filter for the tables after it, a drop in raw OUTPUT for filter
// OUTPUT, and several drops that together cover a rule.
func TestCrossTableMore(t *testing.T) {
	got := crossWarnings(t, `*mangle
:PREROUTING DROP [0:0]
-A PREROUTING -p tcp -j ACCEPT
-A PREROUTING -p udp -j ACCEPT
COMMIT
*raw
-A PREROUTING -p udp --dport 53 -j DROP
-A OUTPUT -d 203.0.113.0/24 -j DROP
COMMIT
*filter
-A INPUT -p icmp -j ACCEPT
-A INPUT -p udp --dport 53 -j ACCEPT
-A INPUT -p udp --dport 54 -j ACCEPT
-A INPUT -p tcp -j REJECT
-A OUTPUT -d 203.0.113.7/32 -j ACCEPT
COMMIT
*security
-A INPUT -p tcp -j ACCEPT
-A INPUT -p udp -m multiport --dports 53,54 -j ACCEPT
COMMIT
`)
	want := map[int]string{
		11: "the mangle PREROUTING policy DROP",
		12: "raw PREROUTING rule 1",
		15: "raw OUTPUT rule 1 (x.rules:8)",
		18: "INPUT rule 4 (x.rules:14)",
	}
	for line, part := range want {
		if !strings.Contains(got[line], part) {
			t.Errorf("line %d: %q, want it to name %s", line, got[line], part)
		}
	}
	for line, msg := range got {
		if _, ok := want[line]; !ok {
			t.Errorf("line %d: unexpected %s", line, msg)
		}
	}
}

// TestCrossTableChainAsAWhole: a chain that drops some packets by a rule
// and the rest by its policy drops everything, whatever a NAT rewrites
// in the fields its rule reads; the warning names the parts that take
// the later rule's packets.
func TestCrossTableChainAsAWhole(t *testing.T) {
	got := crossWarnings(t, `*mangle
:PREROUTING DROP [0:0]
-A PREROUTING -s 198.51.100.1/32 -j DROP
COMMIT
*nat
-A PREROUTING -p tcp -j DNAT --to-destination 192.0.2.10
-A POSTROUTING -j MASQUERADE
COMMIT
*filter
-A INPUT -s 198.51.100.9/32 -j ACCEPT
-A FORWARD -j ACCEPT
-A OUTPUT -j ACCEPT
COMMIT
`)
	// Only the policy takes 198.51.100.9; both take FORWARD's packets.
	if msg := got[10]; !strings.HasSuffix(msg, "by the mangle PREROUTING policy DROP") {
		t.Errorf("line 10: %q", msg)
	}
	if msg := got[11]; !strings.Contains(msg, "mangle PREROUTING rule 1") || !strings.Contains(msg, "the mangle PREROUTING policy DROP") {
		t.Errorf("line 11: %q", msg)
	}
	if msg, ok := got[12]; ok {
		t.Errorf("OUTPUT does not pass PREROUTING: %s", msg)
	}
}
