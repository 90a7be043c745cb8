package diff

import (
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/internal/benchsets"
)

// kubePair is two kube-proxy-shaped rulesets of 3333 services with two
// endpoints each (26,672 rules in 10,010 chains): NEW moves one
// endpoint and drops a service's rules.
func kubePair(services int) (string, string) {
	text, _ := benchsets.Kube(services, 2, rand.New(rand.NewPCG(1, 1)))
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "ns/svc77:") && strings.HasPrefix(l, "-A KUBE-SERVICES") {
			continue
		}
		if strings.HasPrefix(l, "-A KUBE-SEP-000005-1 ") && strings.Contains(l, "DNAT") {
			l = strings.Replace(l, "--to-destination 192.0.2.", "--to-destination 198.51.100.", 1)
		}
		out = append(out, l)
	}
	return text, strings.Join(out, "\n")
}

// TestKubeScale diffs the kube-proxy pair; with IPSIFT_KUBE_SCALE=1 at
// full size (see BENCHMARKS.md), else at a tenth (IPSIFT_KUBE_SCALE=N:
// N services). IPSIFT_KUBE_WRITE=DIR writes the pair there. Times are
// logged, never asserted.
func TestKubeScale(t *testing.T) {
	n := 333
	if testing.Short() {
		n = 100
	}
	if v := os.Getenv("IPSIFT_KUBE_SCALE"); v != "" {
		n = 3333
		if k, err := strconv.Atoi(v); err == nil && k > 1 {
			n = k
		}
	}
	old, new := kubePair(n)
	if dir := os.Getenv("IPSIFT_KUBE_WRITE"); dir != "" {
		// For measuring the command (BENCHMARKS.md).
		os.WriteFile(dir+"/kube-old.rules", []byte(old), 0o644)
		os.WriteFile(dir+"/kube-new.rules", []byte(new), 0o644)
	}
	a := parse(t, old)
	for _, c := range []struct {
		name string
		new  string
		eq   bool
	}{{"same", old, true}, {"changed", new, false}} {
		start := time.Now()
		res, err := Compare(a, parse(t, c.new), Options{})
		if err != nil {
			t.Fatal(err)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		t.Logf("%s: %d services, %v, %d nodes, heap %d MiB, equivalent %v, %d regions", c.name, n, time.Since(start), res.Nodes, ms.HeapSys>>20, res.Equivalent(), len(res.Regions))
		if res.GaveUp != nil || res.Equivalent() != c.eq || len(res.Unconfirmed) > 0 {
			t.Fatalf("%s: gave up %v, equivalent %v, unconfirmed %d", c.name, res.GaveUp, res.Equivalent(), len(res.Unconfirmed))
		}
		for _, g := range res.Regions {
			t.Logf("  OLD %v NEW %v may %v: %v; witness %s: %s / %s", g.Old, g.New, g.May, g.Classes, g.Witness.Text, g.Witness.Old, g.Witness.New)
		}
	}
}
