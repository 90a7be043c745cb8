package replay

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/ipsift/ipsift/capture"
)

// TestVerifiedChecksumsChangeNothing: handing the engine the transport
// checksums replay verified (engine.Input.ChecksumOK, so that
// conntrack and the host's stack do not sum them again) changes no
// outcome. The traffic has TCP, UDP (with a zero checksum, and with
// bytes beyond its length field), ICMP and IPv6, some of it with
// broken checksums, replayed with and without --verify-checksums.
func TestVerifiedChecksumsChangeNothing(t *testing.T) {
	file := checksumCapture(t, false)
	defer func() { passVerified = true }()
	for _, verify := range []bool{false, true} {
		var reports [2][]byte
		for i, pass := range []bool{true, false} {
			passVerified = pass
			rep, _ := runReplay(t, gateway(t), file, Options{VerifyChecksums: verify})
			reports[i], _ = json.Marshal(rep)
		}
		if !bytes.Equal(reports[0], reports[1]) {
			t.Errorf("verify %v: with verified checksums handed on\n%s\nwithout\n%s", verify, reports[0], reports[1])
		}
	}
}

// checksumCapture is TCP, UDP (with a zero checksum, and with bytes
// beyond its length field), ICMP and IPv6, some of it with broken
// checksums; with cut, every third packet is cut short as a snaplen
// would (after its headers).
func checksumCapture(t *testing.T, cut bool) []byte {
	lines := append(append([]string{}, traffic...),
		"wlan0 udp 192.0.2.12:5000 > 203.0.113.53:53 len=40",
		"wlan0 tcp 192.0.2.13:40001 > 198.51.100.1:22 S seq=5",
		"wlan0 udp 192.0.2.13:40002 > 198.51.100.1:9999 len=20",
		"wlan0 tcp [2001:db8:2::10]:40000 > [2001:db8:100::5]:80 S seq=1000",
		"wlan0 udp [2001:db8:2::10]:5000 > [2001:db8:100::53]:53 len=30",
		"wlan0 icmp 192.0.2.14 > 198.51.100.1 type=8",
	)
	pkts := build(t, lines)
	var buf bytes.Buffer
	w, _ := capture.NewNGWriter(&buf)
	eth0, _ := w.AddInterface("eth0", capture.LinkRaw, 65535)
	wlan0, _ := w.AddInterface("wlan0", capture.LinkRaw, 65535)
	for i, p := range pkts {
		ifc := eth0
		if p.in == "wlan0" {
			ifc = wlan0
		}
		data := append([]byte(nil), p.data...)
		switch i % 4 {
		case 1: // a broken transport checksum (the last byte: payload or header)
			data[len(data)-1] ^= 0x5a
		case 2:
			if data[0]>>4 == 4 && data[9] == 17 && len(data) > 28 {
				data[26], data[27] = 0, 0 // UDP without a checksum
			}
		case 3:
			if data[0]>>4 == 4 && data[9] == 17 && len(data) > 28 {
				// bytes beyond the UDP length field
				data[25] -= 4
			}
		}
		orig := 0
		if cut && i%3 == 0 && len(data) > 64 {
			orig, data = len(data), data[:64]
		}
		w.WritePacket(ifc, p.t, data, orig, capture.DirIn, "")
	}
	w.Flush()
	return buf.Bytes()
}
