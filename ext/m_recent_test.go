package ext

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func TestRecentSavePrint(t *testing.T) {
	for _, tc := range []struct{ rule, save, print string }{
		{"-m recent --set", " --set --name DEFAULT --mask 255.255.255.255 --rsource", " recent: SET name: DEFAULT side: source mask: 255.255.255.255"},
		{"-m recent ! --rcheck --seconds 60 --reap --hitcount 4 --rttl --name ssh --rdest --mask 255.255.255.0",
			" ! --rcheck --seconds 60 --reap --hitcount 4 --rttl --name ssh --mask 255.255.255.0 --rdest",
			" ! recent: CHECK seconds: 60 reap hit_count: 4 TTL-Match name: ssh side: dest mask: 255.255.255.0"},
	} {
		m, _ := sfMatch(t, tc.rule, IPv4, "filter", "INPUT", nil)
		save, print, _ := sfSavePrint(m)
		if save != tc.save || print != tc.print {
			t.Errorf("%s: save %q print %q, want %q %q", tc.rule, save, print, tc.save, tc.print)
		}
	}
	for _, rule := range []string{
		"-m recent", "-m recent --set --seconds 5", "-m recent --remove --hitcount 2",
		"-m recent --rcheck --reap", "-m recent --rcheck --name a/b", "-m recent --rcheck --name ..",
		"-m recent --rcheck --hitcount 65536", "-m recent --set --rcheck", "-m recent --rttl --set",
		"-m recent --rcheck --mask ffff::", "-m recent --rcheck --seconds 0",
	} {
		if err := sfParseErr(rule, IPv4, "filter", "INPUT"); err == nil {
			t.Errorf("%s: parsed, want an error", rule)
		}
	}
}

// The classic SSH brute-force guard: set on every new connection, drop
// the 4th within 60 seconds.
func TestRecentSSHGuard(t *testing.T) {
	cc := NewCompiler(nil)
	_, set := sfMatch(t, "-m recent --set --name SSH", IPv4, "filter", "INPUT", cc)
	_, upd := sfMatch(t, "-m recent --update --seconds 60 --hitcount 4 --rttl --name SSH", IPv4, "filter", "INPUT", cc)
	p := sfPkt("192.0.2.9", "198.51.100.1", 6, 4000, 22, 60)
	blocked := func(ns int64) bool {
		c := sfCtx(p, LocalIn, ns)
		set.Match(c)
		return upd.Match(c)
	}
	for i, want := range []bool{false, false, false, true, true} {
		if got := blocked(int64(i) * 1e9); got != want {
			t.Errorf("attempt %d: blocked %v, want %v", i+1, got, want)
		}
	}
	// Two minutes later only the new attempt is within the window.
	if blocked(200e9) {
		t.Error("blocked after the window")
	}
	// Another address is independent.
	q := sfPkt("192.0.2.10", "198.51.100.1", 6, 4000, 22, 60)
	if upd.Match(sfCtx(q, LocalIn, 201e9)) {
		t.Error("unknown address matched --update")
	}
	c := sfCtx(p, LocalIn, 300e9)
	sfNoAlloc(t, "recent", func() { set.Match(c); upd.Match(c) })
}

func TestRecentSharedAndTTL(t *testing.T) {
	store := NewStore()
	cc := NewCompiler(store)
	_, set := sfMatch(t, "-m recent --set --name L --mask 255.255.255.0", IPv4, "filter", "INPUT", cc)
	p := sfPkt("192.0.2.9", "198.51.100.1", 17, 1, 2, 60)
	set.Match(sfCtx(p, LocalIn, 0))
	// A reload: a new compiler on the same store sees the list.
	cc2 := NewCompiler(store)
	_, chk := sfMatch(t, "-m recent --rcheck --rttl --name L", IPv4, "filter", "INPUT", cc2)
	q := sfPkt("192.0.2.77", "198.51.100.1", 17, 1, 2, 60)
	if !chk.Match(sfCtx(q, LocalIn, 1e9)) {
		t.Error("the /24 mask of the list's first rule groups 192.0.2.77 with .9")
	}
	q.TTL = 50
	if chk.Match(sfCtx(q, LocalIn, 1e9)) {
		t.Error("--rttl: a different TTL matched")
	}
	_, rm := sfMatch(t, "-m recent --remove --name L", IPv4, "filter", "INPUT", cc2)
	if !rm.Match(sfCtx(p, LocalIn, 2e9)) || rm.Match(sfCtx(p, LocalIn, 2e9)) {
		t.Error("--remove matches once")
	}
}

func TestRecentLRU(t *testing.T) {
	cc := NewCompiler(nil)
	_, set := sfMatch(t, "-m recent --set --name LRU", IPv4, "filter", "INPUT", cc)
	_, chk := sfMatch(t, "-m recent --rcheck --name LRU", IPv4, "filter", "INPUT", cc)
	mk := func(i int) *Ctx {
		return sfCtx(sfPkt("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256), "198.51.100.1", 17, 1, 2, 60), LocalIn, int64(i)*1e6)
	}
	for i := 0; i <= RecentListTot; i++ {
		set.Match(mk(i))
	}
	if chk.Match(mk(0)) || !chk.Match(mk(1)) || !chk.Match(mk(RecentListTot)) {
		t.Error("the list keeps the last ip_list_tot addresses")
	}
}

// TestRecentProcLoad reads /proc/net/xt_recent listings (the kernel's
// format, here as this kernel wrote them) into a list and checks that
// the rules then see the addresses, times, hit counts, TTLs and LRU
// order the kernel had.
func TestRecentProcLoad(t *testing.T) {
	const listing = `src=127.0.0.1 ttl: 64 last_seen: 4295040094 oldest_pkt: 6 4295039988, 4295039988, 4295040041, 4295040041, 4295040094, 4295040094
src=192.0.2.9 ttl: 60 last_seen: 4295040000 oldest_pkt: 2 4295039500, 4295040000, 4295039000, 4295039250
src=2001:db8::7 ttl: 255 last_seen: 4295030000 oldest_pkt: 1 4295030000
`
	es, err := ParseRecentProc(strings.NewReader(listing), "L")
	if err != nil || len(es) != 3 {
		t.Fatalf("%v (%d entries)", err, len(es))
	}
	if got := es[1].chronological(); fmt.Sprint(got) != "[4295039000 4295039250 4295039500 4295040000]" {
		t.Errorf("a wrapped entry's times oldest first: %v", got)
	}
	store := NewStore()
	cc := NewCompiler(store)
	_, chk := sfMatch(t, "-m recent --rcheck --seconds 10 --hitcount 3 --rttl --name L", IPv4, "filter", "INPUT", cc)
	if _, err := LoadRecent(store, "other", es, 0); err == nil {
		t.Error("a list no rule uses was loaded")
	}
	// The dump was taken at jiffies 4295040100, which stands for the
	// engine's time 1000 s: 4295040094 is 6 jiffies (24 ms) before it.
	now := int64(1000e9)
	shift := Jiffies(now, 250) - 4295040100
	if n, err := LoadRecent(store, "L", es, shift); err != nil || n != 3 {
		t.Fatalf("LoadRecent: %d, %v", n, err)
	}
	lo := sfPkt("127.0.0.1", "198.51.100.1", 17, 1, 2, 60)
	if !chk.Match(sfCtx(lo, LocalIn, now)) {
		t.Error("127.0.0.1: 6 times within 10 s, want a match")
	}
	nine := sfPkt("192.0.2.9", "198.51.100.1", 17, 1, 2, 60)
	nine.TTL = 60
	// 192.0.2.9's times are 4.4, 3.4, 2.4 and 0.4 s before the
	// dump: three of them within 10 s until 5.6 s after it.
	if !chk.Match(sfCtx(nine, LocalIn, now+5e9)) || chk.Match(sfCtx(nine, LocalIn, now+7e9)) {
		t.Error("192.0.2.9: want 3 hits within 10 s at +5 s and not at +7 s")
	}
	nine.TTL = 61
	if chk.Match(sfCtx(nine, LocalIn, now)) {
		t.Error("--rttl: the listed TTL is 60")
	}
	// LRU: 2001:db8::7 was seen longest ago, so it goes first when the
	// list is full.
	tab, _ := store.Lookup("recent/L")
	rt := tab.(*recentTable)
	if h := rt.entries[rt.head]; h.key.fam != uint8(IPv6) || rt.entries[rt.tail].ttl != 64 {
		t.Errorf("LRU order: head %+v", h)
	}
	for _, bad := range []string{
		"src=192.0.2.9 ttl: 60 last_seen: 5 oldest_pkt: 2 4",
		"src=192.0.2.9 ttl: 60 last_seen: 5 oldest_pkt: 1 4",
		"src=192.0.2.9 ttl: 300 last_seen: 4 oldest_pkt: 1 4",
		"src=example ttl: 60 last_seen: 4 oldest_pkt: 1 4",
		"192.0.2.9 60 4 1 4",
	} {
		if _, err := ParseRecentProc(strings.NewReader(listing+bad+"\n"), "L"); err == nil || !strings.Contains(err.Error(), "L:4:") {
			t.Errorf("%q: error %v, want one at L:4", bad, err)
		}
	}
}

// FuzzRecentProc: no listing makes the reader or the loader panic, and
// every entry read is one LoadRecent can take.
func FuzzRecentProc(f *testing.F) {
	f.Add("src=127.0.0.1 ttl: 64 last_seen: 4295040094 oldest_pkt: 2 4295039988, 4295040094\n")
	f.Add("src=192.0.2.9 ttl: 60 last_seen: 4295040000 oldest_pkt: 2 4295039500, 4295040000, 4295039000, 4295039250\nsrc=2001:db8::7 ttl: 255 last_seen: 1 oldest_pkt: 1 1\n")
	f.Add("src=::ffff:192.0.2.1 ttl: 0 last_seen: 0 oldest_pkt: 1 0\n")
	f.Fuzz(func(t *testing.T, text string) {
		es, err := ParseRecentProc(strings.NewReader(text), "fuzz")
		if err != nil {
			return
		}
		for _, e := range es {
			if e.Index == 0 || int(e.Index) > len(e.Stamps) || !e.Addr.IsValid() {
				t.Fatalf("bad entry %+v", e)
			}
		}
		store := NewStore()
		cc := NewCompiler(store)
		sfMatch(t, "-m recent --rcheck --hitcount 3 --name L", IPv4, "filter", "INPUT", cc)
		if _, err := LoadRecent(store, "L", es, 12345); err != nil {
			t.Fatal(err)
		}
	})
}
