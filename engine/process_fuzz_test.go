package engine_test

import (
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
)

// fuzzRules4 and fuzzRules6 touch what reads a packet's bytes beyond the
// decoder: connection tracking (every protocol's tracker), NAT of both
// kinds, REJECT's answers, LOG with every option, TCPMSS, the extension
// header matches, and the host's own stack behind INPUT.
const fuzzRules4 = `*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p udp --dport 9 -j NOTRACK
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu
-A PREROUTING -j TTL --ttl-dec 1
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp --dport 80 -j DNAT --to-destination 192.0.2.10:8080
-A PREROUTING -p udp --dport 53 -j REDIRECT --to-ports 5353
-A POSTROUTING -o eth0 -j MASQUERADE --random
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate INVALID -j LOG --log-prefix "inv: " --log-tcp-sequence --log-tcp-options --log-ip-options --log-uid
-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
-A INPUT -p tcp -m tcp --tcp-option 2 -m multiport --dports 22,443 -j ACCEPT
-A INPUT -p icmp --icmp-type echo-request -m limit --limit 5/s -j ACCEPT
-A INPUT -p udp -m length --length 0:100 -j REJECT --reject-with icmp-port-unreachable
-A INPUT -p tcp -j REJECT --reject-with tcp-reset
-A INPUT -m u32 --u32 "0>>22&0x3C@12>>26&0x3C@0=0x50000000" -j ACCEPT
-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED,DNAT -j ACCEPT
-A FORWARD -p tcp --syn -m connlimit --connlimit-above 2 -j REJECT
-A FORWARD -j LOG --log-prefix "fwd: " --log-ip-options
-A FORWARD -j REJECT --reject-with icmp-host-prohibited
COMMIT
`

const fuzzRules6 = `*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -m frag --fragid 1:100 -j NOTRACK
COMMIT
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -j HL --hl-dec 1
-A PREROUTING -d 2001:db8:100::/64 -j DNPT --src-pfx 2001:db8:100::/64 --dst-pfx 2001:db8:2::/64
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -p tcp --dport 80 -j DNAT --to-destination [2001:db8:2::10]:8080
-A POSTROUTING -o eth0 -j MASQUERADE
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m rt --rt-type 0 --rt-segsleft 1:5 -j DROP
-A INPUT -m hbh --hbh-len 0 -j LOG --log-prefix "hbh: " --log-ip-options --log-tcp-options
-A INPUT -m ipv6header --header dst,frag --soft -j ACCEPT
-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A INPUT -p ipv6-icmp -j ACCEPT
-A INPUT -p udp -j REJECT --reject-with icmp6-port-unreachable
-A INPUT -p tcp -j REJECT --reject-with tcp-reset
-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A FORWARD -j LOG --log-prefix "fwd6: " --log-ip-options
-A FORWARD -j REJECT
COMMIT
`

// FuzzProcess sends arbitrary bytes through the whole engine, arriving
// on an interface or sent by the host, into rulesets that make every
// part read them: nothing may panic, whatever the bytes. Each input is
// several packets (a length byte, a flags byte, the bytes), so that a
// later packet meets the connections and fragments an earlier one left.
func FuzzProcess(f *testing.F) {
	for _, short := range []string{
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S",
		"eth0 tcp 203.0.113.7:40000 > 198.51.100.1:80 S",
		"wlan0 udp 192.0.2.10:5000 > 203.0.113.7:53",
		"eth0 icmp 203.0.113.7 > 198.51.100.1 type 8",
		"eth0 tcp [2001:db8:113::7]:40000 > [2001:db8:100::1]:22 S",
		"eth0 udp [2001:db8:113::7]:40000 > [2001:db8:100::1]:53",
	} {
		d, err := packet.ParseShort(short)
		if err != nil {
			f.Fatal(err)
		}
		b, err := d.Build(0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte{byte(len(b)), 0}, b...))
		if len(b) > 8 {
			f.Add(append([]byte{byte(len(b) - 3), 1}, b[:len(b)-3]...))
		}
	}
	lr := load.Bytes("fuzz4.rules", []byte(fuzzRules4), load.Options{Family: ext.IPv4})
	if lr.Diags.HasErrors() {
		f.Fatalf("IPv4 rules: %v", lr.Diags)
	}
	lr6 := load.Bytes("fuzz6.rules", []byte(fuzzRules6), load.Options{Family: ext.IPv6})
	if lr6.Diags.HasErrors() {
		f.Fatalf("IPv6 rules: %v", lr6.Diags)
	}
	rs6, _ := lr6.Pick(true)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, legacy := range []bool{false, true} {
			e, err := engine.New(lr.Rules, nil, engine.Config{Legacy: legacy, Rules6: rs6, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			s := engine.NewState()
			now := int64(1e18)
			rest := append([]byte(nil), data...) // Process may rewrite it
			for len(rest) >= 2 {
				n, flags := int(rest[0]), rest[1]
				rest = rest[2:]
				if n > len(rest) {
					n = len(rest)
				}
				in := engine.Input{Data: rest[:n], Now: now, Local: flags&1 != 0, Mark: uint32(flags >> 4)}
				if !in.Local {
					in.In = [...]string{"eth0", "wlan0", "lo", "eth0"}[flags>>1&3]
				}
				rest = rest[n:]
				e.Process(s, &in)
				now += int64(flags>>3&3) * 1e9
			}
		}
	})
}
