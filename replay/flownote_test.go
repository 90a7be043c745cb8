package replay

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/ipsift/ipsift/capture"
)

// TestSecondReplayOwnFlows: flows are kept on the conntrack entries
// (Entry.SetNote); a second replay on the same engine, whose table
// still holds the first one's connections, counts its own packets in
// flows of its own.
func TestSecondReplayOwnFlows(t *testing.T) {
	pkts := build(t, traffic)
	var buf bytes.Buffer
	w, _ := capture.NewNGWriter(&buf)
	eth0, _ := w.AddInterface("eth0", capture.LinkRaw, 65535)
	wlan0, _ := w.AddInterface("wlan0", capture.LinkRaw, 65535)
	for _, p := range pkts {
		ifc := eth0
		if p.in == "wlan0" {
			ifc = wlan0
		}
		w.WritePacket(ifc, p.t, p.data, 0, capture.DirIn, "")
	}
	w.Flush()
	e := newEngine(t, gateway(t))
	var reps [2]*Report
	for i := range reps {
		rd, err := capture.NewReader(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		r := New(e, Options{Flows: true})
		if err := r.Run(rd); err != nil {
			t.Fatal(err)
		}
		reps[i] = r.Report()
	}
	for i, rep := range reps {
		var n uint64
		for _, f := range rep.Flows {
			n += f.Packets[0] + f.Packets[1]
		}
		var tracked uint64
		for _, c := range rep.Verdicts {
			tracked += c.Packets
		}
		if n == 0 || n > tracked {
			t.Errorf("replay %d: its flows count %d packets, it ran %d", i+1, n, tracked)
		}
	}
	if len(reps[1].Flows) == 0 || reps[1].Flows[0] == reps[0].Flows[0] {
		t.Errorf("the second replay shares the first one's flows")
	}
}

// TestFlowLayout: a Flow takes whole cache lines, so that the fields
// every packet updates, which come first, share one.
func TestFlowLayout(t *testing.T) {
	if s := unsafe.Sizeof(Flow{}); s%64 != 0 {
		t.Errorf("Flow is %d bytes, not a multiple of 64", s)
	}
	if o := unsafe.Offsetof(Flow{}.PreCapture); o >= 64 {
		t.Errorf("PreCapture at byte %d, past the first cache line", o)
	}
}
