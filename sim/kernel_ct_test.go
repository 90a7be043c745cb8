package sim

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
)

// ctRules tells connections apart by everything a connection context
// sets: state, direction, status (NAT, assured), mark. The nat table is
// there for its hooks: without them, no NAT binding rewrites a packet.
const ctRules = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m connmark --mark 0x10 -j ACCEPT
-A INPUT -m conntrack --ctstate ESTABLISHED --ctdir REPLY -j ACCEPT
-A INPUT -m conntrack --ctstate ESTABLISHED --ctstatus ASSURED -j ACCEPT
-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT
-A INPUT -m conntrack --ctstate NEW -j ACCEPT
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A FORWARD -m conntrack --ctstate DNAT --ctorigdst 198.51.100.1 -j ACCEPT
-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT
COMMIT
`

// conntrackInsert returns the conntrack -I arguments that create p.
func conntrackInsert(p conntrack.Preload) []string {
	o, r := p.Orig, p.Reply
	args := []string{"conntrack", "-I", "-p", packet.Proto(o.Proto).String(),
		"-s", o.SrcAddr().String(), "-d", o.DstAddr().String(),
		"-r", r.SrcAddr().String(), "-q", r.DstAddr().String()}
	switch o.Proto {
	case packet.ProtoTCP, packet.ProtoUDP:
		args = append(args, "--sport", fmt.Sprint(o.SrcPort), "--dport", fmt.Sprint(o.DstPort),
			"--reply-port-src", fmt.Sprint(r.SrcPort), "--reply-port-dst", fmt.Sprint(r.DstPort))
	case packet.ProtoICMP:
		args = append(args, "--icmp-type", fmt.Sprint(o.ICMPType()), "--icmp-code", fmt.Sprint(o.ICMPCode()), "--icmp-id", fmt.Sprint(o.SrcPort))
	}
	if o.Proto == packet.ProtoTCP {
		args = append(args, "--state", p.TCPState.String())
	}
	var status []string
	if p.SeenReply {
		status = append(status, "SEEN_REPLY")
	}
	if p.Assured {
		status = append(status, "ASSURED")
	}
	if len(status) > 0 {
		args = append(args, "-u", strings.Join(status, ","))
	}
	return append(args, "-t", fmt.Sprint(int(p.Timeout.Seconds())), "-m", fmt.Sprint(p.Mark))
}

// TestKernelConnectionContext creates each packet's connection in the
// kernel with conntrack -I, sends the packet, and requires the counters
// it raised to be the ones ipsift's hits name.
func TestKernelConnectionContext(t *testing.T) {
	kernel.Require(t)
	lines := []string{
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 A",
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 A ct=established",
		"eth0 tcp 203.0.113.7:40001 > 198.51.100.1:22 A ct=established,reply",
		"eth0 tcp 203.0.113.7:40002 > 198.51.100.1:22 A ct=syn_recv",
		"eth0 tcp 203.0.113.7:40003 > 198.51.100.1:22 A ct=established,mark=0x10",
		"eth0 tcp 203.0.113.7:40004 > 198.51.100.1:22 FA ct=time_wait",
		"eth0 udp 203.0.113.7:5000 > 198.51.100.1:53 ct=established",
		"eth0 udp 203.0.113.7:5001 > 198.51.100.1:53 ct=unreplied,timeout=50",
		"eth0 icmp 203.0.113.7 > 198.51.100.1 echo-reply ct=established,reply",
		// Not here: a NATed connection (ct=established,dnat=...). The
		// kernel, given the tuples by conntrack -I, delivers the packet
		// untranslated; ipsift (conntrack.Insert) forwards it translated.
		// Open: see the report of the change that added this test.
		`eth0 tcp 203.0.113.7:40006 > 198.51.100.1:22 A ct="ipv4 2 tcp 6 300 ESTABLISHED src=198.51.100.1 dst=203.0.113.7 sport=22 dport=40006 src=203.0.113.7 dst=198.51.100.1 sport=40006 dport=22 mark=0 use=1"`,
	}
	rs := rules.New()
	if _, err := rs.Restore(strings.NewReader(ctRules), rules.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) {
			fw := kernel.NewFirewall(t, b)
			if err := fw.Restore(ctRules); err != nil {
				t.Fatal(err)
			}
			for i, l := range lines {
				d, err := packet.ParseShort(l)
				if err != nil {
					t.Fatal(err)
				}
				addNeighbours(t, fw, []packet.Desc{d})
				if err := fw.FlushConntrack(); err != nil {
					t.Fatal(err)
				}
				if d.CT != nil {
					p, err := conntrack.ContextOf(d)
					if err != nil {
						t.Fatal(err)
					}
					if out, err := fw.Run(conntrackInsert(p)...); err != nil {
						t.Fatalf("%s: %v\n%s", l, err, out)
					}
				}
				before, err := fw.Counters()
				if err != nil {
					t.Fatal(err)
				}
				data, _ := d.Build(i)
				if err := fw.Inject(d.In, data); err != nil {
					t.Fatal(err)
				}
				fw.CaptureAll()
				after, err := fw.Counters()
				if err != nil {
					t.Fatal(err)
				}
				var theirs []string
				diff := kernel.Diff(before, after)
				for _, k := range kernel.SortedKeys(diff) {
					if k.Table == "filter" && k.Chain != "OUTPUT" {
						theirs = append(theirs, k.String())
					}
				}
				e, err := engine.New(rs, nil, engine.Config{})
				if err != nil {
					t.Fatal(err)
				}
				res, err := New(e).Run(i, d)
				if err != nil {
					t.Fatal(err)
				}
				var mine []string
				for _, h := range res.Hits {
					if h.Table == "filter" && h.Chain != "OUTPUT" {
						mine = append(mine, kernel.RuleKey{Table: h.Table, Chain: h.Chain, Rule: h.Rule}.String())
					}
				}
				if strings.Join(mine, "; ") != strings.Join(theirs, "; ") {
					t.Errorf("%s:\nkernel: %s\nipsift: %s", l, strings.Join(theirs, "; "), strings.Join(mine, "; "))
				} else {
					t.Logf("%s: %s", l, strings.Join(mine, "; "))
				}
			}
		})
	}
}
