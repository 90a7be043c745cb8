package capgen

import (
	"bytes"
	"testing"

	"github.com/ipsift/ipsift/capture"
)

func count(t *testing.T, b []byte) (packets, syns int) {
	t.Helper()
	rd, err := capture.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var rec capture.Record
	for rd.Next(&rec) == nil {
		packets++
		if len(rec.Data) >= 40 && rec.Data[33]&0x02 != 0 && rec.Data[33]&0x10 == 0 {
			syns++
		}
	}
	return
}

// TestWriteWarm: the warm-up capture holds the opening handshakes of
// every flow, the main one exactly Packets packets, and together they
// are the packets Write writes (the same seed, the same traffic).
func TestWriteWarm(t *testing.T) {
	for _, w := range []Workload{Established, Mix, Flood} {
		c := Config{Workload: w, Packets: 3000, Flows: 500, Seed: 9}
		var warm, main, whole bytes.Buffer
		if err := WriteWarm(&warm, &main, c); err != nil {
			t.Fatal(err)
		}
		wp, wsyn := count(t, warm.Bytes())
		mp, _ := count(t, main.Bytes())
		if mp != c.Packets {
			t.Errorf("%s: %d packets after the warm-up, want %d", w, mp, c.Packets)
		}
		if w == Flood {
			if wp != 0 {
				t.Errorf("flood: %d warm-up packets", wp)
			}
			continue
		}
		if wp != 3*c.Flows || wsyn != c.Flows {
			t.Errorf("%s: warm-up of %d packets, %d SYNs; want %d and %d", w, wp, wsyn, 3*c.Flows, c.Flows)
		}
		c.Packets += wp
		if err := Write(&whole, c); err != nil {
			t.Fatal(err)
		}
		if n, _ := count(t, whole.Bytes()); n != wp+mp {
			t.Errorf("%s: Write wrote %d packets, WriteWarm %d", w, n, wp+mp)
		}
	}
}
