package ext

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// Concurrent packets share a rule's state the way the kernel's CPUs do:
// a bucket of burst N gives exactly N matches however many goroutines
// ask at the same instant.
func TestStatefulConcurrent(t *testing.T) {
	cc := NewCompiler(nil)
	_, lim := sfMatch(t, "-m limit --limit 1/min --limit-burst 100", IPv4, "filter", "INPUT", cc)
	_, hl := sfMatch(t, "-m hashlimit --hashlimit-upto 1/min --hashlimit-burst 100 --hashlimit-mode srcip --hashlimit-name conc", IPv4, "filter", "INPUT", cc)
	_, nth := sfMatch(t, "-m statistic --mode nth --every 10 --packet 0", IPv4, "filter", "INPUT", cc)
	_, set := sfMatch(t, "-m recent --set --name conc", IPv4, "filter", "INPUT", cc)
	_, q := sfMatch(t, "-m quota --quota 4000", IPv4, "filter", "INPUT", cc)
	var nl, nh, nn, nq atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			p := sfPkt("192.0.2."+strconv.Itoa(g+1), "198.51.100.1", 6, 1, 2, 40)
			p0 := sfPkt("192.0.2.200", "198.51.100.1", 6, 1, 2, 40)
			for i := 0; i < 500; i++ {
				c := sfCtx(p, LocalIn, 0)
				if lim.Match(c) {
					nl.Add(1)
				}
				if hl.Match(sfCtx(p0, LocalIn, 0)) {
					nh.Add(1)
				}
				if nth.Match(c) {
					nn.Add(1)
				}
				if q.Match(c) {
					nq.Add(1)
				}
				set.Match(c)
			}
		}(g)
	}
	wg.Wait()
	if nl.Load() != 100 || nh.Load() != 100 || nn.Load() != 400 || nq.Load() != 100 {
		t.Errorf("limit %d hashlimit %d nth %d quota %d, want 100 100 400 100", nl.Load(), nh.Load(), nn.Load(), nq.Load())
	}
}

func BenchmarkConntrackMatch(b *testing.B) {
	insts, _, _, _ := sfBuild("-m conntrack --ctstate RELATED,ESTABLISHED --ctorigsrc 192.0.2.0/24", IPv4, "filter", "INPUT")
	mt, _ := insts[0].m.Compile(NewCompiler(nil))
	c := sfCtx(sfPkt("192.0.2.1", "198.51.100.1", 6, 1, 2, 40), LocalIn, 0)
	c.CT, c.Conn = CTEstablished, newConn("192.0.2.1", "198.51.100.1", 1, 2)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		mt.Match(c)
	}
}

func BenchmarkLimitMatch(b *testing.B) {
	insts, _, _, _ := sfBuild("-m limit --limit 1000/sec", IPv4, "filter", "INPUT")
	mt, _ := insts[0].m.Compile(NewCompiler(nil))
	c := sfCtx(sfPkt("192.0.2.1", "198.51.100.1", 6, 1, 2, 40), LocalIn, 0)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.Now = int64(i) * 1000
		mt.Match(c)
	}
}

func BenchmarkHashlimitMatch(b *testing.B) {
	insts, _, _, _ := sfBuild("-m hashlimit --hashlimit-upto 100/sec --hashlimit-mode srcip,dstport --hashlimit-name bench", IPv4, "filter", "INPUT")
	mt, _ := insts[0].m.Compile(NewCompiler(nil))
	var ctxs [64]*Ctx
	for i := range ctxs {
		ctxs[i] = sfCtx(sfPkt("192.0.2."+strconv.Itoa(i+1), "198.51.100.1", 6, 1000, 443, 40), LocalIn, 0)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c := ctxs[i&63]
		c.Now = int64(i) * 1000
		mt.Match(c)
	}
}

func BenchmarkRecentUpdate(b *testing.B) {
	cc := NewCompiler(nil)
	insts, _, _, _ := sfBuild("-m recent --update --seconds 60 --hitcount 10 --name bench", IPv4, "filter", "INPUT")
	mt, _ := insts[0].m.Compile(cc)
	sm, _ := func() (Matcher, error) {
		in, _, _, _ := sfBuild("-m recent --set --name bench", IPv4, "filter", "INPUT")
		return in[0].m.Compile(cc)
	}()
	c := sfCtx(sfPkt("192.0.2.1", "198.51.100.1", 6, 1, 2, 40), LocalIn, 0)
	sm.Match(c)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.Now = int64(i) * 1000
		mt.Match(c)
	}
}
