package ext

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/ipsift/ipsift/packet"
)

// The hashlimit match (-m hashlimit, libxt_hashlimit revision 3 and the
// kernel's xt_hashlimit) is a limit per group of packets: a token bucket
// (or, with --hashlimit-rate-match, a rate measurement) for each source
// address, destination, port ... as --hashlimit-mode says. The buckets
// live in a table named by --hashlimit-name that belongs to the network
// namespace: ipsift keeps it in the engine's Store, so it survives a
// reload, and rules naming the same table share it (with the
// configuration of the rule that created it, as in the kernel).

// XT_HASHLIMIT_* mode bits.
const (
	hlDstIP     = 1 << 0
	hlDstPort   = 1 << 1
	hlSrcIP     = 1 << 2
	hlSrcPort   = 1 << 3
	hlInvert    = 1 << 4
	hlBytes     = 1 << 5
	hlRateMatch = 1 << 6

	hlScale        = 1000000 // XT_HASHLIMIT_SCALE_v2
	hlByteShift    = 4
	hlBurstDefault = 5
	hlBurstMax     = 1000000
	hlGCDefault    = 1000
	hlByteExpire   = 15
	hlByteExpireB  = 60
	hlNameMax      = 255 // NAME_MAX, the size of the rule's name field
	hlMaxSize      = 1048576
)

// HashlimitDefaultSize is the number of hash buckets the kernel gives a
// table without --hashlimit-htable-size on a machine with more than 1 GiB
// of memory; the default --hashlimit-htable-max is eight times it.
var HashlimitDefaultSize uint32 = 8192

func init() {
	RegisterMatch(&MatchType{
		Name:   "hashlimit",
		Family: AnyFamily,
		Options: []Option{
			{Name: "hashlimit-upto", Arg: OneArg, Invert: true, Excludes: []string{"hashlimit-above", "hashlimit"}},
			{Name: "hashlimit-above", Arg: OneArg, Invert: true, Excludes: []string{"hashlimit-upto", "hashlimit"}},
			{Name: "hashlimit", Arg: OneArg, Invert: true, Excludes: []string{"hashlimit-above", "hashlimit-upto"}},
			{Name: "hashlimit-srcmask", Arg: OneArg},
			{Name: "hashlimit-dstmask", Arg: OneArg},
			{Name: "hashlimit-burst", Arg: OneArg},
			{Name: "hashlimit-htable-size", Arg: OneArg},
			{Name: "hashlimit-htable-max", Arg: OneArg},
			{Name: "hashlimit-htable-gcinterval", Arg: OneArg},
			{Name: "hashlimit-htable-expire", Arg: OneArg},
			{Name: "hashlimit-mode", Arg: OneArg},
			{Name: "hashlimit-name", Arg: OneArg, Mandatory: true},
			{Name: "hashlimit-rate-match"},
			{Name: "hashlimit-rate-interval", Arg: OneArg},
		},
		New: func() Match { return &hashlimitMatch{cfg: hlCfg{burst: hlBurstDefault, gcInterval: hlGCDefault}} },
	})
}

// hlCfg is struct hashlimit_cfg3.
type hlCfg struct {
	avg, burst       uint64
	mode             uint32
	size, max        uint32
	gcInterval       uint32 // ms
	expire           uint32 // ms
	interval         uint32 // s
	srcmask, dstmask uint8
}

// hashlimitMatch is one -m hashlimit in a rule (struct
// xt_hashlimit_mtinfo3) plus what libxt_hashlimit remembers while
// parsing.
type hashlimitMatch struct {
	cfg  hlCfg
	name string
	fam  Family

	mult                   uint32 // the unit of the last rate, in seconds (udata)
	rateGiven              bool
	burstGiven             bool
	expireGiven            bool
	srcmaskArg, dstmaskArg string
}

// hlGetFactor is get_factor: 'k' and 'm' suffixes of byte counts.
func hlGetFactor(c byte) uint64 {
	switch c {
	case 'm':
		return 1024 * 1024
	case 'k':
		return 1024
	}
	return 1
}

// hlCostToBytes and hlBytesToCost convert between a byte rate and the
// cost the kernel charges per 16-byte chunk.
func hlCostToBytes(cost uint64) uint64 {
	r := uint64(0xFFFFFFFF)
	if cost != 0 {
		r = 0xFFFFFFFF / cost
	}
	return (r - 1) << hlByteShift
}

func hlBytesToCost(bytes uint64) uint64 {
	r := uint32(bytes >> hlByteShift)
	if r == 0xFFFFFFFF {
		return 0
	}
	return 0xFFFFFFFF / uint64(r+1)
}

// parseRate reads a packet rate ("40/sec") or, when it contains "b/s", a
// byte rate ("4kb/s"), as parse_bytes and parse_rate do.
func (m *hashlimitMatch) parseRate(rate string) error {
	if k := strings.Index(rate, "b/s"); k > 0 {
		r := uint64(Atoll(rate))
		if r == 0 {
			return fmt.Errorf("bad value %q: write N/sec, N/min, N/hour, N/day or a byte rate such as 4kb/s", rate)
		}
		tmp := r * hlGetFactor(rate[k-1])
		tmp = hlBytesToCost(tmp)
		if tmp == 0 {
			return fmt.Errorf("rate too high %q", rate)
		}
		m.mult = hlByteExpire
		m.cfg.avg = tmp
		m.cfg.mode |= hlBytes
		return nil
	}
	mult, ok := rateUnit(rate)
	r := uint64(Atoll(rate))
	if !ok || r == 0 {
		return fmt.Errorf("bad value %q: write N/sec, N/min, N/hour, N/day or a byte rate such as 4kb/s", rate)
	}
	m.mult = mult
	tmp := hlScale * uint64(mult) / r
	if tmp == 0 {
		return fmt.Errorf("rate too fast %q: at most 1000000/sec", rate)
	}
	m.cfg.avg = tmp
	return nil
}

// Parse implements Parser.
func (m *hashlimitMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	switch opt {
	case "hashlimit-upto", "hashlimit", "hashlimit-above":
		if m.rateGiven {
			return fmt.Errorf("option --%s can only be used once", opt)
		}
		above := opt == "hashlimit-above"
		if above != invert {
			m.cfg.mode |= hlInvert
		}
		if err := m.parseRate(arg); err != nil {
			return err
		}
		m.rateGiven = true
	case "hashlimit-srcmask":
		m.srcmaskArg = arg
	case "hashlimit-dstmask":
		m.dstmaskArg = arg
	case "hashlimit-burst":
		v, rest, ok := StrtoulPrefix(arg, 0, 1, 0)
		if !ok || (rest == "" && v > hlBurstMax) {
			return fmt.Errorf("bad value %q, or out of range (1-%d)", arg, hlBurstMax)
		}
		if rest != "" {
			v *= hlGetFactor(rest[0])
		}
		m.cfg.burst = v
		m.burstGiven = true
	case "hashlimit-htable-size", "hashlimit-htable-max", "hashlimit-htable-gcinterval", "hashlimit-htable-expire":
		v, ok := StrtoulFull(arg, 0, 0, 1<<32-1)
		if !ok {
			return fmt.Errorf("bad value %q, or out of range (0-4294967295)", arg)
		}
		switch opt {
		case "hashlimit-htable-size":
			m.cfg.size = uint32(v)
		case "hashlimit-htable-max":
			m.cfg.max = uint32(v)
		case "hashlimit-htable-gcinterval":
			m.cfg.gcInterval = uint32(v)
		default:
			m.cfg.expire = uint32(v)
			m.expireGiven = true
		}
	case "hashlimit-mode":
		for _, tok := range strings.FieldsFunc(arg, func(r rune) bool { return r == ',' || r == '|' }) {
			switch tok {
			case "dstip":
				m.cfg.mode |= hlDstIP
			case "srcip":
				m.cfg.mode |= hlSrcIP
			case "srcport":
				m.cfg.mode |= hlSrcPort
			case "dstport":
				m.cfg.mode |= hlDstPort
			default:
				return fmt.Errorf("bad value %q: the mode is a list of srcip, srcport, dstip and dstport", arg)
			}
		}
	case "hashlimit-name":
		if arg == "" {
			return fmt.Errorf("the name must have a minimum length of 1 character")
		}
		if len(arg) > hlNameMax-1 {
			arg = arg[:hlNameMax-1]
		}
		m.name = arg
	case "hashlimit-rate-match":
		m.cfg.mode |= hlRateMatch
	case "hashlimit-rate-interval":
		r := Atoi(arg)
		if r <= 0 {
			return fmt.Errorf("bad value %q: the interval is a number of seconds, at least 1", arg)
		}
		m.cfg.interval = uint32(r)
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return nil
}

// parsePlen is XTTYPE_PLEN: a prefix length 0-bits or a dotted mask
// (a mask that is not a prefix gives 255, which the kernel refuses).
func parsePlen(arg string, bits int) (uint8, error) {
	if v, ok := StrtoulFull(arg, 0, 0, uint64(bits)); ok {
		return uint8(v), nil
	}
	if a, err := netip.ParseAddr(arg); err == nil && a.BitLen() == bits {
		if n := MaskLen(a); n >= 0 {
			return uint8(n), nil
		}
		return 255, nil
	}
	return 0, fmt.Errorf("bad value %q: neither a valid network mask nor a prefix length (0-%d)", arg, bits)
}

// Finish implements Parser: hashlimit_mt_check and the checks of the
// kernel's hashlimit_mt_check_common that do not depend on the clock.
func (m *hashlimitMatch) Finish(r *RuleInfo) error {
	m.fam = r.Family
	if m.fam == 0 {
		m.fam = IPv4
	}
	bits := 32
	if m.fam == IPv6 {
		bits = 128
	}
	m.cfg.srcmask, m.cfg.dstmask = uint8(bits), uint8(bits)
	for _, x := range []struct {
		arg string
		dst *uint8
		opt string
	}{{m.srcmaskArg, &m.cfg.srcmask, "srcmask"}, {m.dstmaskArg, &m.cfg.dstmask, "dstmask"}} {
		if x.arg == "" {
			continue
		}
		v, err := parsePlen(x.arg, bits)
		if err != nil {
			return fmt.Errorf("--hashlimit-%s: %v", x.opt, err)
		}
		*x.dst = v
	}
	if !m.rateGiven {
		return fmt.Errorf("you have to specify --hashlimit-upto or --hashlimit-above")
	}
	c := &m.cfg
	if !m.expireGiven {
		c.expire = m.mult * 1000
	}
	if c.mode&hlBytes != 0 {
		var burst uint32
		if m.burstGiven {
			cb := hlCostToBytes(c.avg)
			if c.burst < cb {
				return fmt.Errorf("burst cannot be smaller than %db", cb)
			}
			// libxt_hashlimit computes this in 32 bits.
			burst = uint32(c.burst)
			burst = uint32(uint64(burst) / cb)
			if c.burst%cb != 0 {
				burst++
			}
			if !m.expireGiven {
				c.expire = hlByteExpireB * 1000
			}
		}
		c.burst = uint64(burst)
	} else if c.burst > hlBurstMax {
		return fmt.Errorf("bad value for option --hashlimit-burst, or out of range (1-%d)", hlBurstMax)
	}
	if c.mode&hlRateMatch != 0 {
		if c.mode&hlBytes == 0 {
			c.avg /= uint64(m.mult)
		}
		if c.interval == 0 {
			if c.mode&hlBytes != 0 {
				c.interval = 1
			} else {
				c.interval = m.mult
			}
		}
	}
	// The kernel's checks; it caps the table sizes in the rule itself,
	// which iptables-save then shows.
	if err := checkProcName(m.name); err != nil {
		return fmt.Errorf("--hashlimit-name %q: %v", m.name, err)
	}
	if c.gcInterval == 0 || c.expire == 0 {
		return fmt.Errorf("invalid argument: --hashlimit-htable-gcinterval and --hashlimit-htable-expire must not be 0")
	}
	if c.size > hlMaxSize {
		c.size = hlMaxSize
	}
	if c.max > hlMaxSize {
		c.max = hlMaxSize
	}
	if int(c.srcmask) > bits || int(c.dstmask) > bits {
		return fmt.Errorf("invalid argument: --hashlimit-srcmask and --hashlimit-dstmask must be prefix lengths 0-%d", bits)
	}
	return m.checkRate(250)
}

// checkRate is the overflow part of hashlimit_mt_check_common, which
// depends on HZ.
func (m *hashlimitMatch) checkRate(hz int) error {
	c := &m.cfg
	switch {
	case c.mode&hlRateMatch != 0:
		if c.avg == 0 || c.avg > 0xFFFFFFFF {
			return fmt.Errorf("numerical result out of range: invalid rate for --hashlimit-rate-match")
		}
	case c.mode&hlBytes != 0:
		if hlUser2CreditsByte(uint32(c.avg), hz) == 0 {
			return fmt.Errorf("invalid argument: byte rate too high for the kernel")
		}
	default:
		if c.burst == 0 || hlUser2Credits(c.avg*c.burst, hz) < hlUser2Credits(c.avg, hz) {
			return fmt.Errorf("numerical result out of range: the kernel refuses this rate with --hashlimit-burst %d (overflow); lower the burst", c.burst)
		}
	}
	return nil
}

// hlCPJ is xt_hashlimit's 64-bit CREDITS_PER_JIFFY, hlCPJBytes its
// CREDITS_PER_JIFFY_BYTES.
func hlCPJ(hz int) uint64 { return Pow2Below64(0xFFFFFFFFFFFFFFFF / uint64(hz*60*60*24)) }

func hlCPJBytes(hz int) uint64 { return uint64(Pow2Below32(0xFFFFFFFF / uint32(hz))) }

// hlUser2Credits is user2credits for revisions 2 and 3.
func hlUser2Credits(user uint64, hz int) uint64 {
	hc := uint64(hz) * hlCPJ(hz)
	if hlScale >= hc {
		return user / (hlScale / hc)
	}
	return user * (hc / hlScale)
}

// hlUser2CreditsByte is user2credits_byte.
func hlUser2CreditsByte(user uint32, hz int) uint32 {
	us := uint64(user) * uint64(hz) * hlCPJBytes(hz)
	return uint32(us >> 32)
}

// formatHLBytes is print_bytes: the byte rate, and the burst when there
// is one; it returns the expiry time (ms) that need not be printed.
func formatHLBytes(b *strings.Builder, avg, burst uint64, prefix string) uint32 {
	units := [...]struct {
		name   string
		thresh uint64
	}{{"m", 1024 * 1024}, {"k", 1024}, {"", 1}}
	r := hlCostToBytes(avg)
	i := 0
	for ; i < len(units)-1; i++ {
		if r >= units[i].thresh && hlBytesToCost(r&^(units[i].thresh-1)) == avg {
			break
		}
	}
	b.WriteString(" " + strconv.FormatUint(r/units[i].thresh, 10) + units[i].name + "b/s")
	if burst == 0 {
		return hlByteExpire * 1000
	}
	r *= burst
	b.WriteString(" " + prefix)
	for i = 0; i < len(units)-1; i++ {
		if r >= units[i].thresh {
			break
		}
	}
	b.WriteString("burst " + strconv.FormatUint(r/units[i].thresh, 10) + units[i].name + "b")
	return hlByteExpireB * 1000
}

// formatHLRate is print_rate for revision 3: it returns the expiry time
// (ms) that need not be printed.
func formatHLRate(b *strings.Builder, period uint64) uint32 {
	if period == 0 {
		b.WriteString(" inf")
		return 0
	}
	s := formatLimitRate(period, hlScale)
	b.WriteString(" " + s)
	unit := map[string]uint32{"day": 86400, "hour": 3600, "min": 60, "sec": 1}[s[strings.IndexByte(s, '/')+1:]]
	return unit * 1000
}

func hlWriteMode(b *strings.Builder, mode uint32, sep string) {
	var parts []string
	for _, x := range []struct {
		bit  uint32
		name string
	}{{hlSrcIP, "srcip"}, {hlSrcPort, "srcport"}, {hlDstIP, "dstip"}, {hlDstPort, "dstport"}} {
		if mode&x.bit != 0 {
			parts = append(parts, x.name)
		}
	}
	b.WriteString(" " + strings.Join(parts, sep))
}

func (m *hashlimitMatch) defaultMask() uint8 {
	if m.fam == IPv6 {
		return 128
	}
	return 32
}

// HtableExpire is the table's expiry in milliseconds once Finish has
// filled in the default (nft translation's meter timeout).
func (m *hashlimitMatch) HtableExpire() uint32 { return m.cfg.expire }

// Save implements Parser: hashlimit_mt_save for revision 3.
func (m *hashlimitMatch) Save(b *strings.Builder) {
	c := &m.cfg
	if c.mode&hlInvert != 0 {
		b.WriteString(" --hashlimit-above")
	} else {
		b.WriteString(" --hashlimit-upto")
	}
	var quantum uint32
	if c.mode&hlBytes != 0 {
		quantum = formatHLBytes(b, c.avg, c.burst, "--hashlimit-")
	} else {
		quantum = formatHLRate(b, c.avg)
		b.WriteString(" --hashlimit-burst " + strconv.FormatUint(c.burst, 10))
	}
	if c.mode&(hlSrcIP|hlSrcPort|hlDstIP|hlDstPort) != 0 {
		b.WriteString(" --hashlimit-mode")
		hlWriteMode(b, c.mode, ",")
	}
	b.WriteString(" --hashlimit-name " + m.name)
	m.writeTail(b, "--hashlimit-", "--hashlimit-htable-", quantum)
}

func (m *hashlimitMatch) writeTail(b *strings.Builder, p, ht string, quantum uint32) {
	c := &m.cfg
	u := func(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
	if c.size != 0 {
		b.WriteString(" " + ht + "size " + u(c.size))
	}
	if c.max != 0 {
		b.WriteString(" " + ht + "max " + u(c.max))
	}
	if c.gcInterval != hlGCDefault {
		b.WriteString(" " + ht + "gcinterval " + u(c.gcInterval))
	}
	if c.expire != quantum {
		b.WriteString(" " + ht + "expire " + u(c.expire))
	}
	if c.srcmask != m.defaultMask() {
		b.WriteString(" " + p + "srcmask " + u(uint32(c.srcmask)))
	}
	if c.dstmask != m.defaultMask() {
		b.WriteString(" " + p + "dstmask " + u(uint32(c.dstmask)))
	}
	if c.mode&hlRateMatch != 0 {
		b.WriteString(" " + p + "rate-match")
		if c.interval != 1 {
			b.WriteString(" " + p + "rate-interval " + u(c.interval))
		}
	}
}

// Print implements Parser: hashlimit_mt_print for revision 3.
func (m *hashlimitMatch) Print(b *strings.Builder, _ bool) {
	c := &m.cfg
	if c.mode&hlInvert != 0 {
		b.WriteString(" limit: above")
	} else {
		b.WriteString(" limit: up to")
	}
	var quantum uint32
	if c.mode&hlBytes != 0 {
		quantum = formatHLBytes(b, c.avg, c.burst, "")
	} else {
		period := c.avg
		if c.interval != 0 {
			period *= uint64(c.interval)
		}
		quantum = formatHLRate(b, period)
		b.WriteString(" burst " + strconv.FormatUint(c.burst, 10))
	}
	if c.mode&(hlSrcIP|hlSrcPort|hlDstIP|hlDstPort) != 0 {
		b.WriteString(" mode")
		hlWriteMode(b, c.mode, "-")
	}
	m.writeTail(b, "", "htable-", quantum)
}

// Compile implements Match: it finds the table of this name and family
// or creates it with this rule's configuration.
func (m *hashlimitMatch) Compile(cc *Compiler) (Matcher, error) {
	hz := cc.HZ
	if hz <= 0 {
		hz = 250
	}
	if err := m.checkRate(hz); err != nil {
		return nil, err
	}
	fam := m.fam
	if fam == 0 {
		fam = cc.Family
	}
	key := fmt.Sprintf("hashlimit/%d/%s", fam, m.name)
	t := cc.Shared(key, func() any { return newHLTable(m.cfg, fam, hz) }).(*hlTable)
	return &hashlimitMatcher{cfg: m.cfg, name: m.name, t: t}, nil
}

// hlKey is struct dsthash_dst: the packet's group.
type hlKey struct {
	src, dst         Addr16
	srcPort, dstPort uint16
}

// hlEntry is struct dsthash_ent's state. The kernel keeps the token
// bucket and the rate-match fields in a union; a table is used in one
// way only unless rules of different kinds share a name.
type hlEntry struct {
	key     hlKey
	expires uint64
	prev    uint64
	// token bucket
	credit, creditCap, cost uint64
	// --hashlimit-rate-match
	interval    uint32
	prevWindow  bool
	currentRate uint64
	rate        uint64
	burst       int64
}

// hlTable is struct xt_hashlimit_htable: the buckets of one name.
type hlTable struct {
	mu               sync.Mutex
	cfg              hlCfg
	fam              Family
	hz               int
	srcMask, dstMask Addr16
	expireJ, gcJ     uint64 // expire and gc interval in jiffies
	index            map[hlKey]int32
	ents             []hlEntry
	free             []int32
	nextGC           uint64
	started          bool
}

func newHLTable(cfg hlCfg, fam Family, hz int) *hlTable {
	if cfg.size == 0 {
		cfg.size = HashlimitDefaultSize
	}
	if cfg.max == 0 {
		cfg.max = 8 * cfg.size
	} else if cfg.max < cfg.size {
		cfg.max = cfg.size
	}
	bits := 32
	if fam == IPv6 {
		bits = 128
	}
	t := &hlTable{cfg: cfg, fam: fam, hz: hz}
	t.srcMask = ToAddr16(PrefixMask(bits, int(cfg.srcmask)))
	t.dstMask = ToAddr16(PrefixMask(bits, int(cfg.dstmask)))
	if bits == 32 {
		t.srcMask = ToAddr16(PrefixMask4(int(cfg.srcmask)))
		t.dstMask = ToAddr16(PrefixMask4(int(cfg.dstmask)))
	}
	t.expireJ = MsecsToJiffies(uint64(cfg.expire), hz)
	t.gcJ = MsecsToJiffies(uint64(cfg.gcInterval), hz)
	if t.gcJ == 0 {
		t.gcJ = 1
	}
	// Room for the entries a busy table holds without growing; tables
	// beyond it grow (allocating) until --hashlimit-htable-max.
	t.index = make(map[hlKey]int32, min(int(cfg.max), 1024))
	return t
}

// gc is htable_gc, run lazily: every gc interval since the first packet
// the kernel frees the entries whose expiry time has come.
func (t *hlTable) gc(now uint64) {
	if !t.started {
		t.started, t.nextGC = true, now+t.gcJ
		return
	}
	if now < t.nextGC {
		return
	}
	last := t.nextGC + (now-t.nextGC)/t.gcJ*t.gcJ
	for k, i := range t.index {
		if int64(last-t.ents[i].expires) >= 0 {
			delete(t.index, k)
			t.free = append(t.free, i)
		}
	}
	t.nextGC = last + t.gcJ
}

// portsOffset is proto_ports_offset: where the port pair sits in the
// transport header, or -1 for protocols without ports.
func portsOffset(proto uint8) int {
	switch proto {
	case 6, 17, 33, 50, 132, 136:
		return 0
	case 51:
		return 4
	}
	return -1
}

// key is hashlimit_init_dst; ok is false when the ports cannot be read
// (the kernel then drops the packet).
func (t *hlTable) key(c *Ctx) (k hlKey, ok bool) {
	p := c.Pkt
	mode := t.cfg.mode
	if mode&hlDstIP != 0 {
		k.dst = ToAddr16(p.Dst).And(t.dstMask)
	}
	if mode&hlSrcIP != 0 {
		k.src = ToAddr16(p.Src).And(t.srcMask)
	}
	if mode&(hlSrcPort|hlDstPort) == 0 {
		return k, true
	}
	var sp, dp uint16
	proto, l4 := p.Proto, p.L4
	if p.Version == 6 {
		// hashlimit_init_dst finds IPv6 ports with ipv6_skip_exthdr,
		// not ip6_tables' walk: No Next Header or a broken chain drops
		// the packet (kerneldiff's testdata/regress/ipv6-hashlimit-ports).
		w := packet.SkipExthdr(p.Data, 40, p.NextHdr)
		if w.Err != packet.ExtOK {
			return k, false
		}
		proto, l4 = w.Proto, nil
		if w.Off <= len(p.Data) {
			l4 = p.Data[w.Off:]
		}
	}
	if off := portsOffset(proto); off >= 0 {
		if len(l4) < off+4 {
			return k, false
		}
		sp = binary.BigEndian.Uint16(l4[off:])
		dp = binary.BigEndian.Uint16(l4[off+2:])
	}
	if mode&hlSrcPort != 0 {
		k.srcPort = sp
	}
	if mode&hlDstPort != 0 {
		k.dstPort = dp
	}
	return k, true
}

// init is rateinfo_init.
func (t *hlTable) init(e *hlEntry, now uint64) {
	c := &t.cfg
	e.prev = now
	switch {
	case c.mode&hlRateMatch != 0:
		e.prevWindow, e.currentRate = false, 0
		if c.mode&hlBytes != 0 {
			r := uint64(0xFFFFFFFF)
			if uint32(c.avg) != 0 {
				r = 0xFFFFFFFF / uint64(uint32(c.avg))
			}
			e.rate = (r - 1) << hlByteShift
			if c.burst != 0 {
				e.burst = int64(c.burst * e.rate)
			} else {
				e.burst = int64(e.rate)
			}
		} else {
			e.rate = 0
			if c.avg != 0 {
				e.rate = hlScale / c.avg
			}
			e.burst = int64(c.burst + e.rate)
		}
		e.interval = c.interval
	case c.mode&hlBytes != 0:
		e.credit = hlCPJBytes(t.hz) * uint64(t.hz)
		e.cost = uint64(hlUser2CreditsByte(uint32(c.avg), t.hz))
		e.creditCap = c.burst
	default:
		e.credit = hlUser2Credits(c.avg*c.burst, t.hz)
		e.cost = hlUser2Credits(c.avg, t.hz)
		e.creditCap = e.credit
	}
}

// recalc is rateinfo_recalc. A clock running backwards (a replay out of
// order) counts as no time passing.
func (t *hlTable) recalc(e *hlEntry, now uint64) {
	if now <= e.prev {
		return
	}
	delta := now - e.prev
	mode := t.cfg.mode
	if mode&hlRateMatch != 0 {
		interval := uint64(e.interval) * uint64(t.hz)
		if delta < interval {
			return
		}
		e.prev = now
		e.prevWindow = e.currentRate*interval > delta*e.rate
		e.currentRate = 0
		return
	}
	e.prev = now
	var cap uint64
	if mode&hlBytes != 0 {
		old := e.credit
		e.credit += hlCPJBytes(t.hz) * delta
		cap = hlCPJBytes(t.hz) * uint64(t.hz)
		if old >= e.credit {
			e.credit = cap
			return
		}
	} else {
		e.credit += delta * hlCPJ(t.hz)
		cap = e.creditCap
	}
	if e.credit > cap {
		e.credit = cap
	}
}

// byteCost is hashlimit_byte_cost.
func (t *hlTable) byteCost(length int, e *hlEntry) uint64 {
	full := hlCPJBytes(t.hz) * uint64(t.hz)
	tmp := (uint64(uint32(length)>>hlByteShift) + 1) * e.cost
	if tmp > full {
		tmp = full
	}
	if e.credit < tmp && e.creditCap != 0 {
		e.creditCap--
		e.credit = full
	}
	return uint64(uint32(tmp))
}

// hashlimitMatcher is the compiled rule: its own configuration (which
// decides upto/above, bytes and rate-match) and the shared table.
type hashlimitMatcher struct {
	cfg  hlCfg
	name string
	t    *hlTable
}

// Match implements Matcher: hashlimit_mt_common. A packet whose group
// cannot be formed (ports unreadable) or that would need a new entry in
// a full table does not match, and Hotdrop then says the kernel drops it.
func (h *hashlimitMatcher) Match(c *Ctx) bool {
	_, r := h.match(c)
	return r
}

// Hotdrop is asked after Match said no: hashlimit_mt_common sets hotdrop
// for a packet whose group cannot be formed (hashlimit_init_dst finds
// fewer than 4 bytes of ports, a later fragment included) and for one
// that needs a new entry in a full table. It changes nothing.
func (h *hashlimitMatcher) Hotdrop(c *Ctx) bool {
	k, ok := h.t.key(c)
	if !ok {
		return true
	}
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	_, found := h.t.index[k]
	return !found && uint32(len(h.t.index)) >= h.t.cfg.max
}

// hlOutcome says why a packet matched or not, for Explain.
type hlOutcome uint8

const (
	hlUnder hlOutcome = iota
	hlOver
	hlHotdrop
	hlFull
)

func (h *hashlimitMatcher) match(c *Ctx) (hlOutcome, bool) {
	t := h.t
	k, ok := t.key(c)
	if !ok {
		return hlHotdrop, false
	}
	now := Jiffies(c.Now, t.hz)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gc(now)
	i, found := t.index[k]
	if !found {
		if uint32(len(t.index)) >= t.cfg.max {
			return hlFull, false
		}
		if n := len(t.free); n > 0 {
			i = t.free[n-1]
			t.free = t.free[:n-1]
		} else {
			t.ents = append(t.ents, hlEntry{})
			i = int32(len(t.ents) - 1)
		}
		t.index[k] = i
		e := &t.ents[i]
		*e = hlEntry{key: k}
		e.expires = now + t.expireJ
		t.init(e, now)
	} else {
		e := &t.ents[i]
		e.expires = now + t.expireJ
		t.recalc(e, now)
	}
	e := &t.ents[i]
	inv := h.cfg.mode&hlInvert != 0
	if h.cfg.mode&hlRateMatch != 0 {
		cost := uint64(1)
		if h.cfg.mode&hlBytes != 0 {
			cost = uint64(c.Pkt.TotalLen)
		}
		e.currentRate += cost
		if !e.prevWindow && e.currentRate <= uint64(e.burst) {
			return hlUnder, !inv
		}
		return hlOver, inv
	}
	var cost uint64
	if h.cfg.mode&hlBytes != 0 {
		cost = t.byteCost(c.Pkt.TotalLen, e)
	} else {
		cost = e.cost
	}
	if e.credit >= cost {
		e.credit -= cost
		return hlUnder, !inv
	}
	return hlOver, inv
}

// Explain implements Explainer. It reports the state after the packet.
func (h *hashlimitMatcher) Explain(c *Ctx, matched bool) string {
	k, ok := h.t.key(c)
	group := h.groupString(k)
	if !ok {
		return "hashlimit: the packet's ports cannot be read; the kernel drops it"
	}
	h.t.mu.Lock()
	_, found := h.t.index[k]
	full := uint32(len(h.t.index)) >= h.t.cfg.max
	h.t.mu.Unlock()
	if !found && full {
		return fmt.Sprintf("hashlimit: table %s is full (%d entries); the kernel drops the packet", h.name, h.t.cfg.max)
	}
	over := matched == (h.cfg.mode&hlInvert != 0)
	if over {
		return fmt.Sprintf("hashlimit: %s is over the rate in table %s", group, h.name)
	}
	return fmt.Sprintf("hashlimit: %s is within the rate in table %s", group, h.name)
}

func (h *hashlimitMatcher) groupString(k hlKey) string {
	mode := h.t.cfg.mode
	var parts []string
	addr := func(a Addr16) string {
		if h.t.fam == IPv6 {
			return netip.AddrFrom16(a).String()
		}
		return netip.AddrFrom4([4]byte(a[:4])).String()
	}
	if mode&hlSrcIP != 0 {
		parts = append(parts, "src "+addr(k.src))
	}
	if mode&hlSrcPort != 0 {
		parts = append(parts, "sport "+strconv.Itoa(int(k.srcPort)))
	}
	if mode&hlDstIP != 0 {
		parts = append(parts, "dst "+addr(k.dst))
	}
	if mode&hlDstPort != 0 {
		parts = append(parts, "dport "+strconv.Itoa(int(k.dstPort)))
	}
	if len(parts) == 0 {
		return "the rule's single group"
	}
	return strings.Join(parts, " ")
}
