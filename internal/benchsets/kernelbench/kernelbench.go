// Package kernelbench measures what the kernel's own firewall costs per
// packet on the classifier benchmark sets (BENCHMARKS.md, "Compiled
// chains", "The kernel, measured"), with the method of issue 14: a burst
// of trace packets is injected as fast as possible into a firewall
// namespace's veth from an AF_PACKET socket, the packets the firewall
// forwards are counted on the veth it sends them out of, and the time
// from the first send to the last arrival is taken; the cost of the
// rules is the time with the rules minus the time with an empty ruleset,
// per packet.
//
// The topology is internal/kernel's Firewall: three namespaces, a sender
// (the wlan0 peer), the firewall and a receiver (the eth0 peer), joined
// by veth. ClassBench traces carry arbitrary addresses, so the firewall
// forwards everything by its default route towards the receiver (with a
// permanent neighbour entry: no ARP); rp_filter is off. Many ClassBench
// addresses are ones the kernel never forwards whatever the rules
// (martian sources and destinations, multicast, class E: 74% of
// fw1_8k's trace), so the rules and the trace are first written into
// routable space by Remap, which XORs the first octet of every source
// with one constant and of every destination with another: that maps
// each prefix onto a prefix of the same length and keeps which rules
// match which packet, so every packet walks the same rules to the same
// first match as in ipsift's benchmark on the original set. The few
// packets still unroutable after it are left out of the trace
// (Forwardable). Every packet must arrive:
// the rules accept and the policy is ACCEPT (benchsets.Iptables), so a
// packet no rule matches walks the whole chain and is still forwarded;
// a burst that loses packets is an error, not a figure.
//
// Nothing here asserts a time: the figures are printed by
// TestKernelCost (IPSIFT_KERNEL_BENCH=1, root) for BENCHMARKS.md.
package kernelbench

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipsift/ipsift/internal/benchsets"
	"github.com/ipsift/ipsift/internal/kernel"
	"golang.org/x/sys/unix"
)

// Set is one benchmark rule set with its trace.
type Set struct {
	Name    string             // e.g. acl1_8k, fw1_gen10000: the names of engine's BenchmarkSets
	Rules   int                // rules in FORWARD
	Filters []benchsets.Rule   // the same rules, as Text writes them
	Text    string             // iptables-restore input: the rules, each -j ACCEPT, policy ACCEPT
	Trace   []benchsets.Packet // the packets, in trace order
	// SrcXor and DstXor are Remap's constants (rules and trace are
	// given after it).
	SrcXor, DstXor uint32
}

// ClassBench returns a ClassBench set as engine's BenchmarkSets builds
// it: the file dir/name.rules expanded (any protocol with port ranges
// written as a tcp and a udp rule) and, for n > 0, grown to n rules by
// benchsets.Grow, with a uniform trace of at least packets headers from
// benchsets.Trace drawn from the same seeded source (its first 4,096
// are the engine benchmark's trace); for n = 0 the file's own trace, or
// with zipf > 1 a trace aimed at the file's rules by a Zipf law of that
// exponent over rule positions (engine's SEED_8k_zipf).
func ClassBench(dir, name string, n, packets int, zipf float64) (Set, error) {
	rt, err := os.ReadFile(filepath.Join(dir, name+".rules"))
	if err != nil {
		return Set{}, err
	}
	base, err := benchsets.ParseRules(string(rt))
	if err != nil {
		return Set{}, fmt.Errorf("%s.rules: %w", name, err)
	}
	rules := benchsets.Expanded(base)
	set := Set{Name: name}
	if n > 0 || zipf > 1 {
		// The seed of engine's cbSet: rand.NewPCG(n, 7), Grow, then Trace.
		r := rand.New(rand.NewPCG(uint64(n), 7))
		if n > 0 {
			rules = benchsets.Grow(rules, n, r)
			set.Name = strings.TrimSuffix(name, "_8k") + "_gen" + strconv.Itoa(n)
		}
		set.Trace = benchsets.Trace(rules, max(packets, 4096), zipf, r)
		if zipf > 1 {
			set.Name += "_zipf"
		}
	} else {
		tt, err := os.ReadFile(filepath.Join(dir, name+".trace"))
		if err != nil {
			return Set{}, err
		}
		if set.Trace, err = benchsets.ParseTrace(string(tt)); err != nil {
			return Set{}, fmt.Errorf("%s.trace: %w", name, err)
		}
	}
	set.Rules = len(rules)
	set.Filters, set.Trace, set.SrcXor, set.DstXor = Remap(rules, set.Trace)
	set.Text = benchsets.Iptables(set.Filters, "FORWARD", "ACCEPT")
	return set, nil
}

// Blocklist returns engine's blocklist_100k_uniform set for n = 100,000
// (benchsets.Blocklist: a conntrack prelude, then n -s x/32 rules, then
// -j ACCEPT) with its packets, at least packets of them (its first 4,096
// are the engine benchmark's): UDP to port 53 from a listed source drawn
// uniformly, one in 16 from an address not listed. For the kernel the
// list's DROP and the policy DROP become ACCEPT, so that every packet
// arrives; a packet still stops at the same rule after the same tests.
func Blocklist(n, packets int) Set {
	r := rand.New(rand.NewPCG(uint64(n), 9))
	text, addrs := benchsets.Blocklist(n, r)
	text = strings.Replace(text, ":FORWARD DROP", ":FORWARD ACCEPT", 1)
	text = strings.ReplaceAll(text, "/32 -j DROP\n", "/32 -j ACCEPT\n")
	set := Set{Name: fmt.Sprintf("blocklist_%dk_uniform", n/1000), Rules: n + 3, Text: text}
	for i := 0; i < max(packets, 4096); i++ {
		j := r.IntN(len(addrs))
		src := addrs[j]
		if i%16 == 15 {
			src = addrs[0].Prev()
		}
		s, d := src.As4(), addrs[len(addrs)-1-j].As4()
		set.Trace = append(set.Trace, benchsets.Packet{
			Src:   uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3]),
			Dst:   uint32(d[0])<<24 | uint32(d[1])<<16 | uint32(d[2])<<8 | uint32(d[3]),
			SPort: uint16(1024 + i%4), DPort: 53, Proto: 17,
		})
	}
	return set
}

// Remap returns copies of rules and trace with the first octet of every
// source address XORed with srcXor>>24 and of every destination with
// dstXor>>24, the two chosen to leave as few trace packets as possible
// unforwardable. A rule's prefix becomes the prefix of the same length
// that holds the mapped addresses (bits beyond the length stay zero), so
// rule i matches packet j after the mapping exactly when it did before.
func Remap(rules []benchsets.Rule, trace []benchsets.Packet) ([]benchsets.Rule, []benchsets.Packet, uint32, uint32) {
	best := func(addr func(benchsets.Packet) uint32) uint32 {
		var key uint32
		least := len(trace) + 1
		for k := uint32(0); k < 256; k++ {
			bad := 0
			for _, p := range trace {
				if !routable(addr(p) ^ k<<24) {
					bad++
				}
			}
			if bad < least {
				key, least = k<<24, bad
			}
		}
		return key
	}
	sx := best(func(p benchsets.Packet) uint32 { return p.Src })
	dx := best(func(p benchsets.Packet) uint32 { return p.Dst })
	outR := make([]benchsets.Rule, len(rules))
	for i, r := range rules {
		r.Src = (r.Src ^ sx) & prefixMask(r.SrcLen)
		r.Dst = (r.Dst ^ dx) & prefixMask(r.DstLen)
		outR[i] = r
	}
	outT := make([]benchsets.Packet, len(trace))
	for i, p := range trace {
		p.Src ^= sx
		p.Dst ^= dx
		outT[i] = p
	}
	return outR, outT, sx, dx
}

func prefixMask(n uint8) uint32 {
	if n == 0 {
		return 0
	}
	return ^uint32(0) << (32 - n)
}

// Empty is the baseline ruleset: the filter table with no rules, every
// policy ACCEPT. Loading it registers the table's hooks (legacy) or base
// chains (nft), so the difference to a set is the rules alone.
const Empty = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"

// Forwardable reports whether the firewall of internal/kernel forwards a
// packet with these addresses by its default route whatever its rules:
// not from or to 0/8, 127/8, multicast, class E or the limited
// broadcast (martians, or not routed as unicast), nor from or to the
// firewall's own subnets (its addresses, and neighbours it would have to
// resolve).
func Forwardable(p benchsets.Packet) bool { return routable(p.Src) && routable(p.Dst) }

func routable(a uint32) bool {
	switch first := a >> 24; {
	case first == 0, first == 127, first >= 224:
		return false
	}
	switch a >> 8 {
	case 0xc00002, 0xc63364, 0xcb0071: // 192.0.2/24, 198.51.100/24, 203.0.113/24
		return false
	}
	return true
}

// Frames builds n Ethernet frames (to dst, from src) of the trace's
// forwardable packets in order, the trace repeated when it is shorter
// than n. It returns how many trace packets were left out.
func Frames(trace []benchsets.Packet, n int, dst, src net.HardwareAddr) ([][]byte, int, error) {
	var ok []benchsets.Packet
	for _, p := range trace {
		if Forwardable(p) {
			ok = append(ok, p)
		}
	}
	if len(ok) == 0 {
		return nil, len(trace), errors.New("no packet of the trace can be forwarded")
	}
	frames := make([][]byte, n)
	for i := range frames {
		ip, err := ok[i%len(ok)].Desc("wlan0").Build(i)
		if err != nil {
			return nil, 0, fmt.Errorf("packet %d: %w", i, err)
		}
		f := make([]byte, 14, 14+len(ip))
		copy(f[0:6], dst)
		copy(f[6:12], src)
		f[12], f[13] = 0x08, 0x00
		frames[i] = append(f, ip...)
	}
	return frames, len(trace) - len(ok), nil
}

// Lane is one firewall with a sender socket on its inside link (wlan0's
// peer) and the receiver's interface counters on its outside link
// (eth0's peer).
type Lane struct {
	FW     *kernel.Firewall
	Name   string // e.g. "legacy-empty"
	send   int    // AF_PACKET socket in the sender namespace, bound to wlan0's peer
	dev    int    // /proc/net/dev of the receiver namespace
	wlan0  kernel.Link
	frames int // frames sent since the ruleset was loaded
}

// NewLane builds a firewall for backend b (kernel.NewFirewall: removed
// with everything in it when t ends) and opens the lane's sockets.
func NewLane(t testing.TB, b kernel.Backend, name string) *Lane {
	t.Helper()
	fw := kernel.NewFirewall(t, b)
	l := &Lane{FW: fw, Name: name, send: -1, dev: -1}
	t.Cleanup(func() {
		for _, fd := range []int{l.send, l.dev} {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	})
	for _, k := range fw.Links() {
		if k.Name == "wlan0" {
			l.wlan0 = k
		}
	}
	err := kernel.InNamespace(fw.NS+"-wlan0", func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		l.send = fd
		ifi, err := net.InterfaceByName("wlan0")
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: 0x0008, Ifindex: ifi.Index}) // htons(ETH_P_IP)
	})
	if err != nil {
		t.Fatalf("lane %s: the sender socket: %v", name, err)
	}
	err = kernel.InNamespace(fw.NS+"-eth0", func() error {
		// /proc/thread-self/net is this thread's namespace, and the
		// open file stays with it.
		fd, err := unix.Open("/proc/thread-self/net/dev", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		l.dev = fd
		return err
	})
	if err != nil {
		t.Fatalf("lane %s: the receiver's counters: %v", name, err)
	}
	return l
}

// Load replaces the lane's filter table (the backend's
// iptables-restore) and returns how long that took.
func (l *Lane) Load(rules string) (time.Duration, error) {
	t0 := time.Now()
	err := l.FW.Restore(rules)
	l.frames = 0
	return time.Since(t0), err
}

// received returns the receiver's eth0 rx packet count.
func (l *Lane) received(buf []byte) (uint64, error) {
	n, err := unix.Pread(l.dev, buf, 0)
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(buf[:n]) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(bytes.TrimSpace(name)) != "eth0" {
			continue
		}
		f := bytes.Fields(rest) // rx bytes, rx packets, ...
		if len(f) < 2 {
			break
		}
		return strconv.ParseUint(string(f[1]), 10, 64)
	}
	return 0, errors.New("no eth0 in the receiver's /proc/net/dev")
}

// Burst is one burst's outcome.
type Burst struct {
	Wall    time.Duration // first send to the arrival of the last packet
	CPU     time.Duration // the sending thread's CPU time over the same span
	Sent    int
	Arrived int
	// MaxInFlight is the most frames seen sent and not yet arrived at
	// a check (every 64 frames): 0 when the kernel forwarded each frame
	// within the send call that gave it, as it does when the receive
	// softirq runs on the way out of the send; more when the work was
	// deferred to ksoftirqd (and then not counted in CPU).
	MaxInFlight int
}

// in flight: at most maxInFlight frames sent and not yet arrived, so
// that when the kernel defers the receive work to ksoftirqd the sender
// does not overflow the backlog queue (netdev_max_backlog, 1,000 by
// default) and lose packets.
const (
	checkEvery  = 64
	maxInFlight = 256
	stallLimit  = 5 * time.Second
)

// Burst sends the frames as fast as the kernel takes them and waits for
// all of them at the receiver.
func (l *Lane) Burst(frames [][]byte) (Burst, error) {
	buf := make([]byte, 64<<10)
	base, err := l.received(buf)
	if err != nil {
		return Burst{}, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := benchsets.ThreadCPU()
	t0 := time.Now()
	arrived := func() (int, error) {
		n, err := l.received(buf)
		return int(n - base), err
	}
	maxIn := 0
	wait := func(atMost int, sent int) (int, error) {
		got, last, lastT := 0, -1, time.Now()
		for {
			var err error
			got, err = arrived()
			maxIn = max(maxIn, sent-got)
			if err != nil || sent-got <= atMost {
				return got, err
			}
			if got != last {
				last, lastT = got, time.Now()
			} else if time.Since(lastT) > stallLimit {
				return got, fmt.Errorf("lane %s: %d of %d frames arrived, none for %v", l.Name, got, sent, stallLimit)
			}
		}
	}
	for i, f := range frames {
		if _, err := unix.Write(l.send, f); err != nil {
			return Burst{}, fmt.Errorf("lane %s: sending frame %d: %w", l.Name, i, err)
		}
		if (i+1)%checkEvery == 0 {
			if _, err := wait(maxInFlight, i+1); err != nil {
				return Burst{}, err
			}
		}
	}
	got, err := wait(0, len(frames))
	b := Burst{Wall: time.Since(t0), CPU: benchsets.ThreadCPU() - cpu0, Sent: len(frames), Arrived: got, MaxInFlight: maxIn}
	l.frames += len(frames)
	if err == nil && got != len(frames) {
		err = fmt.Errorf("lane %s: %d frames arrived of %d sent", l.Name, got, len(frames))
	}
	return b, err
}

// Forward is what FORWARD's counters say of the packets since the last
// Load.
type Forward struct {
	Counted uint64  // packets its rules and its policy counted
	Policy  uint64  // of them, those its policy counted (they walked every rule)
	Walked  float64 // rules tried per packet, on average: a packet that rule i took tried i rules
	Sent    int     // what the lane sent, which must equal Counted: every frame crossed FORWARD
}

// ForwardCounted reads FORWARD's counters.
func (l *Lane) ForwardCounted() (Forward, error) {
	c, err := l.FW.Counters()
	if err != nil {
		return Forward{}, err
	}
	var f Forward
	var walked uint64
	rules := 0
	for k, v := range c {
		if k.Table == "filter" && k.Chain == "FORWARD" {
			f.Counted += v.Packets
			walked += uint64(k.Rule) * v.Packets
			rules = max(rules, k.Rule)
			if k.Rule == 0 {
				f.Policy += v.Packets
			}
		}
	}
	walked += uint64(rules) * f.Policy
	f.Walked = float64(walked) / float64(max(f.Counted, 1))
	f.Sent = l.frames
	return f, nil
}

// Median returns the median of v (the lower middle for an even count).
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// LoadAvg returns the first three fields of /proc/loadavg.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], ",")
}
