package ext

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// The recent match (-m recent, libxt_recent revision 1 and the kernel's
// xt_recent) keeps named lists of addresses with the times they were
// seen: --set adds the packet's address, --rcheck and --update test it
// (optionally: seen --hitcount times in the last --seconds, with the same
// TTL), --remove deletes it. Lists belong to the network namespace, not
// to a ruleset: ipsift keeps them in the engine's Store under their name,
// so they survive a reload as the kernel's do.

// RecentListTot is xt_recent's ip_list_tot module parameter: how many
// addresses a list remembers before it forgets the least recently seen.
var RecentListTot = 100

// RecentPktListTot is xt_recent's ip_pkt_list_tot module parameter (0,
// the default since Linux 4.x, sizes each list from the rules'
// --hitcount).
var RecentPktListTot uint32

// xt_recent's check_set bits.
const (
	recentCheck  = 1 << 0
	recentSet    = 1 << 1
	recentUpdate = 1 << 2
	recentRemove = 1 << 3
	recentTTL    = 1 << 4
	recentReap   = 1 << 5

	recentNameLen    = 200   // XT_RECENT_NAME_LEN
	recentMaxNstamps = 65536 // XT_RECENT_MAX_NSTAMPS (Linux 6.x)
)

func init() {
	RegisterMatch(&MatchType{
		Name:   "recent",
		Family: AnyFamily,
		Options: []Option{
			{Name: "set", Invert: true, Excludes: []string{"rcheck", "update", "remove", "rttl"}},
			{Name: "rcheck", Invert: true, Excludes: []string{"set", "update", "remove"}},
			{Name: "update", Invert: true, Excludes: []string{"set", "rcheck", "remove"}},
			{Name: "remove", Invert: true, Excludes: []string{"set", "rcheck", "update", "rttl"}},
			{Name: "seconds", Arg: OneArg},
			{Name: "reap", Also: []string{"seconds"}},
			{Name: "hitcount", Arg: OneArg},
			{Name: "rttl", Excludes: []string{"set", "remove"}},
			{Name: "name", Arg: OneArg},
			{Name: "rsource"},
			{Name: "rdest"},
			{Name: "mask", Arg: OneArg},
		},
		New: func() Match { return &recentMatch{name: "DEFAULT"} },
	})
}

// recentMatch is one -m recent in a rule (struct xt_recent_mtinfo_v1).
type recentMatch struct {
	seconds  uint32
	hitCount uint32
	checkSet uint8
	invert   bool
	name     string
	dest     bool
	mask     netip.Addr // the zero Addr until --mask or Finish
}

// Parse implements Parser.
func (m *recentMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	switch opt {
	case "set", "rcheck", "update", "remove":
		m.checkSet |= map[string]uint8{"set": recentSet, "rcheck": recentCheck, "update": recentUpdate, "remove": recentRemove}[opt]
		if invert {
			m.invert = true
		}
	case "seconds":
		v, ok := StrtoulFull(arg, 0, 1, 1<<32-1)
		if !ok {
			return fmt.Errorf("bad value %q, or out of range (1-4294967295)", arg)
		}
		m.seconds = uint32(v)
	case "reap":
		m.checkSet |= recentReap
	case "hitcount":
		v, ok := StrtoulFull(arg, 0, 0, 1<<32-1)
		if !ok {
			return fmt.Errorf("bad value %q, or out of range (0-4294967295)", arg)
		}
		m.hitCount = uint32(v)
	case "rttl":
		m.checkSet |= recentTTL
	case "name":
		// iptables copies the name into a 200-byte field.
		if len(arg) > recentNameLen-1 {
			arg = arg[:recentNameLen-1]
		}
		m.name = arg
	case "rsource":
		m.dest = false
	case "rdest":
		m.dest = true
	case "mask":
		a, err := netip.ParseAddr(arg)
		if err != nil || a.Zone() != "" {
			return fmt.Errorf("bad mask %q: write an address such as 255.255.255.0 (ipsift resolves no names)", arg)
		}
		m.mask = a.Unmap()
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser: recent_check and the kernel's
// recent_mt_check.
func (m *recentMatch) Finish(r *RuleInfo) error {
	ops := m.checkSet & (recentSet | recentCheck | recentUpdate | recentRemove)
	if ops == 0 {
		return fmt.Errorf("you must specify one of --set, --rcheck, --update or --remove")
	}
	fam := r.Family
	if fam == 0 {
		fam = IPv4
	}
	if !m.mask.IsValid() {
		if fam == IPv6 {
			m.mask = PrefixMask(128, 128)
		} else {
			m.mask = PrefixMask4(32)
		}
	} else if AddrFamily(m.mask)&fam == 0 {
		return fmt.Errorf("--mask %s is not an %s address", m.mask, ctFamWord(fam))
	}
	if ops&(recentSet|recentRemove) != 0 && (m.seconds != 0 || m.hitCount != 0 || m.checkSet&(recentTTL|recentReap) != 0) {
		return fmt.Errorf("invalid argument: --seconds, --hitcount, --rttl and --reap go only with --rcheck and --update")
	}
	if m.checkSet&recentReap != 0 && m.seconds == 0 {
		return fmt.Errorf("--reap needs --seconds")
	}
	if m.hitCount >= recentMaxNstamps {
		return fmt.Errorf("invalid argument: hitcount (%d) is larger than allowed maximum (%d)", m.hitCount, recentMaxNstamps-1)
	}
	if err := checkProcName(m.name); err != nil {
		return fmt.Errorf("--name %q: %v", m.name, err)
	}
	return nil
}

// checkProcName is the kernel's xt_check_proc_name: the name of a
// /proc file that the recent and hashlimit tables get.
func checkProcName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("invalid argument: the name may not be empty")
	case name == "." || name == "..":
		return fmt.Errorf("invalid argument: the name may not be %q or %q", ".", "..")
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf("invalid argument: the name may not contain '/'")
	}
	return nil
}

// Save implements Parser.
func (m *recentMatch) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	for _, o := range []struct {
		bit  uint8
		name string
	}{{recentSet, "set"}, {recentCheck, "rcheck"}, {recentUpdate, "update"}, {recentRemove, "remove"}} {
		if m.checkSet&o.bit != 0 {
			b.WriteString(" --" + o.name)
		}
	}
	if m.seconds != 0 {
		b.WriteString(" --seconds " + strconv.FormatUint(uint64(m.seconds), 10))
	}
	if m.checkSet&recentReap != 0 {
		b.WriteString(" --reap")
	}
	if m.hitCount != 0 {
		b.WriteString(" --hitcount " + strconv.FormatUint(uint64(m.hitCount), 10))
	}
	if m.checkSet&recentTTL != 0 {
		b.WriteString(" --rttl")
	}
	b.WriteString(" --name " + m.name)
	if m.mask.IsValid() {
		b.WriteString(" --mask " + m.mask.String())
	}
	if m.dest {
		b.WriteString(" --rdest")
	} else {
		b.WriteString(" --rsource")
	}
}

// Print implements Parser.
func (m *recentMatch) Print(b *strings.Builder, _ bool) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" recent:")
	for _, o := range []struct {
		bit  uint8
		name string
	}{{recentSet, "SET"}, {recentCheck, "CHECK"}, {recentUpdate, "UPDATE"}, {recentRemove, "REMOVE"}} {
		if m.checkSet&o.bit != 0 {
			b.WriteString(" " + o.name)
		}
	}
	if m.seconds != 0 {
		b.WriteString(" seconds: " + strconv.FormatUint(uint64(m.seconds), 10))
	}
	if m.checkSet&recentReap != 0 {
		b.WriteString(" reap")
	}
	if m.hitCount != 0 {
		b.WriteString(" hit_count: " + strconv.FormatUint(uint64(m.hitCount), 10))
	}
	if m.checkSet&recentTTL != 0 {
		b.WriteString(" TTL-Match")
	}
	b.WriteString(" name: " + m.name)
	if m.dest {
		b.WriteString(" side: dest")
	} else {
		b.WriteString(" side: source")
	}
	if m.mask.IsValid() {
		b.WriteString(" mask: " + m.mask.String())
	}
}

// recentKey identifies an entry: the masked address and its family.
type recentKey struct {
	addr Addr16
	fam  uint8
}

// recentEntry is struct recent_entry; entries live in their table's
// slice and are linked into its LRU list by index.
type recentEntry struct {
	key        recentKey
	ttl        uint8
	index      uint16
	nstamps    uint16
	stamps     []uint64
	prev, next int32 // LRU neighbours, -1 at the ends
}

// recentTable is one named list (struct recent_table). Its mask comes
// from the first rule that named it, as in the kernel.
type recentTable struct {
	mu          sync.Mutex
	name        string
	mask        Addr16
	nstampsMask uint16
	index       map[recentKey]int32
	entries     []recentEntry
	free        []int32 // unused entry slots, with stamps of the current size
	head, tail  int32   // LRU: head is the least recently seen
}

func newRecentTable(name string, mask Addr16, nstampsMask uint16) *recentTable {
	t := &recentTable{name: name, mask: mask, nstampsMask: nstampsMask, head: -1, tail: -1}
	t.index = make(map[recentKey]int32, RecentListTot)
	return t
}

// flush removes every entry (recent_table_flush) and forgets the spare
// stamp arrays when their size changes.
func (t *recentTable) flush(nstampsMask uint16) {
	clear(t.index)
	resize := nstampsMask != t.nstampsMask
	t.nstampsMask = nstampsMask
	t.free = t.free[:0]
	for i := range t.entries {
		if resize {
			t.entries[i].stamps = nil
		}
		t.free = append(t.free, int32(i))
	}
	t.head, t.tail = -1, -1
}

func (t *recentTable) unlink(i int32) {
	e := &t.entries[i]
	if e.prev >= 0 {
		t.entries[e.prev].next = e.next
	} else {
		t.head = e.next
	}
	if e.next >= 0 {
		t.entries[e.next].prev = e.prev
	} else {
		t.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

func (t *recentTable) pushTail(i int32) {
	e := &t.entries[i]
	e.prev, e.next = t.tail, -1
	if t.tail >= 0 {
		t.entries[t.tail].next = i
	} else {
		t.head = i
	}
	t.tail = i
}

// remove is recent_entry_remove.
func (t *recentTable) remove(i int32) {
	t.unlink(i)
	delete(t.index, t.entries[i].key)
	t.free = append(t.free, i)
}

// add is recent_entry_init: it forgets the least recently seen entry
// when the list is full.
func (t *recentTable) add(k recentKey, ttl uint8, now uint64) int32 {
	if len(t.index) >= RecentListTot && t.head >= 0 {
		t.remove(t.head)
	}
	var i int32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		t.entries = append(t.entries, recentEntry{})
		i = int32(len(t.entries) - 1)
	}
	e := &t.entries[i]
	if len(e.stamps) != int(t.nstampsMask)+1 {
		e.stamps = make([]uint64, int(t.nstampsMask)+1)
	}
	e.key, e.ttl = k, ttl
	e.stamps[0] = now
	e.nstamps, e.index = 1, 1
	t.index[k] = i
	t.pushTail(i)
	return i
}

// update is recent_entry_update.
func (t *recentTable) update(i int32, now uint64) {
	e := &t.entries[i]
	e.index &= t.nstampsMask
	e.stamps[e.index] = now
	e.index++
	if e.index > e.nstamps {
		e.nstamps = e.index
	}
	t.unlink(i)
	t.pushTail(i)
}

// timeAfter is the kernel's time_after(a, b) on jiffies.
func timeAfter(a, b uint64) bool { return int64(b-a) < 0 }

// reap is recent_entry_reap: it forgets the least recently seen entry
// when its last time is before t, unless that is the entry the packet is
// about to update.
func (t *recentTable) reap(time uint64, working int32, updating bool) {
	h := t.head
	if h < 0 || (h == working && updating) {
		return
	}
	e := &t.entries[h]
	last := e.stamps[(e.index-1)&t.nstampsMask]
	if timeAfter(time, last) {
		t.remove(h)
	}
}

// nstampsMaskFor is the number of times a rule needs its list to keep,
// minus one (roundup_pow_of_two(hitcount) - 1, 31 by default).
func nstampsMaskFor(hit uint32) uint16 {
	n := uint32(32)
	switch {
	case RecentPktListTot != 0 && hit < RecentPktListTot:
		n = RecentPktListTot
	case hit != 0:
		n = hit
	}
	p := uint32(1)
	for p < n {
		p <<= 1
	}
	return uint16(p - 1)
}

// Compile implements Match: it finds or creates the named list and
// widens it (flushing it, as the kernel does) when this rule needs more
// times per address than the list keeps.
func (m *recentMatch) Compile(c *Compiler) (Matcher, error) {
	mask := m.mask
	if !mask.IsValid() {
		mask = PrefixMask4(32)
		if c.Family == IPv6 {
			mask = PrefixMask(128, 128)
		}
	}
	need := nstampsMaskFor(m.hitCount)
	t := c.Shared("recent/"+m.name, func() any {
		return newRecentTable(m.name, ToAddr16(mask), need)
	}).(*recentTable)
	t.mu.Lock()
	if need > t.nstampsMask {
		t.flush(need)
	}
	t.mu.Unlock()
	return &recentMatcher{m: *m, t: t, hz: c.HZ}, nil
}

// recentMatcher is the compiled recent match: recent_mt.
type recentMatcher struct {
	m  recentMatch
	t  *recentTable
	hz int
}

// key returns the packet's list key and TTL as recent_mt computes them.
func (r *recentMatcher) key(c *Ctx) (recentKey, uint8) {
	p := c.Pkt
	a := p.Src
	if r.m.dest {
		a = p.Dst
	}
	k := recentKey{addr: ToAddr16(a).And(r.t.mask), fam: uint8(AddrFamily(a))}
	ttl := p.TTL
	// The TTL as it was before forwarding: forwarded packets (an output
	// interface and no local socket) have had it decremented.
	if c.Out != nil && c.In != nil {
		ttl++
	}
	return k, ttl
}

// Match implements Matcher.
func (r *recentMatcher) Match(c *Ctx) bool {
	m := &r.m
	t := r.t
	k, ttl := r.key(c)
	now := Jiffies(c.Now, r.hz)
	ret := m.invert
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.index[k]
	if ok && m.checkSet&recentTTL != 0 {
		if e := &t.entries[i]; ttl != e.ttl && ttl != 0 && e.ttl != 0 {
			ok = false
		}
	}
	if !ok {
		if m.checkSet&recentSet == 0 {
			return ret
		}
		t.add(k, ttl, now)
		return !ret
	}
	switch {
	case m.checkSet&recentSet != 0:
		ret = !ret
	case m.checkSet&recentRemove != 0:
		t.remove(i)
		return !ret
	case m.checkSet&(recentCheck|recentUpdate) != 0:
		time := now - uint64(m.seconds*uint32(r.hz))
		e := &t.entries[i]
		hits := uint32(0)
		for j := 0; j < int(e.nstamps); j++ {
			if m.seconds != 0 && timeAfter(time, e.stamps[j]) {
				continue
			}
			hits++
			if m.hitCount == 0 || hits >= m.hitCount {
				ret = !ret
				break
			}
		}
		if m.checkSet&recentReap != 0 {
			t.reap(time, i, m.checkSet&recentUpdate != 0 && ret)
		}
	}
	if m.checkSet&recentSet != 0 || (m.checkSet&recentUpdate != 0 && ret) {
		t.update(i, now)
		t.entries[i].ttl = ttl
	}
	return ret
}

// Explain implements Explainer.
func (r *recentMatcher) Explain(c *Ctx, matched bool) string {
	m := &r.m
	k, _ := r.key(c)
	var a netip.Addr
	if k.fam == uint8(IPv4) {
		a = netip.AddrFrom4([4]byte(k.addr[:4]))
	} else {
		a = netip.AddrFrom16(k.addr)
	}
	r.t.mu.Lock()
	i, in := r.t.index[k]
	n := 0
	if in {
		n = int(r.t.entries[i].nstamps)
	}
	r.t.mu.Unlock()
	switch {
	case m.checkSet&recentSet != 0:
		return fmt.Sprintf("recent: %s is set in list %s", a, m.name)
	case m.checkSet&recentRemove != 0 && matched != m.invert:
		return fmt.Sprintf("recent: %s was in list %s and is removed", a, m.name)
	case !in && matched == m.invert:
		return fmt.Sprintf("recent: %s is not in list %s", a, m.name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "recent: %s is in list %s (%d times kept)", a, m.name, n)
	if m.hitCount != 0 || m.seconds != 0 {
		b.WriteString("; the rule asks for")
		if m.hitCount != 0 {
			fmt.Fprintf(&b, " %d hits", m.hitCount)
		} else {
			b.WriteString(" a hit")
		}
		if m.seconds != 0 {
			fmt.Fprintf(&b, " in the last %d s", m.seconds)
		}
		if matched == m.invert {
			b.WriteString(", which it does not have")
		}
	}
	return b.String()
}

// RecentEntry is one address of a recent list as the kernel lists it in
// /proc/net/xt_recent/NAME (recent_seq_show):
//
//	src=192.0.2.7 ttl: 64 last_seen: 4295040094 oldest_pkt: 3 4295039988, 4295040041, 4295040094
//
// Stamps are jiffies of the kernel that wrote the listing, in the order
// of its array: once an entry has kept as many times as its list holds,
// Index (oldest_pkt, the kernel's e->index) is where the next one goes.
type RecentEntry struct {
	Addr   netip.Addr
	TTL    uint8
	Index  uint16
	Stamps []uint64
}

// chronological returns the entry's times oldest first.
func (e RecentEntry) chronological() []uint64 {
	n := len(e.Stamps)
	if i := int(e.Index); i > 0 && i < n {
		return append(append([]uint64(nil), e.Stamps[i:]...), e.Stamps[:i]...)
	}
	return e.Stamps
}

// ParseRecentProc reads a /proc/net/xt_recent/NAME listing; errors name
// the line (as name:LINE:) and what is wrong.
func ParseRecentProc(r io.Reader, name string) ([]RecentEntry, error) {
	var out []RecentEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		e, err := parseRecentLine(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v (want src=ADDR ttl: N last_seen: J oldest_pkt: I J1, J2, ..., as /proc/net/xt_recent shows)", name, line, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

func parseRecentLine(text string) (RecentEntry, error) {
	var e RecentEntry
	f := strings.Fields(strings.ReplaceAll(text, ",", " "))
	if len(f) < 8 || !strings.HasPrefix(f[0], "src=") || f[1] != "ttl:" || f[3] != "last_seen:" || f[5] != "oldest_pkt:" {
		return e, fmt.Errorf("not a recent list line")
	}
	a, err := netip.ParseAddr(f[0][4:])
	if err != nil || a.Zone() != "" {
		return e, fmt.Errorf("bad address %q", f[0][4:])
	}
	e.Addr = a // an IPv4-mapped address is an IPv6 list's entry, as %pI6 prints it
	ttl, err := strconv.ParseUint(f[2], 10, 8)
	if err != nil {
		return e, fmt.Errorf("bad ttl %q", f[2])
	}
	last, err := strconv.ParseUint(f[4], 10, 64)
	if err != nil {
		return e, fmt.Errorf("bad last_seen %q", f[4])
	}
	idx, err := strconv.ParseUint(f[6], 10, 16)
	if err != nil || idx == 0 {
		return e, fmt.Errorf("bad oldest_pkt %q", f[6])
	}
	e.TTL, e.Index = uint8(ttl), uint16(idx)
	for _, s := range f[7:] {
		j, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return e, fmt.Errorf("bad time %q", s)
		}
		e.Stamps = append(e.Stamps, j)
	}
	if int(e.Index) > len(e.Stamps) || e.Stamps[e.Index-1] != last {
		return e, fmt.Errorf("oldest_pkt %d and last_seen %d do not agree with the %d times listed", e.Index, last, len(e.Stamps))
	}
	return e, nil
}

// LoadRecent fills the recent list name, which a compiled rule has
// created in s, with entries from a /proc/net/xt_recent listing, least
// recently seen first as the kernel's LRU list holds them (entries seen
// in the same jiffy keep the listing's order). Each time is moved by
// shift jiffies (wrapping, as jiffies do) onto the engine's clock. An
// entry with more times than the list keeps (its rules ask for fewer
// hits than those that wrote the listing) keeps the newest ones; an
// address is masked as the list masks it. It returns how many addresses
// the list holds afterwards; an error when no compiled rule names the
// list.
func LoadRecent(s *Store, name string, entries []RecentEntry, shift uint64) (int, error) {
	v, ok := s.Lookup("recent/" + name)
	if !ok {
		return 0, fmt.Errorf("no rule uses the recent list %s", name)
	}
	t := v.(*recentTable)
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	last := func(e RecentEntry) uint64 { return e.Stamps[e.Index-1] }
	sort.SliceStable(order, func(i, j int) bool {
		return timeAfter(last(entries[order[j]]), last(entries[order[i]]))
	})
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, i := range order {
		e := entries[i]
		times := e.chronological()
		if keep := int(t.nstampsMask) + 1; len(times) > keep {
			times = times[len(times)-keep:]
		}
		k := recentKey{addr: ToAddr16(e.Addr).And(t.mask), fam: uint8(AddrFamily(e.Addr))}
		if old, ok := t.index[k]; ok {
			t.remove(old)
		}
		j := t.add(k, e.TTL, times[0]+shift)
		for _, st := range times[1:] {
			t.update(j, st+shift)
		}
	}
	return len(t.index), nil
}
