package capture

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzReader reads arbitrary bytes as a capture and decodes every
// record's link layer: it must return errors, never panic, and never
// hand out a record longer than MaxPacket.
func FuzzReader(f *testing.F) {
	le, be := binary.LittleEndian, binary.BigEndian
	f.Add(pcapFile(le, 0xa1b2c3d4, 1, eth(100), eth()))
	f.Add(pcapFile(be, 0xa1b23c4d, 113, append([]byte{0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 2, 1, 0, 0, 0x08, 0x00}, ipv4...)))
	f.Add(pcapFile(le, 0xa1b2c3d4, 239, nflogRecord(le, 0, 2, "x")))
	var ng []byte
	ng = append(ng, shb(le)...)
	ng = append(ng, idb(le, LinkSLL2, "any", ngOpt(le, 9, []byte{0x8a}), ngOpt(le, 14, le.AppendUint64(nil, 7)))...)
	ng = append(ng, epb(le, 0, 99, sll2(2, 0), 1)...)
	ng = append(ng, shb(be)...)
	ng = append(ng, idb(be, LinkNFLOG, "nflog:1")...)
	ng = append(ng, epb(be, 0, 1, nflogRecord(be, 3, 0, "out"), 2)...)
	f.Add(ng)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		keep := len(data)%2 == 0 // half the inputs read with Keep, each record given back after the next
		if keep {
			r.Keep()
		}
		var rec Record
		var fr Frame
		var last *Buffer
		for range 1000 {
			if r.Next(&rec) != nil {
				return
			}
			if keep {
				if rec.Buf == nil {
					t.Fatal("no buffer after Keep")
				}
				if last != nil {
					r.Release(last)
				}
				last = rec.Buf
			}
			if len(rec.Data) > MaxPacket || rec.OrigLen < len(rec.Data) || rec.Iface >= len(r.Interfaces()) {
				t.Fatalf("record %d bytes, orig %d, iface %d", len(rec.Data), rec.OrigLen, rec.Iface)
			}
			if fr.Decode(rec.Link, rec.Data, rec.BigEndian) == nil && fr.IP != nil && len(fr.IP) > len(rec.Data) {
				t.Fatal("IP payload beyond the record")
			}
		}
	})
}
