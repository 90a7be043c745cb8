package ipset

import (
	"bytes"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// filled creates a set of the type with n elements: hash:ip addresses
// counting up from 10.0.0.0; hash:net networks of 13 prefix lengths
// (/16 to /28), so that a lookup walks 13 lengths.
func filled(tb testing.TB, typ string, n int) *Set { return filledLens(tb, typ, n, 13) }

// filledLens is filled with the hash:net networks spread over lens
// prefix lengths, from /16 (lens 1: all /28).
func filledLens(tb testing.TB, typ string, n, lens int) *Set {
	r := NewRegistry()
	if err := r.Create("s", typ, []string{"maxelem", fmt.Sprint(n + 1)}, false); err != nil {
		tb.Fatal(err)
	}
	s := r.Get("s")
	x := &elemExt{}
	for i := 0; i < n; i++ {
		k := Key{}
		setV4(&k.A1, 0x0a000000+uint32(i)<<4)
		k.C1 = 32
		if typ == "hash:net" {
			k.C1 = uint8(28 - i%lens)
			k.A1 = andMask(k.A1, masks[k.C1])
		}
		if err := s.d.addKey(k, x, 0, true); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// BenchmarkLookup measures one lookup of an address in sets of 10 to
// 1,000,000 elements: hash:ip, and hash:net with 1, 2 and 13 distinct
// prefix lengths (a lookup tries each, longest first, as the kernel
// does). Besides the wall time it reports the CPU time per lookup
// (cpu-ns/op), which a machine shared with other jobs inflates less.
func BenchmarkLookup(b *testing.B) {
	for _, c := range []struct {
		typ  string
		lens int
	}{{"hash:ip", 1}, {"hash:net", 1}, {"hash:net", 2}, {"hash:net", 13}} {
		for _, n := range []int{10, 10000, 1000000} {
			s := filledLens(b, c.typ, n, c.lens)
			hit := KeyFromAddr(netip.MustParseAddr("10.0.0.16"))
			miss := KeyFromAddr(netip.MustParseAddr("192.0.2.1"))
			name := c.typ
			if c.typ == "hash:net" {
				name = fmt.Sprintf("hash:net-%dlens", c.lens)
			}
			for _, tc := range []struct {
				what string
				k    Key
				want int
			}{{"hit", hit, Matched}, {"miss", miss, NoMatch}} {
				b.Run(fmt.Sprintf("%s/%d/%s", name, n, tc.what), func(b *testing.B) {
					b.ReportAllocs()
					cpu0 := cpuNanos()
					for i := 0; i < b.N; i++ {
						if s.Lookup(tc.k, 0, nil, 60).Result != tc.want {
							b.Fatal("wrong result")
						}
					}
					b.ReportMetric(float64(cpuNanos()-cpu0)/float64(b.N), "cpu-ns/op")
				})
			}
		}
	}
}

// cpuNanos is the CPU time this process has used.
func cpuNanos() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func TestLookupAllocs(t *testing.T) {
	s := filled(t, "hash:net", 1000)
	k := KeyFromAddr(netip.MustParseAddr("10.0.0.16"))
	if n := testing.AllocsPerRun(100, func() { s.Lookup(k, 0, nil, 60) }); n != 0 {
		t.Fatalf("%v allocations per lookup", n)
	}
}

// BenchmarkRestore1M restores a 1,000,000-entry hash:net file (a
// blocklist of /24s and /32s) and reports the heap per entry.
func BenchmarkRestore1M(b *testing.B) {
	var in strings.Builder
	in.WriteString("create bl hash:net family inet hashsize 1048576 maxelem 2000000\n")
	for i := 0; i < 1000000; i++ {
		if i%2 == 0 {
			fmt.Fprintf(&in, "add bl %d.%d.%d.0/24\n", 1+i>>16&0x7f, i>>8&0xff, i&0xff)
		} else {
			fmt.Fprintf(&in, "add bl %d.%d.%d.%d\n", 128+i>>16&0x7f, i>>8&0xff, i&0xff, 1+i%200)
		}
	}
	text := in.String()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c := &Cmd{R: NewRegistry(), Now: func() int64 { return 0 }, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
		start := time.Now()
		var ru0, ru1 syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
		if err := c.Restore(strings.NewReader(text), false); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
		cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
		b.ReportMetric(cpu.Seconds(), "cpu-s/restore")
		runtime.GC()
		runtime.ReadMemStats(&after)
		if got := c.R.Get("bl").d.t.live; got != 1000000 {
			b.Fatalf("%d entries", got)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1e6, "heapB/entry")
		b.ReportMetric(el.Seconds(), "s/restore")
		runtime.KeepAlive(c)
	}
}
