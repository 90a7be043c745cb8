package packet

import "testing"

func TestDecTTLKeepsChecksum(t *testing.T) {
	for _, ttl := range []uint8{1, 2, 64, 255} {
		d, err := ParseShort("eth0 udp 203.0.113.7:1000 > 192.0.2.10:53")
		if err != nil {
			t.Fatal(err)
		}
		d.TTL = &ttl
		b, err := d.Build(0)
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		if err := p.Decode(b); err != nil {
			t.Fatal(err)
		}
		p.DecTTL()
		if p.TTL != ttl-1 || p.Data[8] != ttl-1 {
			t.Errorf("ttl %d: now %d", ttl, p.TTL)
		}
		if !p.IPChecksumOK() {
			t.Errorf("ttl %d: header checksum wrong after DecTTL", ttl)
		}
	}
}
