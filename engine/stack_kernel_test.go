package engine_test

import (
	"net/netip"
	"testing"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
)

// TestKernelProtoUnreachableIgnoresChecksum sends the host a datagram of
// a protocol it does not speak whose payload does not sum to zero: the
// kernel answers it with protocol unreachable all the same
// (ip_protocol_deliver_rcu looks at no checksum; only REJECT checks
// one), and so must ipsift's host stack.
func TestKernelProtoUnreachableIgnoresChecksum(t *testing.T) {
	const rs = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
	d := packet.Desc{In: "eth0", Src: netip.MustParseAddr("203.0.113.7"), Dst: netip.MustParseAddr("198.51.100.1"), Proto: 253, Len: 8}
	data, err := d.Build(0)
	if err != nil {
		t.Fatal(err)
	}
	copy(data[20:], []byte{1, 2, 3, 4, 5, 6, 7, 8})
	unreachables := func(out [][]byte) int {
		n := 0
		for _, b := range out {
			var p packet.Packet
			if p.Decode(b) == nil && p.Proto == packet.ProtoICMP && p.ICMPType == 3 && p.ICMPCode == 2 {
				n++
			}
		}
		return n
	}

	fw := kernel.NewFirewall(t, kernel.NFT)
	if err := fw.Restore(rs); err != nil {
		t.Fatal(err)
	}
	if err := fw.Inject("eth0", append([]byte(nil), data...)); err != nil {
		t.Fatal(err)
	}
	out, err := fw.Capture("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if n := unreachables(out); n != 1 {
		t.Fatalf("the kernel sent %d protocol unreachables, want 1 (the test's premise)", n)
	}

	lr := load.Bytes("t.rules", []byte(rs), load.Options{})
	e, err := engine.New(lr.Rules, nil, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := engine.NewState()
	e.Process(s, &engine.Input{Data: data, In: "eth0"})
	var ours [][]byte
	for _, o := range s.Result.Out {
		ours = append(ours, o.Data)
	}
	if n := unreachables(ours); n != 1 {
		t.Errorf("ipsift sent %d protocol unreachables, the kernel 1", n)
	}
}
