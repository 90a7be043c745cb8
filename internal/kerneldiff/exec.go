package kerneldiff

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/internal/kernel"
	"github.com/ipsift/ipsift/ipset"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
	"github.com/ipsift/ipsift/sim"
	"golang.org/x/sys/unix"
)

// Packet is one packet of a generated sequence. Most are fixed
// descriptions; a reply or an ICMP error is addressed to what an earlier
// packet became in the kernel (after NAT), which only the run can know, so
// it names that packet and is resolved when its turn comes. The resolved
// description is what both the kernel and ipsift get, and what a report
// prints, so a reported case is always a plain packets file.
type Packet struct {
	Desc packet.Desc
	// Of is the index of the earlier packet this one answers, or -1.
	Of int
	// Answer says how: answerReply (the other direction of the same
	// flow, Desc giving flags, seq and ack) or answerICMP (an ICMP error
	// of Desc's type and code quoting the packet as it left).
	Answer answerKind
}

type answerKind uint8

const (
	answerNone answerKind = iota
	answerReply
	answerICMP
)

// Observation is what happened to one packet, in comparable form: the
// counters it raised (as a sorted multiset), the verdict, and the packets
// that left, described as the packets format does.
type Observation struct {
	Hits    string
	Verdict string
	Out     []string
	// Log holds the lines LOG rules wrote for the packet (log.go).
	Log []string
}

func (o Observation) String() string {
	s := fmt.Sprintf("verdict %s, hits [%s], out [%s]", o.Verdict, o.Hits, strings.Join(o.Out, "; "))
	if len(o.Log) > 0 {
		s += ", log [" + strings.Join(o.Log, " | ") + "]"
	}
	return s
}

// Difference is one packet on which the kernel and ipsift disagree.
type Difference struct {
	Index  int
	Packet packet.Desc
	Kernel Observation
	Ipsift Observation
	// Known is the name of the known ipsift bug this difference is, when
	// Config.Known recognised it; known differences do not fail a run.
	Known string
}

func (d Difference) String() string {
	s := fmt.Sprintf("packet %d %s:\n  kernel: %s\n  ipsift: %s", d.Index, d.Packet.String(), d.Kernel, d.Ipsift)
	if d.Known != "" {
		s += "\n  (known: " + d.Known + ")"
	}
	return s
}

// outcome is one case run through both.
type outcome struct {
	// descs are the packets as resolved, one per generated packet (an
	// answer to something that never left stays unresolved, unsent);
	// sent says which were sent.
	descs []packet.Desc
	sent  []bool
	diffs []Difference
	// refused is set when the kernel's iptables-restore refused the
	// ruleset: the generator made something the kernel does not take,
	// which says nothing about ipsift.
	refused error
	// loadErr is set when the kernel took the ruleset but ipsift did not.
	loadErr error
	// saveDiff describes how iptables-save's output differs from ipsift's
	// for the loaded ruleset ("" when it does not).
	saveDiff string
	// solicited counts the packets not compared because the kernel had
	// to ask for a neighbour (capture).
	solicited int
	// logLines counts ipsift's LOG lines compared with the kernel's.
	logLines int
	// unsupported is set when ipsift's simulator refused a packet as
	// one it cannot simulate yet (IPv6 before the engine ran ip6tables
	// rules): the packets from there on were not compared.
	unsupported error
}

// scope is a testing.TB whose Cleanup functions run when close is called
// rather than when the test ends, so that each case's namespaces go away
// as soon as it is done: a run of hundreds of rulesets (and a shrink of
// hundreds of candidates) would otherwise keep them all until the end.
type scope struct {
	testing.TB
	mu  sync.Mutex
	fns []func()
}

func (s *scope) Cleanup(f func()) {
	s.mu.Lock()
	s.fns = append(s.fns, f)
	s.mu.Unlock()
}

func (s *scope) close() {
	s.mu.Lock()
	fns := s.fns
	s.fns = nil
	s.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// onLink finds the addresses a ruleset names on the firewall's subnets,
// which need neighbour entries (DNAT targets, say).
var onLink = regexp.MustCompile(`\b(?:192\.0\.2|198\.51\.100)\.\d{1,3}\b|\b2001:db8:(?:100|2)::[0-9a-f]{1,4}\b`)

var subnets = map[string]netip.Prefix{
	"eth0":  netip.MustParsePrefix("198.51.100.0/24"),
	"wlan0": netip.MustParsePrefix("192.0.2.0/24"),
}

// netmapOutside is the prefix gen6.go's NETMAP rules map onto wlan0's.
var netmapOutside = netip.MustParsePrefix(npt6Outside)

// subnets6 are the IPv6 host's on-link prefixes.
var subnets6 = map[string]netip.Prefix{
	"eth0":  netip.MustParsePrefix("2001:db8:100::/64"),
	"wlan0": netip.MustParsePrefix("2001:db8:2::/64"),
}

// needsNeighbour reports whether the firewall would resolve a on
// interface ifname: an on-link address that is not the host's own, nor
// IPv4 broadcast, nor the IPv6 subnet-router anycast address.
func needsNeighbour(a netip.Addr, ifname string) bool {
	if a.Is4() {
		last := a.As4()[3]
		return subnets[ifname].Contains(a) && last != 255 && last != 1
	}
	return subnets6[ifname].Contains(a) && !isHostAddr(a) && !isAnycast6(a)
}

// neighbours writes one ip -batch file of permanent neighbour entries for
// every on-link address of the packets and the ruleset, so the firewall
// never waits for ARP (the peers never answer). One ip process instead of
// one per address keeps a fresh firewall cheap.
func neighbours(fw *kernel.Firewall, dir, ruleset string, pkts []Packet) error {
	var addrs []netip.Addr
	for _, m := range onLink.FindAllString(ruleset, -1) {
		if a, err := netip.ParseAddr(m); err == nil {
			addrs = append(addrs, a)
		}
	}
	for _, p := range pkts {
		addrs = append(addrs, p.Desc.Src, p.Desc.Dst, p.Desc.Target)
		if p.Desc.Inner != nil {
			addrs = append(addrs, p.Desc.Inner.Src, p.Desc.Inner.Dst)
		}
		for _, e := range p.Desc.Ext {
			addrs = append(addrs, e.Addrs...)
		}
	}
	// NETMAP maps the IPv6 outside prefix onto wlan0's subnet with the
	// host bits kept (gen6.go): those addresses are on-link too.
	for _, a := range addrs {
		if a.IsValid() && netmapOutside.Contains(a) {
			b := a.As16()
			copy(b[:8], subnets6["wlan0"].Addr().AsSlice()[:8])
			addrs = append(addrs, netip.AddrFrom16(b))
		}
	}
	var b strings.Builder
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		if !a.IsValid() || seen[a] {
			continue
		}
		seen[a] = true
		for _, ifname := range []string{"eth0", "wlan0"} {
			// A link-local address is on both links (a local packet to
			// one leaves by eth0, an answer by the link it came from):
			// packets.md makes every neighbour a file uses permanent.
			if needsNeighbour(a, ifname) || a.IsLinkLocalUnicast() && !isHostAddr(a) {
				fmt.Fprintf(&b, "neigh replace %s lladdr %s dev %s nud permanent\n", a, peerMAC(fw, ifname), ifname)
			}
		}
	}
	if b.Len() == 0 {
		return nil
	}
	f := filepath.Join(dir, fmt.Sprintf("neigh-%s.batch", fw.NS))
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		return err
	}
	defer os.Remove(f)
	_, err := fw.Run("ip", "-batch", f)
	return err
}

func peerMAC(fw *kernel.Firewall, ifname string) string {
	for _, l := range fw.Links() {
		if l.Name == ifname {
			return l.PeerMAC.String()
		}
	}
	return ""
}

// hostSettings are sysctls this package sets on top of the harness's
// host: ipsift's host model sends no ICMP redirects, so the kernel must
// not either (a packet forwarded back out of the interface it came in on
// would otherwise draw one, through OUTPUT and POSTROUTING). The per
// interface switches count too: the kernel ORs them with "all".
var hostSettings = []string{
	"net.ipv4.conf.all.send_redirects=0",
	"net.ipv4.conf.default.send_redirects=0",
	"net.ipv4.conf.eth0.send_redirects=0",
	"net.ipv4.conf.wlan0.send_redirects=0",
}

// setup says how one case is loaded on each side. By default the kernel
// gets kernelRules with iptables-restore; load, when set, loads the
// kernel some other way (a script run with the real iptables, say), and
// kernelRules then only names the addresses that need neighbour
// entries. ipsift reads ipsiftRules (a restore file or a script) under
// the name ipsiftName. tamper, when set, changes ipsift's result for
// each packet before it is compared: a test's planted bug.
type setup struct {
	kernelRules string
	load        func(*kernel.Firewall) error
	ipsiftName  string
	ipsiftRules string
	tamper      func(*sim.Result)
	// sets is ipset restore input loaded into both sides before the
	// rules; after, when set, runs once every packet has been compared,
	// with the kernel's firewall and ipsift's sets as they ended.
	sets  string
	after func(fw *kernel.Firewall, sets *ipset.Registry)
	// six says the rules are ip6tables rules (and the packets IPv6):
	// the kernel host gets its IPv6 twin and loads them with
	// ip6tables-restore, ipsift reads them as ip6tables-restore input.
	six bool
	// groups are device groups of the host's interfaces (name to
	// group): set on the kernel's links with `ip link set dev X group
	// N` and on ipsift's default host.
	groups map[string]uint32
}

// execute loads a fresh kernel firewall of backend b and ipsift as su
// says, sends pkts through both one by one and returns the differences.
// Counters are read from the kernel (netlink or getsockopt,
// kernel.Firewall.Counters) once per packet: each snapshot is the
// "after" of one packet and the "before" of the next.
func execute(tb testing.TB, b kernel.Backend, su setup, pkts []Packet) *outcome {
	sc := &scope{TB: tb}
	defer sc.close()
	fw := kernel.NewFirewallWith(sc, b, kernel.Options{IPv6: su.six})
	fam := family4
	if su.six {
		fam = family6
	}
	// Capture waits for stragglers only briefly; reading the counters
	// that follows each packet gives them a little more, and a second
	// capture after it collects them.
	fw.CaptureWait = 200 * time.Microsecond
	res := &outcome{}
	kernelRules, ipsiftRules := su.kernelRules, su.ipsiftRules
	var lc *logCheck
	if su.load == nil && kernelRules == ipsiftRules {
		if lc = newLogCheck(kernelRules); lc != nil {
			kernel.EnableNamespaceLog(sc) // held until this case ends
			kernelRules = lc.tagRules(kernelRules)
			ipsiftRules = kernelRules
		}
	}
	loadKernel := su.load
	if loadKernel == nil {
		loadKernel = func(fw *kernel.Firewall) error { return fam.restore(fw, kernelRules) }
	}
	if su.sets != "" {
		loadRules := loadKernel
		loadKernel = func(fw *kernel.Firewall) error {
			if err := fw.RestoreSets(su.sets); err != nil {
				return err
			}
			return loadRules(fw)
		}
		// ipsift reads the sets as an ipset save section before the rules.
		ipsiftRules = su.sets + ipsiftRules
	}
	h := host.Default()
	for dev, g := range su.groups {
		ifc := h.Iface(dev)
		if ifc == nil {
			tb.Fatalf("kerneldiff: no interface %s for group %d", dev, g)
		}
		ifc.Group = g
		if err := fw.SetGroup(dev, g); err != nil {
			tb.Fatalf("kerneldiff: %v", err)
		}
	}
	if err := loadKernel(fw); err != nil {
		res.refused = err
		return res
	}
	name := su.ipsiftName
	if name == "" {
		name = "generated.rules"
	}
	lr, ours := LoadFamily(name, ipsiftRules, su.six)
	if ours == nil {
		res.loadErr = lr.Err()
		return res
	}
	if su.load == nil && su.sets == "" && kernelRules == ipsiftRules {
		// iptables-save of what both loaded, table by table (the
		// backends order tables differently: DIFFERENCES.md).
		ks, err := fam.save(fw)
		if err != nil {
			tb.Fatalf("kerneldiff: %v", err)
		}
		var is strings.Builder
		ours.Save(&is, rules.SaveOptions{})
		res.saveDiff = saveDifference(b, ks, is.String())
	}
	// Every chain classified, however short (the default would walk the
	// harness's short chains): the kernel judges the compiled walk.
	e, err := engine.New(ours, h, engine.Config{Legacy: b == kernel.Legacy, Sets: lr.Sets, Classify: engine.ClassifyCompiled})
	if err != nil {
		res.loadErr = err
		return res
	}
	if lc != nil {
		e.Log = &lc.ours
	}
	args := append([]string{"sysctl", "-q", "-w"}, hostSettings...)
	if _, err := fw.Run(args...); err != nil {
		tb.Fatalf("kerneldiff: %v", err)
	}
	if err := neighbours(fw, os.TempDir(), kernelRules, pkts); err != nil {
		tb.Fatalf("kerneldiff: neighbours: %v", err)
	}
	s := sim.New(e)
	s.LocalOwner = &engine.Owner{} // the harness's raw socket is root's
	lr.Sets.Shift(s.Now)           // the file's sets start on the engine's clock
	prev, err := fam.counters(fw)
	if err != nil {
		tb.Fatalf("kerneldiff: %v", err)
	}
	ipPrev, err := fam.delivered(fw)
	if err != nil {
		tb.Fatalf("kerneldiff: %v", err)
	}
	kernelOut := make([][]sim.Out, len(pkts)) // what each packet became, for answers to it
	var last time.Time
	ports := newPortAliases()
	minGap := PacketGap(kernelRules, su.six)
	for i, p := range pkts {
		d, ok := resolve(p, pkts, res.descs, kernelOut)
		res.descs = append(res.descs, d)
		res.sent = append(res.sent, ok)
		if !ok {
			continue // an answer to something that is not there: nothing to send
		}
		data, err := d.Build(i)
		if err != nil {
			tb.Fatalf("kerneldiff: packet %d %s: %v", i, d.String(), err)
		}
		if d.DelayMS > 0 {
			time.Sleep(time.Duration(d.DelayMS) * time.Millisecond)
		}
		if gap := time.Since(last); !last.IsZero() && gap < minGap {
			time.Sleep(minGap - gap)
		}
		if su.six {
			awaitMidJiffy()
		}
		sent, sentMono := time.Now(), monotonicNow()
		if d.Local {
			err = fw.SendLocal(data)
		} else {
			if d.SrcMAC.IsZero() {
				err = fw.Inject(d.In, data)
			} else {
				err = fw.InjectFrom(d.In, d.SrcMAC[:], data)
			}
		}
		// A local packet that OUTPUT drops or rejects fails the send
		// itself (EPERM, or the error the REJECT reports): that is the
		// verdict, not a failure of the run.
		if err != nil && !(d.Local && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ECONNREFUSED) ||
			errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EACCES))) {
			tb.Fatalf("kerneldiff: sending packet %d: %v", i, err)
		}
		if d.Local && d.Dst.Is6() && d.Dst.IsMulticast() && err == nil {
			awaitLoopedCopy(fw, fam, ipPrev)
		}
		out, asked, err := capture(fw, su.six)
		if err != nil {
			tb.Fatalf("kerneldiff: packet %d: %v", i, err)
		}
		after, err := fam.counters(fw)
		if err != nil {
			tb.Fatalf("kerneldiff: %v", err)
		}
		more, asked2, err := capture(fw, su.six)
		if err != nil {
			tb.Fatalf("kerneldiff: packet %d: %v", i, err)
		}
		asked = asked || asked2
		ipAfter, err := fam.delivered(fw)
		if err != nil {
			tb.Fatalf("kerneldiff: %v", err)
		}
		// ipsift gets exactly the gap the kernel saw between the two
		// packets, so time-dependent matches see the same time.
		sd := ports.toIpsift(d)
		sd.DelayMS = 0
		if !last.IsZero() {
			s.Now += sent.Sub(last).Nanoseconds()
		} else {
			// The kernel's jiffies tick at multiples of 4 ms of
			// CLOCK_MONOTONIC (tick_init_jiffy_update aligns them):
			// ipsift's clock takes the same phase at the first
			// packet, so that both count the same jiffies between
			// packets (the inet_peer limits, connlimit's collection).
			s.Now += ((sentMono-s.Now)%jiffyNS + jiffyNS) % jiffyNS
		}
		last = sent
		got, err := s.Run(i, sd)
		if err != nil && notYet(err) {
			// ipsift cannot say yet; the kernel's side still runs, so
			// that later answers are addressed as they will be and the
			// harness's own part (building, sending, capturing,
			// neighbours) is exercised.
			res.unsupported = err
			res.sent[i] = false
			if lc != nil {
				lc.packet() // this packet's lines are not the next one's
			}
			hits := kernel.Diff(prev, after)
			prev, ipPrev = after, ipAfter
			kres := sim.Convert(i, &engine.Result{Out: capturedFrames(out, more)})
			var kobs Observation
			kobs, _, kernelOut[i] = compare(d, hits, false, kres.Out, &sim.Result{}, ports)
			if debugKernelOnly != nil {
				debugKernelOnly(d, kobs)
			}
			continue
		}
		if err != nil {
			tb.Fatalf("kerneldiff: ipsift, packet %d: %v", i, err)
		}
		if su.tamper != nil {
			su.tamper(got)
		}
		kres := sim.Convert(i, &engine.Result{Out: capturedFrames(out, more)})
		hits := kernel.Diff(prev, after)
		// Answers the host sent itself (over lo, or a broadcast's copy)
		// count as delivered too; ipsift says how many there were.
		delivered := ipAfter.InDelivers+ipAfter.InUnknownProtos > ipPrev.InDelivers+ipPrev.InUnknownProtos+uint64(got.SelfDelivered)
		prev, ipPrev = after, ipAfter
		ports.toKernel(got.Out)
		kobs, iobs, kouts := compare(d, hits, delivered, kres.Out, got, ports)
		kernelOut[i] = kouts
		if lc != nil {
			if kobs.Log, iobs.Log, err = lc.packet(); err != nil {
				tb.Fatalf("kerneldiff: LOG lines: %v", err)
			}
			res.logLines += len(iobs.Log)
		}
		if asked {
			res.solicited++
			res.sent[i] = false
			continue
		}
		if !equalObs(kobs, iobs) {
			res.diffs = append(res.diffs, Difference{Index: i, Packet: d, Kernel: kobs, Ipsift: iobs})
		}
	}
	if su.after != nil {
		su.after(fw, lr.Sets)
	}
	return res
}

// PacketGap is the least time between two packets sent to a kernel
// firewall loaded with kernelRules for its counts to be reproducible.
// connlimit cleans its lists at most once per jiffy (4 ms) and, until
// two jiffies have passed, spares a counted connection that another CPU
// added and the table does not hold yet: packets closer than two
// jiffies could fall in one jiffy on one side of a comparison and in
// two on the other, or be processed on another CPU. Such rulesets get
// their packets 10 ms apart. The IPv6 host's rate limits (Redirects,
// ICMPv6 errors, one inet_peer bucket per address) count in jiffies
// too, and an error empties its address's bucket only when a jiffy has
// passed since the bucket was last used: IPv6 packets go 10 ms apart as
// well.
func PacketGap(kernelRules string, six bool) time.Duration {
	if strings.Contains(kernelRules, "-m connlimit") || six {
		return 10 * time.Millisecond
	}
	return 0
}

// jiffyNS is the kernel's tick (HZ=250) in nanoseconds.
const jiffyNS = int64(4_000_000)

// The part of a jiffy awaitMidJiffy sends in: far enough from its
// start that the tick interrupt has counted it (jiffies moves when the
// interrupt runs, a little after the boundary of CLOCK_MONOTONIC) and
// from its end that the kernel's handling of the packet (tens of
// microseconds) ends before the next.
const (
	jiffySendFrom = int64(1_000_000)
	jiffySendTo   = int64(2_500_000)
)

// awaitMidJiffy waits, a few tries at most, until the monotonic clock
// is between jiffySendFrom and jiffySendTo into a jiffy, so that the
// kernel handles the packet sent next within one jiffy. The IPv6 host
// reads jiffies more than once for one packet: a forwarded packet's
// Redirect takes a token of its source's inet_peer bucket in
// ip6_forward, and an ICMPv6 error that a rule then sends for the same
// packet counts the same bucket with a timeout of 0, which empties it
// if a tick came in between (regression case
// fx6-redirect-after-reject-fragment: the next packet's Redirect was
// then refused, once in a full run under load 20). ipsift handles a
// packet at one instant, as the kernel does when no tick falls inside
// it; sent at a random moment, a packet meets a tick as often as tens
// of microseconds go into 4 ms, and more often on a loaded machine,
// whose CPU may be taken from the kernel's work in between.
func awaitMidJiffy() {
	for range 8 {
		p := monotonicNow() % jiffyNS
		if p >= jiffySendFrom && p < jiffySendTo {
			return
		}
		wait := jiffySendFrom + (jiffySendTo-jiffySendFrom)/4 - p
		if wait < 0 {
			wait += jiffyNS
		}
		time.Sleep(time.Duration(wait))
	}
}

// monotonicNow is CLOCK_MONOTONIC, the clock the kernel's ticks follow.
func monotonicNow() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return ts.Nano()
}

// awaitLoopedCopy waits (up to loopWait) for the copy of a local IPv6
// multicast packet that ip6_finish_output2 loops back to the host: it
// comes in through netif_rx's backlog, which on a loaded machine runs
// after the send returns, so its PREROUTING and INPUT counters could be
// read before it got there (or with the next packet's). A group the
// host has not joined, or a packet OUTPUT or POSTROUTING dropped, makes
// no copy: the wait then runs out.
func awaitLoopedCopy(fw *kernel.Firewall, fam family, before kernel.IPCounters) {
	deadline := time.Now().Add(loopWait)
	for time.Now().Before(deadline) {
		if c, err := fam.delivered(fw); err != nil || c.InReceives > before.InReceives {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// loopWait bounds awaitLoopedCopy.
const loopWait = 100 * time.Millisecond

// notYetRule finds the line of the rule an engine error names when
// ipsift says it cannot run it yet (an IPv6 feature still to come).
var (
	notYetRule = regexp.MustCompile(`^generated\.rules:(\d+):\d+: (?:table \S+ chain \S+ rule \d+: )?(.*\byet\b[^(]*)`)
	natTable   = regexp.MustCompile(`(?s)\*nat\n.*?COMMIT\n`)
)

// runnable returns rs without the rules ipsift's engine refuses to run
// yet (it names them: an IPv6 feature whose simulation is still to come,
// conntrack or NAT66 before they land), and why each went: the kernel
// and ipsift then compare what ipsift can run, and nothing is left out
// once it runs everything. A rule that needs connection tracking takes
// the nat table with it, since the table alone turns the kernel's
// connection tracking (and reassembly) on.
func runnable(rs string, b kernel.Backend, six bool) (string, []string) {
	var left []string
	for range 500 {
		lr, ours := LoadFamily("generated.rules", rs, six)
		if ours == nil {
			return rs, left // execute reports it
		}
		_, err := engine.New(ours, nil, engine.Config{Legacy: b == kernel.Legacy, Sets: lr.Sets, Classify: engine.ClassifyCompiled})
		if err == nil {
			return rs, left
		}
		m := notYetRule.FindStringSubmatch(err.Error())
		if m == nil {
			return rs, left
		}
		n, _ := strconv.Atoi(m[1])
		lines := strings.SplitAfter(rs, "\n")
		if n < 1 || n > len(lines) || !strings.HasPrefix(lines[n-1], "-A ") {
			return rs, left
		}
		left = append(left, strings.TrimSpace(m[2]))
		rs = strings.Join(slices.Delete(lines, n-1, n), "")
		if strings.Contains(m[2], "connection tracking") {
			rs = natTable.ReplaceAllString(rs, "")
		}
	}
	return rs, left
}

// capture is fw.CaptureAll. On the IPv6 host, a neighbour the firewall
// asks for (an address the harness did not foresee) gets its entry, so
// that the packet it held leaves and the run goes on; asked says so, for
// the packet is then not compared: the solicitation went through OUTPUT
// and POSTROUTING and raised their counters, which the reference host,
// whose neighbours are all permanent (packets.md), never does.
//
// A late unsolicited MLD report (the host still reporting its groups
// after kernel.NewFirewallWith's settling, on a loaded machine) is left
// out and also makes the packet not compared: the generated packets
// never include an MLD query, so no report answers one, but the report
// passed OUTPUT and POSTROUTING.
func capture(fw *kernel.Firewall, six bool) (out map[string][][]byte, asked bool, err error) {
	out, err = fw.CaptureAll()
	if !six {
		return out, false, err
	}
	defer func() {
		for ifname, frames := range out {
			kept := slices.DeleteFunc(frames, kernel.IsMLDReport)
			asked = asked || len(kept) < len(frames)
			out[ifname] = kept
		}
	}()
	for range 4 {
		missing, rest := kernel.MissingNeighbours(err)
		if rest != nil || len(missing) == 0 {
			return out, asked, rest
		}
		asked = true
		for _, m := range missing {
			if !subnets6[m.Iface].Contains(m.Addr) && !m.Addr.IsLinkLocalUnicast() {
				return out, asked, &m
			}
			if err := fw.AddNeighbour(m.Iface, m.Addr); err != nil {
				return out, asked, err
			}
		}
		var more map[string][][]byte
		more, err = fw.CaptureAll()
		for ifname, frames := range more {
			out[ifname] = append(out[ifname], frames...)
		}
	}
	return out, asked, err
}

// debugKernelOnly, when set, sees each packet only the kernel ran (see
// notYet) with what the kernel did.
var debugKernelOnly func(packet.Desc, Observation)

// capturedFrames lists what left the kernel's interfaces, in the order
// of the captures, interface by interface.
func capturedFrames(caps ...map[string][][]byte) []engine.OutPacket {
	var frames []engine.OutPacket
	for _, m := range caps {
		for _, ifname := range sortedIfaces(m) {
			for _, fr := range m[ifname] {
				frames = append(frames, engine.OutPacket{Iface: ifname, Data: fr})
			}
		}
	}
	return frames
}

// notYet reports whether ipsift's simulator refused a packet because it
// cannot simulate its kind yet (sim.Run's "cannot be simulated yet"),
// rather than for being wrong.
func notYet(err error) bool {
	return strings.Contains(err.Error(), "cannot be simulated yet")
}

// family is what differs between the IPv4 and the IPv6 side of a case:
// the tools that load and save rules, the counters and the stack
// counters read.
type family struct {
	restore   func(*kernel.Firewall, string) error
	save      func(*kernel.Firewall) (string, error)
	counters  func(*kernel.Firewall) (map[kernel.RuleKey]kernel.Counter, error)
	delivered func(*kernel.Firewall) (kernel.IPCounters, error)
}

var (
	family4 = family{(*kernel.Firewall).Restore, (*kernel.Firewall).Save, (*kernel.Firewall).Counters, (*kernel.Firewall).Delivered}
	family6 = family{(*kernel.Firewall).Restore6, (*kernel.Firewall).Save6, (*kernel.Firewall).Counters6, (*kernel.Firewall).Delivered6}
)

// sentDescs are the packets that were sent: a reported case replays
// exactly these.
func (o *outcome) sentDescs() []packet.Desc {
	var out []packet.Desc
	for i, d := range o.descs {
		if o.sent[i] {
			out = append(out, d)
		}
	}
	return out
}

// saveDifference compares two iptables-save outputs table by table:
// the chain lines (policies, counters) and the rule lines, in order,
// allowing for what DIFFERENCES.md lists and nothing more: the installed
// iptables 1.8.9 names protocols outside its own list from
// /etc/protocols (-p gre, where 1.8.11 and ipsift print -p 47), and
// iptables-nft-save prints a rule with a repeated -m tcp or -m udp as
// one match (nftMerged: ipsift's line is merged that way before it is
// compared, so the rest of the rule must still be equal).
func saveDifference(b kernel.Backend, kernelSave, ipsiftSave string) string {
	k, i := saveTables(kernelSave), saveTables(ipsiftSave)
	for _, kl := range k {
		for j := range kl {
			kl[j] = protoNumbers(kl[j])
		}
	}
	for _, il := range i {
		for j := range il {
			il[j] = numbered1811(il[j])
			if b == kernel.NFT {
				il[j] = nftMerged(il[j])
			}
		}
	}
	var names []string
	for n := range k {
		names = append(names, n)
	}
	for n := range i {
		if _, ok := k[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out strings.Builder
	for _, n := range names {
		if kl, il := strings.Join(k[n], "\n"), strings.Join(i[n], "\n"); kl != il {
			fmt.Fprintf(&out, "table %s:\n  kernel:\n%s\n  ipsift:\n%s\n", n, indent(kl), indent(il))
		}
	}
	return out.String()
}

// nftMerged returns a rule line as iptables-nft-save prints it back when
// the rule has more than one -m tcp (or -m udp) match: iptables-nft turns
// their ports and flags into nf_tables payload expressions, and reading
// them back fills a single match, at the place of the first, with the
// last value of each option winning, negated when any of its values was,
// printed in the order --sport, --dport, --tcp-flags. A match with --tcp-option stays
// the xt_tcpudp match and is left as it is. A line with at most one such
// match, or with an option this does not know, is returned unchanged.
func nftMerged(line string) string {
	f := strings.Fields(line)
	type seg struct{ start, end int }
	var segs []seg // the mergeable matches, all of one protocol
	proto := ""
	for i := 0; i < len(f); i++ {
		if f[i] != "-m" || i+1 >= len(f) || (f[i+1] != "tcp" && f[i+1] != "udp") {
			continue
		}
		end := i + 2
		for end < len(f) && f[end] != "-m" && f[end] != "-j" && f[end] != "-g" {
			end++
		}
		if slices.Contains(f[i+2:end], "--tcp-option") {
			continue
		}
		if proto != "" && proto != f[i+1] {
			return line
		}
		proto = f[i+1]
		segs = append(segs, seg{i, end})
	}
	if len(segs) < 2 {
		return line
	}
	type opt struct {
		neg  bool
		vals []string
	}
	opts := map[string]*opt{}
	for _, sg := range segs {
		neg := false
		for i := sg.start + 2; i < sg.end; i++ {
			name, n := f[i], 1
			switch name {
			case "!":
				neg = true
				continue
			case "--sport", "--source-port":
				name = "--sport"
			case "--dport", "--destination-port":
				name = "--dport"
			case "--tcp-flags":
				n = 2
			default:
				return line
			}
			if i+n >= sg.end {
				return line
			}
			if o := opts[name]; o != nil && o.neg {
				neg = true // iptables-nft-save ORs the inversions in
			}
			opts[name] = &opt{neg, f[i+1 : i+1+n]}
			neg = false
			i += n
		}
	}
	merged := []string{"-m", proto}
	for _, name := range []string{"--sport", "--dport", "--tcp-flags"} {
		if o := opts[name]; o != nil {
			if o.neg {
				merged = append(merged, "!")
			}
			merged = append(merged, name)
			merged = append(merged, o.vals...)
		}
	}
	out := slices.Clone(f[:segs[0].start])
	out = append(out, merged...)
	for k, sg := range segs {
		next := len(f)
		if k+1 < len(segs) {
			next = segs[k+1].start
		}
		out = append(out, f[sg.end:next]...)
	}
	return strings.Join(out, " ")
}

// iptablesProtos are the names iptables prints itself; the installed
// 1.8.9 prints other protocols by their /etc/protocols names.
var iptablesProtos = map[string]bool{"tcp": true, "udp": true, "udplite": true, "icmp": true, "icmpv6": true, "esp": true, "ah": true, "sctp": true, "mh": true, "all": true}

var etcProtocols = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	data, err := os.ReadFile("/etc/protocols")
	if err != nil {
		return m
	}
	for l := range strings.Lines(string(data)) {
		if f := strings.Fields(l); len(f) >= 2 && !strings.HasPrefix(f[0], "#") {
			m[f[0]] = f[1]
		}
	}
	return m
})

// protoNumbers rewrites "-p NAME" with NAME from /etc/protocols as the
// number iptables 1.8.11 prints. Only that word changes: the rest of the
// line stays byte for byte, so that the spaces inside a quoted value
// (--log-prefix "FIREWALL:INPUT  ") are compared as the kernel printed
// them.
func protoNumbers(line string) string {
	f := strings.Fields(line)
	for j := 0; j+1 < len(f); j++ {
		if f[j] == "-p" && !iptablesProtos[f[j+1]] {
			if n, ok := etcProtocols()[f[j+1]]; ok {
				line = strings.Replace(line, " -p "+f[j+1], " -p "+n, 1)
			}
		}
	}
	return line
}

// names1811 are the protocols iptables 1.8.11 prints by name where the
// installed 1.8.9 prints their numbers (`-p 58`, `-p 135`): ipsift's
// names are turned into those numbers before lines are compared.
var names1811 = map[string]string{"ipv6-icmp": "58", "mobility-header": "135"}

// numbered1811 rewrites the -p word of a line of ipsift's as 1.8.9
// prints it (names1811), leaving the rest byte for byte.
func numbered1811(line string) string {
	f := strings.Fields(line)
	for j := 0; j+1 < len(f); j++ {
		if n, ok := names1811[f[j+1]]; ok && f[j] == "-p" {
			line = strings.Replace(line, " -p "+f[j+1], " -p "+n, 1)
		}
	}
	return line
}

func saveTables(save string) map[string][]string {
	out := map[string][]string{}
	cur := ""
	for l := range strings.Lines(save) {
		l = strings.TrimRight(l, "\n")
		switch {
		case strings.HasPrefix(l, "*"):
			cur = l[1:]
			out[cur] = nil
		case cur != "" && (strings.HasPrefix(l, ":") || strings.HasPrefix(l, "-A ")):
			out[cur] = append(out[cur], l)
		}
	}
	return out
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

func sortedIfaces(m map[string][][]byte) []string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func equalObs(a, b Observation) bool {
	return a.Hits == b.Hits && a.Verdict == b.Verdict && slices.Equal(a.Out, b.Out) && slices.Equal(a.Log, b.Log)
}

// compare turns the kernel's observations and ipsift's result for packet
// d into comparable form. Every packet that left on the wire is
// compared, REJECT's answers and the host stack's alike: only the
// counters the host's own answers raise in OUTPUT (and POSTROUTING unless
// the packet itself went that way) are left out, as packets.md says, for
// the kernel's counters cannot tell them from the packet's own. It also
// returns the kernel's packets that left, without answers, for later
// packets that answer them.
//
// The verdicts come from what each side did, the same way: the kernel
// rejected a packet that was neither delivered nor sent on when a
// REJECT's answer to it left (one ipsift also sent as a target's answer,
// or one shaped like REJECT's: a RST or an unreachable of a code REJECT
// sends, back to the packet's source). ipsift's "reject" whose answer
// never left (OUTPUT dropped it, or it went to the host itself over lo)
// is a drop to anyone watching the wire, and so compared as one.
func compare(d packet.Desc, hits map[kernel.RuleKey]kernel.Counter, delivered bool, kout []sim.Out, got *sim.Result, ports *portAliases) (kobs, iobs Observation, kept []sim.Out) {
	var ours []string
	rejectLeft := false
	for _, o := range got.Out {
		// The harness captures on eth0 and wlan0 only: what the host
		// sends itself over lo (a REJECT's answer to a local packet) is
		// not observable.
		if o.If == "lo" {
			continue
		}
		ours = append(ours, outString(o))
		// Only a REJECT-shaped answer, as on the kernel's side: a
		// Redirect or SNPT/DNPT's parameter problem is an answer of
		// another kind, though the engine calls a packet that drew one
		// and was then dropped 'reject'.
		if o.Answer && !o.HostReply && rejectShaped(o) {
			rejectLeft = true
		}
	}
	pool := map[string]int{}
	for _, o := range ours {
		pool[o]++
	}
	// What ipsift sent as an answer tells which of the kernel's matching
	// packets are answers, whatever their shape: a target's (REJECT's)
	// or the host stack's.
	answers, stackAnswers := map[string]int{}, map[string]int{}
	for _, o := range got.Out {
		switch {
		case o.If == "lo":
		case o.HostReply:
			stackAnswers[outString(o)]++
		case o.Answer:
			answers[outString(o)]++
		}
	}
	kverdict := "drop"
	if delivered && !d.Local {
		kverdict = "accept-local"
	}
	rejected := false
	var theirs []string
	for _, o := range kout {
		s := outString(o)
		if natPort(o, d) && len(ours) > 0 {
			// The kernel picked a new source port on a clash, at random:
			// any port of the same class will do when ipsift picked one
			// too (compared by property, not exactly).
			for k, our := range got.Out {
				if !our.HostReply && natPort(our, d) && portClass(*our.Sport) == portClass(*o.Sport) {
					o2 := o
					o2.Sport = got.Out[k].Sport
					if pool[outString(o2)] > 0 {
						s = outString(o2)
						// Later packets of the flow (replies, errors
						// quoting it) use each side's own port.
						ports.add(netip.MustParseAddr(o.Src), *o.Sport, *our.Sport)
						break
					}
				}
			}
		}
		answer, declared, byReject := hostAnswer(o, d), false, false
		if pool[s] > 0 {
			pool[s]--
			switch {
			case answers[s] > 0:
				// A target's answer; only REJECT's make the verdict
				// "reject" (a Redirect from the forwarding path is an
				// answer of another kind).
				answers[s]--
				answer, declared, byReject = true, true, rejectShaped(o)
			case stackAnswers[s] > 0:
				stackAnswers[s]--
				answer, declared = true, true
			}
		} else if answer {
			byReject = rejectShaped(o)
		}
		theirs = append(theirs, s)
		if byReject {
			rejected = true
		}
		if !answer || d.Local {
			kept = append(kept, o)
			if d.Local && !declared {
				kverdict = "sent"
			} else if !d.Local && kverdict == "drop" {
				kverdict = "forward"
			}
		}
	}
	if kverdict == "drop" && rejected {
		kverdict = "reject"
	}
	iverdict := got.Verdict
	if iverdict == "reject" && !rejectLeft {
		iverdict = "drop"
	}
	keep := func(chain string, verdict string) bool {
		if d.Local {
			// A local packet never passes PREROUTING or INPUT itself:
			// counters there belong to answers the host sent itself.
			return chain != "PREROUTING" && chain != "INPUT"
		}
		return chain != "OUTPUT" && (chain != "POSTROUTING" || verdict == "forward")
	}
	var kh, ih []string
	for k, c := range hits {
		if keep(k.Chain, kverdict) {
			for j := uint64(0); j < c.Packets; j++ {
				kh = append(kh, hitString(k.Table, k.Chain, k.Rule))
			}
		}
	}
	// The kernel's counters cannot tell the packet's own hits from its
	// answers': both sides go through the same filter (keep), ipsift's
	// with its answers' counters (reply_hits) added. For local packets
	// packets.md puts everything in hits already.
	ihits := append(slices.Clip(got.Hits), got.ReplyHits...)
	for _, h := range ihits {
		if keep(h.Chain, iverdict) {
			ih = append(ih, hitString(h.Table, h.Chain, h.Rule))
		}
	}
	sort.Strings(kh)
	sort.Strings(ih)
	sort.Strings(theirs)
	sort.Strings(ours)
	kobs = Observation{Hits: strings.Join(kh, " "), Verdict: kverdict, Out: theirs}
	iobs = Observation{Hits: strings.Join(ih, " "), Verdict: iverdict, Out: ours}
	return kobs, iobs, kept
}

// rejectShaped reports whether an answer is one REJECT sends (a RST, or
// a destination unreachable of one of --reject-with's codes) rather than
// one the forwarding path sends itself (time exceeded, fragmentation
// needed, parameter problem).
func rejectShaped(o sim.Out) bool {
	switch o.Proto {
	case "tcp":
		return o.Flags != nil && strings.Contains(*o.Flags, "R")
	case "icmp":
		if o.Type == nil || *o.Type != 3 || o.Code == nil {
			return false
		}
		switch *o.Code {
		case 0, 1, 2, 3, 9, 10, 13:
			return true
		}
		return false
	}
	// ICMPv6: destination unreachable, the codes ip6t_REJECT sends
	// (no-route, adm-prohibited, addr-unreachable, port-unreachable,
	// policy-fail, reject-route).
	if isICMP(o.Proto) && o.Type != nil && *o.Type == 1 && o.Code != nil {
		switch *o.Code {
		case 0, 1, 3, 4, 5, 6:
			return true
		}
	}
	return false
}

func hitString(table, chain string, rule int) string {
	if rule == 0 {
		return table + "/" + chain + "/policy"
	}
	return fmt.Sprintf("%s/%s/%d", table, chain, rule)
}

// outString describes a packet that left: interface, protocol,
// addresses and ports, tcp flags, icmp type and code and what an icmp
// error quotes.
func outString(o sim.Out) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %v %s", o.If, o.Proto, o.Src)
	if o.Sport != nil {
		fmt.Fprintf(&b, ":%d", *o.Sport)
	}
	fmt.Fprintf(&b, ">%s", o.Dst)
	if o.Dport != nil {
		fmt.Fprintf(&b, ":%d", *o.Dport)
	}
	if o.Flags != nil {
		fmt.Fprintf(&b, " [%s]", *o.Flags)
	}
	if o.Type != nil {
		fmt.Fprintf(&b, " type %d/%d", *o.Type, *o.Code)
	}
	if in := o.Inner; in != nil {
		fmt.Fprintf(&b, " quoting %v %s:%d>%s:%d", in.Proto, in.Src, in.Sport, in.Dst, in.Dport)
	}
	return b.String()
}

// hostAnswer reports whether a packet that left is the host's own answer
// to d (a RST, or an ICMP error or echo reply sent back to d's source).
func hostAnswer(o sim.Out, d packet.Desc) bool {
	// An answer goes back to d's source, from d's destination (a RST, or
	// ICMP from the destination host) or from one of the host's own
	// addresses; d itself forwarded back out (src = dst) is no answer.
	if o.Dst != d.Src.String() || o.Src == d.Src.String() && d.Src != d.Dst {
		return false
	}
	if d.Src == d.Dst && o.Dport != nil && *o.Dport != d.Sport {
		return false // to and from one address: only the ports tell
	}
	// The host answers no ICMP error, and a RST with no RST.
	if o.Proto == "tcp" && d.Proto == packet.ProtoTCP && d.Flags != nil && *d.Flags&packet.TCPFlags(packet.TCPRst) != 0 {
		return false
	}
	if d.Proto == packet.ProtoICMP && (d.Type == 3 || d.Type == 4 || d.Type == 5 || d.Type == 11 || d.Type == 12) {
		return false
	}
	if d.Proto == packet.ProtoICMPv6 && !d.Raw && d.Type < 128 {
		// No answer to an ICMPv6 error, but a Redirect still comes for
		// one forwarded back out of its link.
		return isICMP(o.Proto) && o.Type != nil && *o.Type == 137
	}
	if src := netip.MustParseAddr(o.Src); src != d.Dst && !isHostAddr(src) {
		return false
	}
	switch o.Proto {
	case "tcp":
		return o.Flags != nil && strings.Contains(*o.Flags, "R")
	case "icmp":
		// An error about d, or the echo reply to an echo request.
		return o.Type != nil && (*o.Type == 3 || *o.Type == 11 || *o.Type == 12 || *o.Type == 0 && d.Proto == packet.ProtoICMP && d.Type == 8 || *o.Type == 14 && d.Proto == packet.ProtoICMP && d.Type == 13)
	}
	if isICMP(o.Proto) && d.IsIPv6() && o.Type != nil {
		// An error about d (unreachable, too big, time exceeded,
		// parameter problem), the echo reply, the advertisement
		// answering a solicitation, or a redirect for d's destination.
		t := *o.Type
		return t >= 1 && t <= 4 || t == 129 && d.Proto == packet.ProtoICMPv6 && d.Type == 128 ||
			t == 136 && d.Proto == packet.ProtoICMPv6 && d.Type == 135 || t == 137
	}
	return false
}

// resolve turns p into the description to send. An answer to packet j
// goes back the way j went: from where j was headed (after NAT, as the
// kernel sent it) to where it came from. When j did not leave (it was
// dropped or delivered to the host), the answer is built from j as it was
// sent, in = the interface facing j's destination; an answer from one of
// the host's own addresses becomes a local packet.
func resolve(p Packet, pkts []Packet, sent []packet.Desc, kout [][]sim.Out) (packet.Desc, bool) {
	d := p.Desc
	if p.Of < 0 || p.Answer == answerNone {
		return d, true
	}
	if p.Of >= len(sent) {
		return d, false
	}
	j := sent[p.Of]
	if j.Raw {
		return d, false // no ports to answer to
	}
	src, dst, sport, dport := j.Dst, j.Src, j.Dport, j.Sport
	in := ""
	var left *sim.Out
	for k := range kout[p.Of] {
		if o := kout[p.Of][k]; o.Proto == "tcp" || o.Proto == "udp" || isICMP(o.Proto) {
			left = &kout[p.Of][k]
			break
		}
	}
	if left != nil {
		src, dst = netip.MustParseAddr(left.Dst), netip.MustParseAddr(left.Src)
		if left.Sport != nil {
			sport, dport = *left.Dport, *left.Sport
		}
		in = left.If
	} else {
		in = ifaceFor(src)
	}
	switch p.Answer {
	case answerReply:
		d.Src, d.Dst, d.Sport, d.Dport = src, dst, sport, dport
		d.Proto = j.Proto
		switch j.Proto {
		case packet.ProtoICMP:
			d.Type = 0 // an echo reply
		case packet.ProtoICMPv6:
			d.Type = 129
		}
		if j.Proto != packet.ProtoTCP {
			d.Flags, d.Seq, d.Ack, d.Window = nil, nil, nil, nil
		}
	case answerICMP:
		if j.Proto != packet.ProtoTCP && j.Proto != packet.ProtoUDP {
			return d, false
		}
		// The error comes from the destination, quoting j as it arrived
		// there.
		d.Src, d.Dst = src, dst
		d.Inner = &packet.Inner{Src: dst, Dst: src, Proto: j.Proto, Sport: dport, Dport: sport}
	}
	d.In, d.Local = in, false
	if unanswerable(d.Src) {
		return d, false // no answers from broadcast or multicast addresses
	}
	if isHostAddr(d.Src) || isAnycast6(d.Src) {
		if unanswerable(d.Dst) || isAnycast6(d.Src) {
			// A raw socket without SO_BROADCAST may not send there:
			// the send fails before netfilter sees it. (And nothing
			// is sent from an anycast address.)
			return d, false
		}
		d.In, d.Local = "", true
		if isHostAddr(d.Dst) {
			return d, false // the host talking to itself: not on any wire
		}
	}
	return d, true
}

// hostUnicast are the host's own unicast addresses, both families
// (link-local ones included).
var hostUnicast = map[netip.Addr]bool{
	netip.MustParseAddr("198.51.100.1"): true, netip.MustParseAddr("192.0.2.1"): true,
	netip.MustParseAddr("2001:db8:100::1"): true, netip.MustParseAddr("2001:db8:2::1"): true,
	netip.MustParseAddr("fe80::ff:fe00:1"): true, netip.MustParseAddr("fe80::ff:fe00:2"): true,
}

func isHostAddr(a netip.Addr) bool { return hostUnicast[a] }

// ifaceFor is the interface the firewall routes a to.
func ifaceFor(a netip.Addr) string {
	if subnets["wlan0"].Contains(a) || subnets6["wlan0"].Contains(a) {
		return "wlan0"
	}
	return "eth0"
}

// isICMP reports whether a packet that left is ICMP or ICMPv6, whichever
// way the result names the protocol.
func isICMP(proto any) bool {
	switch p := proto.(type) {
	case string:
		return p == "icmp" || p == "icmpv6" || p == "ipv6-icmp"
	case int:
		return p == 1 || p == 58
	}
	return false
}

// unanswerable reports whether a cannot be the source of an answer: an
// IPv4 broadcast or network address, an IPv6 multicast or unspecified
// address.
func unanswerable(a netip.Addr) bool {
	if a.Is4() {
		l := a.As4()[3]
		return l == 255 || l == 0
	}
	return a.IsMulticast() || a.IsUnspecified()
}

// natPort reports whether o is d after source NAT with a port of the
// kernel's choosing: the source port changed (with the address, or
// alone on a clash; the destination may have been rewritten too).
func natPort(o sim.Out, d packet.Desc) bool {
	return o.Sport != nil && *o.Sport != d.Sport && !d.Raw &&
		(d.Proto == packet.ProtoTCP || d.Proto == packet.ProtoUDP)
}

// portAliases pairs the source ports the kernel and ipsift picked at
// random for one flow (same address, same class): packets sent later to
// the kernel's port go to ipsift's, and what ipsift sends from (or
// quotes with) its port is compared as the kernel's.
type portAliases struct {
	toI, toK map[netip.AddrPort]uint16
}

func newPortAliases() *portAliases {
	return &portAliases{toI: map[netip.AddrPort]uint16{}, toK: map[netip.AddrPort]uint16{}}
}

func (a *portAliases) add(addr netip.Addr, kernelPort, ipsiftPort uint16) {
	if kernelPort == ipsiftPort {
		return
	}
	a.toI[netip.AddrPortFrom(addr, kernelPort)] = ipsiftPort
	a.toK[netip.AddrPortFrom(addr, ipsiftPort)] = kernelPort
}

func alias(m map[netip.AddrPort]uint16, addr netip.Addr, port uint16) uint16 {
	if p, ok := m[netip.AddrPortFrom(addr, port)]; ok {
		return p
	}
	return port
}

// toIpsift returns d with the kernel's ports replaced by ipsift's.
func (a *portAliases) toIpsift(d packet.Desc) packet.Desc {
	if len(a.toI) == 0 || d.Raw {
		return d
	}
	d.Sport, d.Dport = alias(a.toI, d.Src, d.Sport), alias(a.toI, d.Dst, d.Dport)
	if in := d.Inner; in != nil {
		c := *in
		c.Sport, c.Dport = alias(a.toI, c.Src, c.Sport), alias(a.toI, c.Dst, c.Dport)
		d.Inner = &c
	}
	return d
}

// toKernel rewrites ipsift's packets that left with the kernel's ports.
func (a *portAliases) toKernel(outs []sim.Out) {
	if len(a.toK) == 0 {
		return
	}
	for i := range outs {
		o := &outs[i]
		if o.Sport != nil {
			p := alias(a.toK, netip.MustParseAddr(o.Src), *o.Sport)
			o.Sport = &p
		}
		if o.Dport != nil {
			p := alias(a.toK, netip.MustParseAddr(o.Dst), *o.Dport)
			o.Dport = &p
		}
		if in := o.Inner; in != nil {
			c := *in
			c.Sport = alias(a.toK, netip.MustParseAddr(c.Src), c.Sport)
			c.Dport = alias(a.toK, netip.MustParseAddr(c.Dst), c.Dport)
			o.Inner = &c
		}
	}
}

// portClass is the range nf_nat keeps a remapped source port in when no
// range is given: below 512, below 1024, or above.
func portClass(p uint16) int {
	switch {
	case p < 512:
		return 0
	case p < 1024:
		return 1
	}
	return 2
}
