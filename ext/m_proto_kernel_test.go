package ext

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/packet"
)

// TestProtoMatchesAgainstKernel loads rules using the protocol and header
// matches into the real kernel (legacy backend: the x_tables match code,
// whose hotdrops and header reads these matches copy), injects packets,
// well-formed and not, and compares each rule's packet counter with what
// ipsift's compiled matches decide for the same bytes. Every rule sits in
// raw PREROUTING without a target, so every packet meets every rule in
// order until one hotdrops it. It needs root and iptables-legacy and is
// skipped without them.
func TestProtoMatchesAgainstKernel(t *testing.T) {
	for _, b := range kernel.Backends {
		t.Run(string(b), func(t *testing.T) { protoMatchesAgainstKernel(t, b) })
	}
}

// protoMatchesAgainstKernel runs the comparison on one backend: with
// iptables-nft, -m tcp and -m udp are nf_tables expressions (ipsift's
// default semantics), and a compat match that sets hotdrop drops the
// packet before the rule's counter; with iptables-legacy (Compiler.Legacy)
// xt_tcpudp runs and ipt_do_table counts a rule whose match both matched
// and asked for the drop.
func protoMatchesAgainstKernel(t *testing.T, b kernel.Backend) {
	fw := kernel.NewFirewall(t, b)
	legacy := b == kernel.Legacy
	// Rules: -p as a number (0 for none), then the match words.
	rules := []struct {
		proto uint8
		words string
	}{
		{6, "-m tcp --dport 22"},
		{6, "-m tcp --tcp-flags SYN,ACK SYN"},
		{6, "-m tcp ! --tcp-option 8"},
		{6, "-m tcp --tcp-option 2"},
		{17, "-m udp --sport 53"},
		{1, "-m icmp --icmp-type 3/1:4"},
		{1, "-m icmp ! --icmp-type echo-request"},
		{6, "-m multiport --ports 22,80:90"},
		{132, "-m sctp --chunk-types any INIT,DATA:E"},
		{132, "-m sctp --chunk-types all DATA,SACK"},
		{132, "-m sctp ! --chunk-types only DATA"},
		{33, "-m dccp --dccp-types REQUEST,DATA"},
		{33, "-m dccp ! --dccp-option 32"},
		{50, "-m esp --espspi 256"},
		{51, "-m ah --ahspi 1:300"},
		{108, "-m ipcomp --ipcompspi 256"},
		{0, "-m length --length 60:100"},
		{0, "-m ttl --ttl-lt 64"},
		{0, "-m tos --tos 0x10/0x3f"},
		{0, "-m dscp --dscp 0x2e"},
		{0, "-m ecn --ecn-ip-ect 2"},
		{6, "-m ecn --ecn-tcp-ece ! --ecn-tcp-cwr"},
		{6, "-m tcpmss --mss 1000:1460"},
		{0, "-m iprange --src-range 198.51.100.5-198.51.100.9"},
		{0, "-m pkttype --pkt-type unicast"},
		{0, "-m mac --mac-source 02:00:00:00:01:01"},
		{0, "-m string --algo bm --string GET"},
		{0, "-m string --algo kmp --string host: --icase --from 40 --to 90"},
		{0, "-m string --algo bm ! --hex-string |c9|abc --icase"},
		{0, "-m u32 --u32 0>>22&0x3C@0&0xFFFF=22"},
		{0, `-m u32 ! --u32 0>>22&0x3C@12>>26&0x3C@0=0x47455420`},
		{0, "-m u32 --u32 0>>22&0x3C@0>>31=1"},
		{0, "-m string --algo kmp --hex-string |c9|ABC --icase"},
		{0, "-m comment --comment last"},
	}
	var restore strings.Builder
	restore.WriteString("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	var matchers []Matcher
	for _, r := range rules {
		p := ""
		if r.proto != 0 {
			p = fmt.Sprintf("-p %d ", r.proto)
		}
		fmt.Fprintf(&restore, "-A PREROUTING %s%s\n", p, r.words)
		_, loaded, err := protoRule(p+r.words, "raw", "PREROUTING")
		if err != nil {
			t.Fatalf("%s: %v", r.words, err)
		}
		comp := NewCompiler(nil)
		comp.Legacy = legacy
		m, err := loaded[len(loaded)-1].m.Compile(comp)
		if err != nil {
			t.Fatalf("%s: %v", r.words, err)
		}
		matchers = append(matchers, m)
	}
	restore.WriteString("COMMIT\n")
	if err := fw.Restore(restore.String()); err != nil {
		t.Fatal(err)
	}

	pkts := protoKernelPackets()
	want := make([]uint64, len(rules))
	peer := [6]byte{0x02, 0, 0, 0, 0x01, 0x01}
	for _, data := range pkts {
		var p packet.Packet
		if err := p.Decode(data); err != nil {
			t.Fatalf("test packet does not decode: %v", err)
		}
		c := &Ctx{Pkt: &p, Hook: PreRouting, In: &Iface{Name: "eth0"}, HasMAC: true, SrcMAC: peer, PktType: PktHost, UID: -1, GID: -1}
		for i, r := range rules {
			if r.proto != 0 && p.Proto != r.proto {
				continue
			}
			// The kernel's view: the match's result and its hotdrop.
			var match, drop bool
			if mh, ok := matchers[i].(MatchHotdropper); ok && legacy {
				match, drop = mh.MatchHotdrop(c)
			} else {
				match = matchers[i].Match(c)
				if h, ok := matchers[i].(Hotdropper); ok && !match {
					drop = h.Hotdrop(c)
				}
			}
			if match {
				want[i]++
			}
			if drop {
				break
			}
		}
		if err := fw.Inject("eth0", data); err != nil {
			t.Fatal(err)
		}
	}
	save, err := fw.SaveCounters()
	if err != nil {
		t.Fatal(err)
	}
	got := kernel.ParseSaveCounters(save)
	for i, r := range rules {
		k := kernel.RuleKey{Table: "raw", Chain: "PREROUTING", Rule: i + 1}
		if got[k].Packets != want[i] {
			t.Errorf("rule %d (%s): kernel counted %d packets, ipsift %d", i+1, r.words, got[k].Packets, want[i])
		}
	}
}

// protoKernelPackets are the packets of TestProtoMatchesAgainstKernel,
// from 198.51.100.x to the firewall's 198.51.100.1, each with a valid IP
// header (the kernel drops the others before netfilter).
func protoKernelPackets() [][]byte {
	var out [][]byte
	add := func(p *packet.Packet, src byte, edit func(b []byte)) {
		b := append([]byte(nil), p.Data...)
		b[15] = src
		b[16], b[17], b[18], b[19] = 198, 51, 100, 1
		if edit != nil {
			edit(b)
		}
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		SetIPv4HeaderChecksum(b)
		out = append(out, b)
	}
	tos := func(v byte) func([]byte) { return func(b []byte) { b[1] = v } }
	ttl := func(v byte) func([]byte) { return func(b []byte) { b[8] = v } }
	frag := func(off uint16) func([]byte) { return func(b []byte) { binary.BigEndian.PutUint16(b[6:], off) } }
	cut := func(p *packet.Packet, n int) *packet.Packet { return truncated(p, n) }
	mss := []byte{2, 4, 0x05, 0xb4, 1, 1, 4, 2}
	withOpts := func(sport, dport uint16, flags uint8, opts []byte, payload string) *packet.Packet {
		return ipPkt(packet.ProtoTCP, tcpSeg(sport, dport, flags, opts, payload))
	}
	// TCP, well formed.
	add(withOpts(40000, 22, packet.TCPSyn, mss, ""), 7, nil)
	add(withOpts(40000, 22, packet.TCPSyn|packet.TCPEce|packet.TCPCwr, mss, ""), 7, tos(0x12))
	add(withOpts(40000, 22, packet.TCPSyn|packet.TCPEce, []byte{2, 4, 0x03, 0xe8, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0}, ""), 7, tos(0xb8))
	add(withOpts(22, 85, packet.TCPAck|packet.TCPPsh, []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0}, "GET / HTTP/1.1\r\nHost: x\r\n"), 9, ttl(10))
	add(withOpts(1234, 80, packet.TCPAck|packet.TCPPsh, nil, "get /index HTTP/1.0\r\nHOST: y\r\n"), 20, nil)
	add(withOpts(1234, 443, packet.TCPSyn|packet.TCPAck, []byte{2, 4, 0x05, 0xb5}, ""), 20, tos(0x10))
	add(withOpts(1234, 80, packet.TCPAck, nil, "x\xe9abc"), 20, nil)
	// TCP, malformed: the header cut short, options cut short, a data
	// offset below 20, the evil fragment at offset 8, a later fragment.
	add(cut(withOpts(40000, 22, packet.TCPSyn, nil, ""), 12), 7, nil)
	add(cut(withOpts(40000, 22, packet.TCPSyn, mss, ""), 24), 7, nil)
	bad := withOpts(40000, 22, packet.TCPSyn, nil, "xxxx")
	bad.L4[12] = 4 << 4
	add(bad, 7, nil)
	add(withOpts(40000, 22, packet.TCPSyn, nil, "abcdefgh"), 7, frag(1))
	add(withOpts(40000, 80, packet.TCPSyn, nil, "abcdefgh"), 7, frag(0x2000|3))
	add(cut(withOpts(40000, 80, packet.TCPSyn, nil, ""), 3), 7, nil)
	// UDP and ICMP.
	add(udpPkt(53, 4000), 5, nil)
	add(cut(udpPkt(53, 4000), 6), 5, nil)
	add(udpPkt(53, 4000), 5, frag(2))
	add(icmpPkt(3, 3), 9, nil)
	add(icmpPkt(3, 5), 9, nil)
	add(icmpPkt(8, 0), 9, nil)
	add(cut(icmpPkt(3, 3), 7), 9, nil)
	add(icmpPkt(3, 3), 9, frag(5))
	// SCTP: INIT, DATA (E set)+SACK, DATA only, no chunk, a chunk of
	// length 0 after a DATA.
	sctp := func(chunks ...sctpChunk) *packet.Packet { return sctpPkt(5000, 22, chunks...) }
	add(sctp(sctpChunk{typ: 1, body: 16}), 30, nil)
	add(sctp(sctpChunk{typ: 0, flags: 0x01, body: 13}, sctpChunk{typ: 3, body: 12}), 30, nil)
	add(sctp(sctpChunk{typ: 0, flags: 0x02, body: 13}), 30, nil)
	add(sctp(), 30, nil)
	add(sctp(sctpChunk{typ: 0, flags: 0x02, body: 4}, sctpChunk{typ: 3, body: -4}), 30, nil)
	add(sctp(sctpChunk{typ: 0, flags: 0x01, body: 4}, sctpChunk{typ: 3, body: -4}), 30, nil)
	// DCCP: a REQUEST with option 32, an ACK, a bad data offset, a
	// header cut short.
	add(dccpPkt(1000, 5000, 0, []byte{32, 3, 1}), 31, nil)
	add(dccpPkt(1000, 5000, 3, nil), 31, nil)
	badDCCP := dccpPkt(1000, 5000, 3, []byte{1, 1, 1, 1})
	badDCCP.L4[4] = 4
	add(badDCCP, 31, nil)
	add(cut(dccpPkt(1000, 5000, 2, nil), 10), 31, nil)
	// ESP, AH, IPComp, whole and cut short.
	for _, sp := range []struct {
		proto uint8
		off   int
		n     int
	}{{50, 0, 8}, {51, 4, 12}, {108, 0, 4}} {
		add(ipsecPkt(sp.proto, sp.off, 256, sp.n+4).Pkt, 40, nil)
		add(ipsecPkt(sp.proto, sp.off, 300, sp.n).Pkt, 40, nil)
		add(ipsecPkt(sp.proto, sp.off, 256, sp.n-1).Pkt, 40, nil)
	}
	return out
}
