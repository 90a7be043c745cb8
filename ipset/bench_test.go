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
func filled(tb testing.TB, typ string, n int) *Set {
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
			k.C1 = uint8(16 + i%13)
			k.A1 = andMask(k.A1, masks[k.C1])
		}
		if err := s.d.addKey(k, x, 0, true); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

func BenchmarkLookup(b *testing.B) {
	for _, typ := range []string{"hash:ip", "hash:net"} {
		for _, n := range []int{10, 10000, 1000000} {
			s := filled(b, typ, n)
			hit := KeyFromAddr(netip.MustParseAddr("10.0.0.16"))
			miss := KeyFromAddr(netip.MustParseAddr("192.0.2.1"))
			b.Run(fmt.Sprintf("%s/%d/hit", typ, n), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if s.Lookup(hit, 0, nil, 60).Result != Matched {
						b.Fatal("no match")
					}
				}
			})
			b.Run(fmt.Sprintf("%s/%d/miss", typ, n), func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if s.Lookup(miss, 0, nil, 60).Result != NoMatch {
						b.Fatal("match")
					}
				}
			})
		}
	}
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
		if got := len(c.R.Get("bl").d.m); got != 1000000 {
			b.Fatalf("%d entries", got)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1e6, "heapB/entry")
		b.ReportMetric(el.Seconds(), "s/restore")
		runtime.KeepAlive(c)
	}
}
