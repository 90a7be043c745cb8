package replay

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/ipsift/ipsift/capture"
	"github.com/ipsift/ipsift/internal/capgen"
)

// reportText is everything a report says, flows and samples included,
// as text to compare.
func reportText(t *testing.T, rep *Report) string {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Flows {
		fb, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		b = append(append(b, '\n'), fb...)
	}
	return string(b)
}

func replayFile(t *testing.T, file []byte, o Options) (string, uint64, error) {
	t.Helper()
	e := newEngine(t, gateway(t))
	rd, err := capture.NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	var progress uint64
	o.Progress = func(packets int, off int64) { progress += uint64(packets) ^ uint64(off) }
	r := New(e, o)
	err = r.Run(rd)
	return reportText(t, r.Report()), progress, err
}

// TestReadAheadSameReport: reading in a goroutine of its own (with the
// window and the checksums summed there) changes nothing in the report
// (verdicts, counters, flows, samples, progress calls, bad checksums),
// whole captures and captures cut short alike, packets cut by the
// snaplen and broken checksums with and without --verify-checksums.
func TestReadAheadSameReport(t *testing.T) {
	var mix bytes.Buffer
	if err := capgen.Write(&mix, capgen.Config{Workload: capgen.Mix, Packets: 70000, Flows: 2000, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"mix":         mix.Bytes(),
		"established": established(t, 50, 3000),
		"cut":         mix.Bytes()[:mix.Len()*2/3-5], // a record cut in the middle: an error after the records before it
	}
	for _, cut := range []bool{false, true} {
		file := checksumCapture(t, cut)
		for _, verify := range []bool{false, true} {
			want, _, _ := replayFile(t, file, Options{VerifyChecksums: verify, Flows: true})
			got, _, _ := replayFile(t, file, Options{VerifyChecksums: verify, Flows: true, ReadAhead: true})
			if got != want {
				t.Errorf("checksums (cut %v, verify %v): the report differs when reading ahead:\n%s\n%s", cut, verify, want, got)
			}
		}
	}
	for name, file := range files {
		o := Options{Why: 3, Flows: true, RuleSamples: 2, Interval: 1e9}
		want, wprog, werr := replayFile(t, file, o)
		o.ReadAhead = true
		got, gprog, gerr := replayFile(t, file, o)
		if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
			t.Errorf("%s: error %v, read ahead %v", name, werr, gerr)
		}
		if name == "cut" && werr == nil {
			t.Errorf("cut: no error")
		}
		if got != want {
			t.Errorf("%s: the report differs when reading ahead", name)
		}
		if wprog != gprog || wprog == 0 && name == "mix" {
			t.Errorf("%s: progress %#x, read ahead %#x", name, wprog, gprog)
		}
	}
}

// TestReadAheadAllocations: reading ahead allocates its records and
// their buffers once (the window and the batches in flight, about a
// thousand records), then nothing per packet: twice the packets cost
// no more allocations.
func TestReadAheadAllocations(t *testing.T) {
	allocs := func(n int) uint64 {
		a, rep := replayAllocs(t, n, Options{ReadAhead: true})
		if rep.Replayed.Packets != uint64(n) {
			t.Fatalf("%d packets replayed, want %d", rep.Replayed.Packets, n)
		}
		return a
	}
	a1, a2 := allocs(40000), allocs(80000)
	t.Logf("%d allocations for 40,000 packets, %d for 80,000", a1, a2)
	if a2 > a1+200 {
		t.Errorf("40,000 more packets cost %d more allocations", a2-a1)
	}
}
