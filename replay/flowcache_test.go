package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/capture"
	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/internal/capgen"
	"github.com/ipsift/ipsift/rules"
)

// flowCacheRun is what one replay left: its report and flows as JSON,
// the annotated capture (what became of each packet), the engine's
// counters and conntrack table, and how many packets ran cached.
type flowCacheRun struct {
	report, flows, annotated []byte
	counters                 []engine.Counter
	ct                       []string
}

func replayForDiff(t testing.TB, rs *rules.Ruleset, file []byte, o Options) flowCacheRun {
	t.Helper()
	var ann bytes.Buffer
	aw, err := capture.NewNGWriter(&ann)
	if err != nil {
		t.Fatal(err)
	}
	o.Write, o.Flows = aw, true
	rep, e := runReplayOnce(t, rs, file, o)
	var run flowCacheRun
	if run.report, err = json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
	if run.flows, err = json.Marshal(rep.Flows); err != nil {
		t.Fatal(err)
	}
	run.annotated = ann.Bytes()
	run.counters = e.Program().Counters()
	now := rep.LastTime
	e.CT.Each(func(c *conntrack.Entry) {
		p0, b0 := c.Counters(0)
		p1, b1 := c.Counters(1)
		st, fl, sc, _ := c.TCPInfo()
		run.ct = append(run.ct, fmt.Sprintf("%s status=%#x mark=%d expires=%d tcp=%v/%v/%v acct=%d/%d,%d/%d",
			c.String(), c.Status(), c.Mark(), c.Expires(now), st, fl, sc, p0, b0, p1, b1))
	})
	slices.Sort(run.ct)
	return run
}

// sameWithoutFlowCache replays file with the engine's flow cache on and
// off and fails at any difference.
func sameWithoutFlowCache(t testing.TB, rs *rules.Ruleset, file []byte, o Options) {
	t.Helper()
	o.NoFlowCache = false
	on := replayForDiff(t, rs, file, o)
	o.NoFlowCache = true
	off := replayForDiff(t, rs, file, o)
	switch {
	case !bytes.Equal(on.report, off.report):
		t.Fatalf("flow cache: the reports differ:\n%s\nwithout:\n%s", on.report, off.report)
	case !bytes.Equal(on.flows, off.flows):
		t.Fatalf("flow cache: the flows differ:\n%s\nwithout:\n%s", on.flows, off.flows)
	case !bytes.Equal(on.annotated, off.annotated):
		t.Fatal("flow cache: the annotated captures differ")
	case !slices.Equal(on.counters, off.counters):
		t.Fatalf("flow cache: the counters differ:\n%v\nwithout:\n%v", on.counters, off.counters)
	case !slices.Equal(on.ct, off.ct):
		t.Fatalf("flow cache: the conntrack tables differ:\n%s\nwithout:\n%s", strings.Join(on.ct, "\n"), strings.Join(off.ct, "\n"))
	}
}

// TestFlowCacheWorkloads: the benchmarks' three workloads (smaller),
// through gateway.rules and the 10,000-rule set, replay the same with
// the flow cache on and off; and the cache serves most established
// packets.
func TestFlowCacheWorkloads(t *testing.T) {
	sets := []struct {
		name string
		rs   *rules.Ruleset
	}{{"gateway", gateway(t)}}
	if !testing.Short() {
		sets = append(sets, struct {
			name string
			rs   *rules.Ruleset
		}{"10k", rules10k(t)})
	}
	for _, set := range sets {
		for _, c := range []capgen.Config{
			{Workload: capgen.Established, Packets: 20000, Flows: 1000, Seed: 1},
			{Workload: capgen.Mix, Packets: 20000, Flows: 2000, Seed: 2},
			{Workload: capgen.Flood, Packets: 3000, Seed: 3},
		} {
			t.Run(fmt.Sprintf("%s/%v", set.name, c.Workload), func(t *testing.T) {
				var buf bytes.Buffer
				if err := capgen.Write(&buf, c); err != nil {
					t.Fatal(err)
				}
				sameWithoutFlowCache(t, set.rs, buf.Bytes(), Options{})
				if c.Workload != capgen.Established {
					return
				}
				e := newEngine(t, set.rs)
				r := New(e, Options{})
				rd, _ := capture.NewReader(bytes.NewReader(buf.Bytes()))
				if err := r.Run(rd); err != nil {
					t.Fatal(err)
				}
				n := int(r.s.FlowCachedPackets())
				if n < c.Packets/2 {
					t.Errorf("%d of %d packets ran cached, want half at least", n, c.Packets)
				}
			})
		}
	}
}
