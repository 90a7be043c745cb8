package packet

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// raw6 makes an IPv6 packet from 2001:db8::1 to 2001:db8::2 whose IPv6
// header says next, followed by the given bytes (extension headers and
// whatever follows them), payload length covering them.
func raw6(next uint8, rest ...[]byte) []byte {
	pl := bytes.Join(rest, nil)
	b := make([]byte, 40, 40+len(pl))
	b[0] = 0x60
	b[4], b[5] = byte(len(pl)>>8), byte(len(pl))
	b[6], b[7] = next, 64
	copy(b[8:], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1})
	copy(b[24:], []byte{0x20, 0x01, 0x0d, 0xb8, 15: 2})
	return append(b, pl...)
}

// opt8 is an 8-byte Hop-by-Hop or Destination Options header (PadN).
func opt8(next uint8) []byte { return []byte{next, 0, 1, 4, 0, 0, 0, 0} }

// frag is a Fragment header.
func frag(next uint8, off uint16, mf bool) []byte {
	fo := off << 3
	if mf {
		fo |= 1
	}
	return []byte{next, 0, byte(fo >> 8), byte(fo), 0, 0, 0, 7}
}

// ah is a 24-byte AH header.
func ah(next uint8) []byte { return append([]byte{next, 4, 0, 0, 0, 0, 0, 5}, make([]byte, 16)...) }

// rt0 is a type 0 routing header with n addresses.
func rt0(next uint8, segleft uint8, n int) []byte {
	return append([]byte{next, uint8(2 * n), 0, segleft, 0, 0, 0, 0}, make([]byte, 16*n)...)
}

var tcp20 = []byte{0x9c, 0x40, 0, 22, 0, 0, 3, 0xe8, 0, 0, 0, 0, 0x50, 2, 0x20, 0, 0, 0, 0, 0}

func repeatOpt(n int, last uint8) [][]byte {
	var hs [][]byte
	for i := 0; i < n; i++ {
		next := uint8(ProtoDstOpts)
		if i == n-1 {
			next = last
		}
		hs = append(hs, opt8(next))
	}
	return hs
}

// The two walkers and nftables' variant, on the chains the issue's
// kernel facts name, at their edges.
func TestWalkers(t *testing.T) {
	w := func(proto uint8, off int, fragOff uint16, frag bool) Walk {
		return Walk{Proto: proto, Off: off, FragOff: fragOff, Frag: frag}
	}
	bad := func(frag bool) Walk { return Walk{Err: ExtBad, Frag: frag} }
	notFound := func(frag bool) Walk { return Walk{Err: ExtNotFound, Frag: frag} }
	tests := []struct {
		name           string
		pkt            []byte
		legacy, nft    Walk
		conntrack      Walk
		legacyHotdrops bool
	}{
		{"no extension header", raw6(ProtoTCP, tcp20),
			w(6, 40, 0, false), w(6, 40, 0, false), w(6, 40, 0, false), false},
		{"hbh, dst, tcp", raw6(ProtoHopOpts, opt8(ProtoDstOpts), opt8(ProtoTCP), tcp20),
			w(6, 56, 0, false), w(6, 56, 0, false), w(6, 56, 0, false), false},
		// Behind AH legacy -p tcp matches, nft sees 51.
		{"ah, tcp", raw6(ProtoAH, ah(ProtoTCP), tcp20),
			w(6, 64, 0, false), w(51, 40, 0, false), w(6, 64, 0, false), false},
		// No Next Header: 59 to find_hdr, a failure to skip_exthdr.
		{"no next header", raw6(ProtoNoNext),
			w(59, 40, 0, false), w(59, 40, 0, false), bad(false), false},
		{"dst, no next header", raw6(ProtoDstOpts, opt8(ProtoNoNext)),
			w(59, 48, 0, false), w(59, 48, 0, false), bad(false), false},
		// An atomic fragment is stepped over.
		{"atomic fragment", raw6(ProtoFragment, frag(ProtoTCP, 0, false), tcp20),
			w(6, 48, 0, true), w(6, 48, 0, true), w(6, 48, 0, true), false},
		{"first fragment", raw6(ProtoFragment, frag(ProtoTCP, 0, true), tcp20),
			w(6, 48, 0, true), w(6, 48, 0, true), w(6, 48, 0, true), false},
		// A later fragment: its Next Header, with the fragment offset;
		// skip_exthdr stops at the Fragment header itself.
		{"later fragment", raw6(ProtoFragment, frag(ProtoTCP, 3, true), make([]byte, 16)),
			w(6, 48, 3, true), w(6, 48, 3, true), w(44, 40, 3, true), false},
		{"later fragment, no next header", raw6(ProtoFragment, frag(ProtoNoNext, 3, false), make([]byte, 16)),
			w(59, 48, 3, true), w(59, 48, 3, true), w(44, 40, 3, true), false},
		// A later fragment whose Fragment header says 60: find_hdr fails
		// with fragoff 0, so legacy hotdrops any -p rule.
		{"later fragment, dst next", raw6(ProtoFragment, frag(ProtoDstOpts, 3, false), make([]byte, 16)),
			notFound(true), notFound(true), w(44, 40, 3, true), true},
		// A header reaching beyond the packet is stepped over: both
		// return an offset beyond the end (the kernel's -p tcp matches).
		{"dst longer than the packet", raw6(ProtoDstOpts, []byte{ProtoTCP, 3, 1, 4, 0, 0, 0, 0}, tcp20),
			w(6, 40+32, 0, false), w(6, 40+32, 0, false), w(6, 40+32, 0, false), false},
		// A header whose first two bytes are missing.
		{"truncated chain", raw6(ProtoHopOpts, opt8(ProtoDstOpts), []byte{ProtoTCP}),
			bad(false), bad(false), bad(false), true},
		{"chain ends after a header", raw6(ProtoHopOpts, opt8(ProtoDstOpts)),
			bad(false), bad(false), bad(false), true},
		{"fragment header of 3 bytes", raw6(ProtoFragment, []byte{ProtoTCP, 0, 0}),
			bad(true), bad(true), bad(true), true},
		// This kernel walks any number of headers (newer ones stop at
		// 12).
		{"13 headers", raw6(ProtoDstOpts, append(repeatOpt(13, ProtoUDP), make([]byte, 8))...),
			w(17, 40+104, 0, false), w(17, 40+104, 0, false), w(17, 40+104, 0, false), false},
		// ESP and Mobility are upper layers to both walkers.
		{"esp", raw6(ProtoESP, make([]byte, 16)),
			w(50, 40, 0, false), w(50, 40, 0, false), w(50, 40, 0, false), false},
		{"dst, mobility", raw6(ProtoDstOpts, opt8(ProtoMH), []byte{59, 0, 0, 0, 0, 0, 0, 0}),
			w(135, 48, 0, false), w(135, 48, 0, false), w(135, 48, 0, false), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			if err := p.Decode(tt.pkt); err != nil {
				t.Fatal(err)
			}
			if got := p.IP6tProto(); got != tt.legacy {
				t.Errorf("IP6tProto = %+v, want %+v", got, tt.legacy)
			}
			if got := p.NftProto(); got != tt.nft {
				t.Errorf("NftProto = %+v, want %+v", got, tt.nft)
			}
			got := p.ConntrackProto()
			// FragField is the Fragment header's whole offset field
			// (these packets have one right after the IPv6 header, if
			// any), flags included.
			wantField := uint16(0)
			if tt.pkt[6] == ProtoFragment && got.Err == ExtOK {
				wantField = binary.BigEndian.Uint16(tt.pkt[42:44])
			}
			if got.FragField != wantField {
				t.Errorf("ConntrackProto FragField = %#x, want %#x", got.FragField, wantField)
			}
			if got.FragField = 0; got != tt.conntrack {
				t.Errorf("ConntrackProto = %+v, want %+v", got, tt.conntrack)
			}
			// Decode's Proto, HdrLen and ExtErr are the legacy walk's.
			if (p.ExtErr != ExtOK) != tt.legacyHotdrops {
				t.Errorf("ExtErr %v, want a failure: %v", p.ExtErr, tt.legacyHotdrops)
			}
			if p.ExtErr == ExtOK && (p.Proto != tt.legacy.Proto || p.HdrLen != min(tt.legacy.Off, len(tt.pkt))) {
				t.Errorf("Decode: Proto %d HdrLen %d, want the legacy walk's", p.Proto, p.HdrLen)
			}
			if p.ExtErr != ExtOK && (p.Proto != 0 || p.HdrLen != 40 || p.L4Fixed) {
				t.Errorf("Decode after a failed walk: Proto %d HdrLen %d L4Fixed %v", p.Proto, p.HdrLen, p.L4Fixed)
			}
		})
	}
}

// FindHdr with a target, as the extension header matches use it.
func TestFindHdrTarget(t *testing.T) {
	chain := raw6(ProtoHopOpts, opt8(ProtoRouting), rt0(ProtoFragment, 0, 1), frag(ProtoDstOpts, 0, true), opt8(ProtoTCP), tcp20)
	for _, tt := range []struct {
		target int
		flags  FindFlags
		want   Walk
	}{
		{ProtoHopOpts, 0, Walk{Proto: 0, Off: 40}},
		{ProtoRouting, 0, Walk{Proto: 43, Off: 48}},
		{ProtoRouting, FindSkipRH, Walk{Err: ExtNotFound, Frag: true}}, // segments left 0
		{ProtoFragment, 0, Walk{Proto: 44, Off: 72, Frag: true}},
		{ProtoDstOpts, 0, Walk{Proto: 60, Off: 80, Frag: true}},
		{ProtoTCP, 0, Walk{Proto: 6, Off: 88, Frag: true}},
		{ProtoAH, 0, Walk{Err: ExtNotFound, Frag: true}},
		{ProtoUDP, 0, Walk{Err: ExtNotFound, Frag: true}},
	} {
		var p Packet
		if err := p.Decode(chain); err != nil {
			t.Fatal(err)
		}
		if got := p.FindHdr(tt.target, tt.flags); got != tt.want {
			t.Errorf("FindHdr(%d, %d) = %+v, want %+v", tt.target, tt.flags, got, tt.want)
		}
	}
	// A later fragment hides what follows, but its own Fragment header
	// is found, with its offset.
	later := raw6(ProtoHopOpts, opt8(ProtoFragment), frag(ProtoDstOpts, 2, false), opt8(ProtoTCP))
	var p Packet
	if err := p.Decode(later); err != nil {
		t.Fatal(err)
	}
	if got := p.FindHdr(ProtoFragment, 0); got != (Walk{Proto: 44, Off: 48, FragOff: 2, Frag: true}) {
		t.Errorf("Fragment of a later fragment: %+v", got)
	}
	if got := p.FindHdr(ProtoDstOpts, 0); got != (Walk{Err: ExtNotFound, Frag: true}) {
		t.Errorf("dst behind a later fragment: %+v", got)
	}
	if p.FragOff != 2 || p.MF || p.FragID != 7 {
		t.Errorf("Decode's fragment fields: off %d mf %v id %d", p.FragOff, p.MF, p.FragID)
	}
}

// FindExt answers as the ip6t matches do: not found, found, or hotdrop.
func TestFindExt(t *testing.T) {
	tests := []struct {
		name           string
		pkt            []byte
		target         uint8
		need           int
		found, hotdrop bool
	}{
		{"frag found", raw6(ProtoFragment, frag(ProtoTCP, 0, true), tcp20), ProtoFragment, ExtNeedFrag, true, false},
		{"no frag", raw6(ProtoTCP, tcp20), ProtoFragment, ExtNeedFrag, false, false},
		{"frag cut at 4 bytes", raw6(ProtoFragment, []byte{ProtoTCP, 0, 0, 0}), ProtoFragment, ExtNeedFrag, false, true},
		{"ah cut short", raw6(ProtoAH, []byte{ProtoTCP, 4, 0, 0, 0, 0, 0, 0}), ProtoAH, ExtNeedAH, false, true},
		{"hbh behind a broken dst", raw6(ProtoDstOpts, []byte{ProtoHopOpts, 9, 1, 4, 0, 0, 0, 0}), ProtoHopOpts, ExtNeedOpts, false, true},
		{"dst behind a later fragment", raw6(ProtoFragment, frag(ProtoDstOpts, 1, false), opt8(ProtoTCP)), ProtoDstOpts, ExtNeedOpts, false, false},
		{"rt found", raw6(ProtoRouting, rt0(ProtoTCP, 1, 1), tcp20), ProtoRouting, ExtNeedRt, true, false},
		// The length check after finding is the matches' own.
		{"hbh longer than the packet is found", raw6(ProtoHopOpts, []byte{ProtoTCP, 5, 1, 4, 0, 0, 0, 0}), ProtoHopOpts, ExtNeedOpts, true, false},
	}
	for _, tt := range tests {
		var p Packet
		if err := p.Decode(tt.pkt); err != nil {
			t.Fatal(err)
		}
		hdr, found, hotdrop := p.FindExt(tt.target, tt.need)
		if found != tt.found || hotdrop != tt.hotdrop {
			t.Errorf("%s: found %v hotdrop %v, want %v %v", tt.name, found, hotdrop, tt.found, tt.hotdrop)
		}
		if found && (len(hdr) < tt.need || &hdr[len(hdr)-1] != &p.Data[len(p.Data)-1]) {
			t.Errorf("%s: header slice does not run to the packet's end", tt.name)
		}
	}
}

func TestIPv6HeaderMask(t *testing.T) {
	tests := []struct {
		name string
		pkt  []byte
		mask uint8
		ok   bool
	}{
		{"tcp", raw6(ProtoTCP, tcp20), MaskProto, true},
		{"hbh dst tcp", raw6(ProtoHopOpts, opt8(ProtoDstOpts), opt8(ProtoTCP), tcp20), MaskHopOpts | MaskDstOpts | MaskProto, true},
		{"frag none", raw6(ProtoFragment, frag(ProtoNoNext, 0, false)), MaskFragment | MaskNone, true},
		{"ah esp", raw6(ProtoAH, ah(ProtoESP), make([]byte, 8)), MaskAH | MaskESP, true},
		{"rt, later fragment, dst", raw6(ProtoRouting, rt0(ProtoFragment, 0, 0), frag(ProtoDstOpts, 5, false), opt8(ProtoUDP), make([]byte, 8)),
			MaskRouting | MaskFragment | MaskDstOpts | MaskProto, true},
		// No room for the next header's two bytes: the match fails.
		{"chain ends at the packet's end", raw6(ProtoHopOpts, opt8(ProtoDstOpts)), 0, false},
		{"esp with nothing after", raw6(ProtoESP), 0, false},
		{"none with nothing after", raw6(ProtoNoNext), MaskNone, true},
		// A header beyond the end stops the walk with what was seen.
		{"dst beyond the end", raw6(ProtoDstOpts, []byte{ProtoTCP, 7, 1, 4, 0, 0, 0, 0}), MaskDstOpts | MaskProto, true},
		// No limit on the number of headers, unlike the kernel walkers.
		{"13 headers", raw6(ProtoDstOpts, append(repeatOpt(13, ProtoUDP), make([]byte, 8))...), MaskDstOpts | MaskProto, true},
	}
	for _, tt := range tests {
		var p Packet
		if err := p.Decode(tt.pkt); err != nil {
			t.Fatal(err)
		}
		mask, ok := p.IPv6HeaderMask()
		if mask != tt.mask || ok != tt.ok {
			t.Errorf("%s: mask %#x ok %v, want %#x %v", tt.name, mask, ok, tt.mask, tt.ok)
		}
	}
}

// The walkers look at what the kernel's skb holds: the packet trimmed to
// its payload length, not the bytes after it.
func TestDecode6Trims(t *testing.T) {
	pkt := append(raw6(ProtoUDP, []byte{0, 1, 0, 2, 0, 8, 0, 0}), 0xde, 0xad)
	var p Packet
	if err := p.Decode(pkt); err != nil {
		t.Fatal(err)
	}
	if p.TotalLen != 48 || len(p.Data) != 48 || len(p.L4) != 8 || p.SrcPort != 1 || p.DstPort != 2 {
		t.Errorf("trim: total %d data %d l4 %d ports %d %d", p.TotalLen, len(p.Data), len(p.L4), p.SrcPort, p.DstPort)
	}
	// A jumbogram (payload length 0, Hop-by-Hop next) is not trimmed.
	j := raw6(ProtoHopOpts, opt8(ProtoUDP), []byte{0, 1, 0, 2, 0, 8, 0, 0})
	j[4], j[5] = 0, 0
	if err := p.Decode(j); err != nil || p.TotalLen != len(j) || p.Proto != ProtoUDP {
		t.Errorf("jumbogram: %v total %d proto %d", err, p.TotalLen, p.Proto)
	}
	// Payload length 0 with another Next Header is a packet of 40 bytes.
	z := raw6(ProtoUDP, []byte{0, 1, 0, 2, 0, 8, 0, 0})
	z[4], z[5] = 0, 0
	if err := p.Decode(z); err != nil || p.TotalLen != 40 || p.L4Fixed {
		t.Errorf("payload length 0: %v total %d L4Fixed %v", err, p.TotalLen, p.L4Fixed)
	}
}
