package kernel

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Link describes one interface of the firewall host and the peer at its
// other end.
type Link struct {
	Name    string           // interface name in the firewall namespace, e.g. "eth0"
	Prefix  netip.Prefix     // the firewall's address and its subnet, e.g. 198.51.100.1/24
	Prefix6 netip.Prefix     // its IPv6 address and subnet, e.g. 2001:db8:100::1/64 (Options.IPv6)
	MAC     net.HardwareAddr // the firewall interface's link address
	PeerMAC net.HardwareAddr // the peer's link address: source of injected frames, target of every neighbour entry
}

// DefaultLinks returns the interfaces of ipsift's default host (the host
// of shared/examples/gateway.rules, with the link addresses of
// shared/formats/packets.md): eth0 facing the outside, wlan0 the inside.
func DefaultLinks() []Link {
	return []Link{
		{
			Name:    "eth0",
			Prefix:  netip.MustParsePrefix("198.51.100.1/24"),
			Prefix6: netip.MustParsePrefix("2001:db8:100::1/64"),
			MAC:     net.HardwareAddr{0x02, 0, 0, 0, 0x00, 0x01},
			PeerMAC: net.HardwareAddr{0x02, 0, 0, 0, 0x01, 0x01},
		},
		{
			Name:    "wlan0",
			Prefix:  netip.MustParsePrefix("192.0.2.1/24"),
			Prefix6: netip.MustParsePrefix("2001:db8:2::1/64"),
			MAC:     net.HardwareAddr{0x02, 0, 0, 0, 0x00, 0x02},
			PeerMAC: net.HardwareAddr{0x02, 0, 0, 0, 0x02, 0x01},
		},
	}
}

// DefaultGateway is the default host's next hop for everything off its
// subnets, reached through eth0.
var DefaultGateway = netip.MustParseAddr("198.51.100.254")

// DefaultGateway6 is the IPv6 twin's default router, on eth0
// (packets.md, "IPv6").
var DefaultGateway6 = netip.MustParseAddr("2001:db8:100::fe")

// LinkLocal returns the link-local address the kernel gives an interface
// with link address mac (EUI-64, the universal/local bit flipped):
// 02:00:00:00:00:01 has fe80::ff:fe00:1.
func LinkLocal(mac net.HardwareAddr) netip.Addr {
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	a[8], a[9], a[10] = mac[0]^0x02, mac[1], mac[2]
	a[11], a[12] = 0xff, 0xfe
	a[13], a[14], a[15] = mac[3], mac[4], mac[5]
	return netip.AddrFrom16(a)
}

// DefaultNeighbours6 lists, per interface, the IPv6 neighbours an IPv6
// firewall gets permanent entries for: the default router and the peer's
// link-local address. Others need AddNeighbour.
func DefaultNeighbours6() map[string][]netip.Addr {
	out := map[string][]netip.Addr{}
	for _, l := range DefaultLinks() {
		out[l.Name] = append(out[l.Name], LinkLocal(l.PeerMAC))
	}
	out["eth0"] = append(out["eth0"], DefaultGateway6)
	return out
}

// DefaultNeighbours lists, per interface, the addresses NewFirewall gives
// permanent neighbour entries: the gateway and the inside hosts of
// gateway.rules (web mirrors .10 to .40, ssh host .50). Packets to any
// other on-link address need AddNeighbour first.
func DefaultNeighbours() map[string][]netip.Addr {
	return map[string][]netip.Addr{
		"eth0": {DefaultGateway},
		"wlan0": {
			netip.MustParseAddr("192.0.2.10"),
			netip.MustParseAddr("192.0.2.20"),
			netip.MustParseAddr("192.0.2.30"),
			netip.MustParseAddr("192.0.2.40"),
			netip.MustParseAddr("192.0.2.50"),
		},
	}
}

// Firewall is one kernel firewall host in namespaces of its own, made by
// NewFirewall and removed when its test ends. Its methods may be called
// from one goroutine at a time.
type Firewall struct {
	// Backend is the iptables backend Restore, Save and SaveCounters use.
	Backend Backend
	// IPv6 says the host has its IPv6 twin (Options.IPv6).
	IPv6 bool
	// NS is the firewall's namespace name, for `ip netns exec NS ...`
	// when debugging; Run does that for you.
	NS string
	// CaptureWait is how long Capture waits for further frames after the
	// last one, because a frame the firewall sends in answer may come a
	// moment after the call that caused it returned. Zero means
	// DefaultCaptureWait.
	CaptureWait time.Duration

	links []*link
}

// DefaultCaptureWait is Capture's wait for stragglers. Frames injected on
// a veth are normally handled before the sending call returns (the
// receive softirq runs on the way out of the send); the wait covers the
// case where the kernel deferred that work to ksoftirqd.
const DefaultCaptureWait = 5 * time.Millisecond

// link is one firewall interface with its peer namespace and the peer-side
// sockets used to inject and capture.
type link struct {
	Link
	peerNS  string
	ifindex int // of the peer interface, in peerNS
	sendFD  int // AF_PACKET socket in peerNS for Inject; -1 when closed
	capFD   int // AF_PACKET socket in peerNS receiving what the firewall sends; -1 when closed
}

var (
	nsSeq     atomic.Int64
	sweepOnce sync.Once
)

// Require skips the test with Available's message when the kernel
// harness cannot run here, except under CI (CI=true in the environment),
// where it fails the test instead: CI has root, iptables and namespaces,
// and a harness that silently skips there checks nothing.
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		Lacking(t, "%v", err)
	}
}

// Lacking is for a test that cannot run here because something it needs
// is missing (root, a tool, a kernel feature): it skips the test with the
// message, except under CI (CI=true in the environment), where it fails
// it, for CI has everything and a test that silently skips there checks
// nothing. Tests with prerequisites of their own (the live datapath's)
// use it as Require does.
func Lacking(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI must run this test: CI=true)", msg)
		return
	}
	t.Skip(msg)
}

// NewFirewall builds a fresh firewall host for the test t and the given
// backend: a namespace ipsift-t-<pid>-<n> with the interfaces of
// DefaultLinks (veth pairs whose peers sit, without any address, in
// namespaces ipsift-t-<pid>-<n>-<ifname>), the default route via
// DefaultGateway, permanent neighbour entries for DefaultNeighbours, lo
// up, forwarding on, rp_filter off (all, default and per interface), IPv6
// off (NewFirewallWith and Options.IPv6 give the IPv6 twin), and the host stack settings of shared/formats/packets.md
// (icmp_echo_ignore_all=1, icmp_ratelimit=0, icmp_msgs_per_sec and
// icmp_msgs_burst 100000). No iptables rules are loaded.
//
// It calls Require first, so it skips (or under CI fails) the test when
// the harness cannot run here. Any other failure to build the host fails
// the test.
// Everything is removed by t.Cleanup, whatever way the test ends.
func NewFirewall(t testing.TB, b Backend) *Firewall {
	t.Helper()
	return NewFirewallWith(t, b, Options{})
}

// Options are the choices NewFirewallWith offers beyond NewFirewall's.
type Options struct {
	// IPv6 builds the host with the IPv6 twin of packets.md ("IPv6"):
	// eth0 2001:db8:100::1/64 with a default route via
	// DefaultGateway6, wlan0 2001:db8:2::1/64, each interface's
	// EUI-64 link-local address, permanent entries for
	// DefaultNeighbours6, forwarding on, no duplicate address detection,
	// router solicitations, autoconfiguration or router advertisements
	// taken, echo requests ignored (net.ipv6.icmp.echo_ignore_all=1),
	// no per-destination ICMPv6 limit (net.ipv6.icmp.ratelimit=0) and
	// no automatic flow labels (net.ipv6.auto_flowlabels=0: the packets
	// the host makes, its RSTs and ICMPv6 errors, have flow label 0, as
	// in ipsift; with the default the label is a hash keyed with a
	// per-boot secret, DIFFERENCES.md). MLD
	// reports cannot be switched off: the host sends its unsolicited
	// reports as its addresses come up (the report intervals are set to
	// 1 ms, so they go at once), and NewFirewallWith waits until the
	// links are quiet and discards them before it returns, so that no
	// rule ever counts them and no capture sees them. Add no address
	// later (it would be reported).
	IPv6 bool
}

// NewFirewallWith is NewFirewall with options.
func NewFirewallWith(t testing.TB, b Backend, opts Options) *Firewall {
	t.Helper()
	Require(t)
	if b != NFT && b != Legacy {
		t.Fatalf("kernel.NewFirewall: unknown backend %q (want %q or %q)", b, NFT, Legacy)
	}
	sweepOnce.Do(func() {
		if removed, err := SweepStale(); err != nil {
			t.Logf("sweeping stale namespaces: %v", err)
		} else if len(removed) > 0 {
			t.Logf("removed stale namespaces of dead test processes: %s", strings.Join(removed, " "))
		}
	})
	f := &Firewall{
		Backend: b,
		IPv6:    opts.IPv6,
		NS:      fmt.Sprintf("%s%d-%d", nsPrefix, os.Getpid(), nsSeq.Add(1)),
	}
	for _, l := range DefaultLinks() {
		f.links = append(f.links, &link{Link: l, peerNS: f.NS + "-" + l.Name, sendFD: -1, capFD: -1})
	}
	// Registered before anything exists, so a failure half way through
	// still removes what was made.
	t.Cleanup(func() {
		if err := f.close(); err != nil {
			t.Errorf("removing firewall %s: %v", f.NS, err)
		}
	})
	if err := f.build(); err != nil {
		t.Fatalf("building firewall %s (%s backend): %v", f.NS, b, err)
	}
	return f
}

// build creates the namespaces, links, addresses, routes, neighbours and
// sysctls, then opens the peer sockets.
func (f *Firewall) build() error {
	for _, ns := range f.namespaces() {
		if out, err := runTool("ip", "netns", "add", ns); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
	}
	// Sysctls before the links exist: IPv6 off by default keeps the
	// kernel from sending router solicitations, DAD and MLD frames that
	// would show up in captures, and new interfaces inherit "default".
	fwSysctls := [][2]string{
		{"net.ipv6.conf.all.disable_ipv6", "1"},
		{"net.ipv6.conf.default.disable_ipv6", "1"},
	}
	if f.IPv6 {
		fwSysctls = ipv6Sysctls
	}
	fwSysctls = append(fwSysctls, [][2]string{
		{"net.ipv4.ip_forward", "1"},
		{"net.ipv4.conf.all.rp_filter", "0"},
		{"net.ipv4.conf.default.rp_filter", "0"},
		{"net.ipv4.icmp_echo_ignore_all", "1"},
		{"net.ipv4.icmp_ratelimit", "0"},
		{"net.ipv4.icmp_msgs_per_sec", "100000"},
		{"net.ipv4.icmp_msgs_burst", "100000"},
	}...)
	if err := inNamespace(f.NS, func() error { return writeSysctls(fwSysctls) }); err != nil {
		return err
	}
	for _, l := range f.links {
		if err := inNamespace(l.peerNS, func() error {
			return writeSysctls([][2]string{
				{"net.ipv6.conf.all.disable_ipv6", "1"},
				{"net.ipv6.conf.default.disable_ipv6", "1"},
			})
		}); err != nil {
			return err
		}
		// Made inside the firewall namespace, so the name eth0 never
		// meets the machine's own eth0; the peer keeps the same name
		// in its own namespace.
		if out, err := runTool("ip", "-n", f.NS, "link", "add", l.Name, "address", l.MAC.String(),
			"type", "veth", "peer", "name", l.Name, "address", l.PeerMAC.String(), "netns", l.peerNS); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if out, err := runTool("ip", "-n", l.peerNS, "link", "set", l.Name, "up"); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
	}
	var batch strings.Builder
	batch.WriteString("link set lo up\n")
	for _, l := range f.links {
		fmt.Fprintf(&batch, "link set %s up\n", l.Name)
		fmt.Fprintf(&batch, "addr add %s dev %s\n", l.Prefix, l.Name)
	}
	fmt.Fprintf(&batch, "route add default via %s dev %s\n", DefaultGateway, "eth0")
	neigh := DefaultNeighbours()
	if f.IPv6 {
		for _, l := range f.links {
			// nodad: the address is usable at once (accept_dad=0
			// says the same for the link-local one).
			fmt.Fprintf(&batch, "addr add %s dev %s nodad\n", l.Prefix6, l.Name)
		}
		fmt.Fprintf(&batch, "route add ::/0 via %s dev %s\n", DefaultGateway6, "eth0")
		for name, addrs := range DefaultNeighbours6() {
			neigh[name] = append(neigh[name], addrs...)
		}
	}
	for _, l := range f.links {
		for _, a := range neigh[l.Name] {
			fmt.Fprintf(&batch, "neigh replace %s lladdr %s dev %s nud permanent\n", a, l.PeerMAC, l.Name)
		}
	}
	if out, err := runToolStdin(batch.String(), "ip", "-n", f.NS, "-batch", "-"); err != nil {
		return fmt.Errorf("%v: %s\nbatch was:\n%s", err, out, batch.String())
	}
	// Per-interface rp_filter: the kernel uses the larger of "all" and
	// the interface's own value, and the interface took "default" when
	// it was made; set it anyway so the state reads as intended.
	var perIf [][2]string
	for _, l := range f.links {
		perIf = append(perIf, [2]string{"net.ipv4.conf." + l.Name + ".rp_filter", "0"})
	}
	if err := inNamespace(f.NS, func() error { return writeSysctls(perIf) }); err != nil {
		return err
	}
	if err := f.awaitActive(); err != nil {
		return err
	}
	for _, l := range f.links {
		if err := l.openSockets(); err != nil {
			return err
		}
	}
	if f.IPv6 {
		return f.settle()
	}
	// Nothing should have been sent yet, but a capture must start empty.
	f.drain()
	return nil
}

// activeWait bounds awaitActive: the kernel's link watcher runs from a
// work queue and needs the RTNL lock, which other tests' namespaces
// coming and going hold at length on a loaded machine.
const activeWait = 10 * time.Second

// awaitActive waits until both ends of every link can send: up, with
// carrier, and with their transmit queue discipline in place. A veth
// end brought up while its peer is down gets no carrier, so its queues
// keep the noop qdisc, which drops every frame it is given without an
// error; when the other end comes up the carrier comes on, and the
// kernel attaches the real qdisc (noqueue) to the first end only when
// its link watcher gets to the device (linkwatch_do_dev: dev_activate),
// later, from a work queue. The peers' ends come up first, and Inject
// sends from them: a frame injected before then vanished. The first
// packet of a fresh firewall was lost so about once in 60 under load 13
// (kerneldiff: no counter raised for packet 0), which Inject's wait for
// the IP stack now reports instead.
func (f *Firewall) awaitActive() error {
	deadline := time.Now().Add(activeWait)
	for pause := 100 * time.Microsecond; ; pause = min(2*pause, 10*time.Millisecond) {
		var pending []string
		for _, ns := range f.namespaces() {
			p, err := inactiveLinks(ns)
			if err != nil {
				return err
			}
			pending = append(pending, p...)
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("links still not active after %v: %s", activeWait, strings.Join(pending, "; "))
		}
		time.Sleep(pause)
	}
}

// ifOperUp is IF_OPER_UP, the operational state (RFC 2863) of a link
// that can pass packets.
const ifOperUp = 6

// inactiveLinks lists the links of namespace ns (the loopback aside)
// that are not yet operationally up with a queue discipline other than
// noop, each with the state and qdisc it has.
func inactiveLinks(ns string) ([]string, error) {
	var pending []string
	err := inNamespace(ns, func() error {
		tab, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
		if err != nil {
			return fmt.Errorf("listing the links of %s: %w", ns, err)
		}
		msgs, err := syscall.ParseNetlinkMessage(tab)
		if err != nil {
			return fmt.Errorf("listing the links of %s: %w", ns, err)
		}
		for i := range msgs {
			if msgs[i].Header.Type != syscall.RTM_NEWLINK || len(msgs[i].Data) < syscall.SizeofIfInfomsg {
				continue
			}
			if (*syscall.IfInfomsg)(unsafe.Pointer(&msgs[i].Data[0])).Flags&syscall.IFF_LOOPBACK != 0 {
				continue
			}
			attrs, err := syscall.ParseNetlinkRouteAttr(&msgs[i])
			if err != nil {
				return fmt.Errorf("listing the links of %s: %w", ns, err)
			}
			var name, qdisc string
			oper := -1
			for _, a := range attrs {
				switch a.Attr.Type {
				case syscall.IFLA_IFNAME:
					name = unix.ByteSliceToString(a.Value)
				case syscall.IFLA_QDISC:
					qdisc = unix.ByteSliceToString(a.Value)
				case syscall.IFLA_OPERSTATE:
					if len(a.Value) > 0 {
						oper = int(a.Value[0])
					}
				}
			}
			if oper != ifOperUp || qdisc == "" || qdisc == "noop" {
				pending = append(pending, fmt.Sprintf("%s in %s: operstate %d, qdisc %q", name, ns, oper, qdisc))
			}
		}
		return nil
	})
	return pending, err
}

// ipv6Sysctls give the IPv6 host of packets.md. "default" is set before
// the links exist, so they inherit it; "all" for the switches the
// kernel reads there (forwarding, which also sets every interface's).
var ipv6Sysctls = func() [][2]string {
	kv := [][2]string{
		{"net.ipv6.conf.all.disable_ipv6", "0"},
		{"net.ipv6.conf.all.forwarding", "1"},
		{"net.ipv6.icmp.echo_ignore_all", "1"},
		{"net.ipv6.icmp.ratelimit", "0"},
		{"net.ipv6.auto_flowlabels", "0"},
	}
	for _, scope := range []string{"all", "default"} {
		for _, e := range [][2]string{
			{"disable_ipv6", "0"},
			{"forwarding", "1"},
			{"accept_dad", "0"},
			{"dad_transmits", "0"},
			{"router_solicitations", "0"},
			{"accept_ra", "0"},
			{"autoconf", "0"},
			{"use_tempaddr", "0"},
			{"mldv1_unsolicited_report_interval", "1"},
			{"mldv2_unsolicited_report_interval", "1"},
			// MLDv1 (settle): its unsolicited reports go out when a
			// group is joined and once more from the group's own
			// timer, which /proc/net/igmp6 shows running; MLDv2's
			// repeat from one per-interface work item it does not
			// show, so a report delayed on a loaded machine came
			// after settling (kerneldiff: an OUTPUT policy counter of
			// [1:116] in iptables-save and a limit token gone, one
			// ruleset in 109 under load 15). No test sends the host
			// an MLD query, the one thing the version would answer.
			{"force_mld_version", "1"},
		} {
			kv = append(kv, [2]string{"net.ipv6.conf." + scope + "." + e[0], e[1]})
		}
	}
	return kv
}()

// settleQuiet is how long the links must stay silent before an IPv6
// host counts as settled, and settleMax bounds the whole wait. 60 ms
// let one host in 3,332 send a late MLD report after its rules were
// loaded on a machine with a load of 24 (the kernel-diff long run).
const (
	settleQuiet = 100 * time.Millisecond
	settleMax   = 5 * time.Second
)

// settle waits until the IPv6 host has sent its unsolicited MLD reports
// (and anything else its addresses coming up make it send), discarding
// them, and until no address is tentative any more (without duplicate
// address detection an address still starts tentative, for as long as
// the kernel's workqueue takes to get to it, and its reports follow)
// and no group's report timer runs (mldTimers): from then on the host
// sends no report of its own, however late its work items run.
// Anything but MLD reports is an error: the host must not talk on its
// own. The links named in reporting must have sent a report before the
// quiet counts (SetGroup: reports that are sure to come, however late
// the workqueue runs).
func (f *Firewall) settle(reporting ...string) error {
	deadline := time.Now().Add(settleMax)
	waiting := map[string]bool{}
	for _, name := range reporting {
		waiting[name] = true
	}
	for {
		got, err := f.capture(f.links, settleQuiet)
		if err != nil {
			return fmt.Errorf("settling IPv6: %w", err)
		}
		n := 0
		for name, frames := range got {
			for _, fr := range frames {
				if !IsMLDReport(fr) {
					return fmt.Errorf("settling IPv6: the host sent something other than an MLD report on %s: % x", name, fr)
				}
				delete(waiting, name)
				n++
			}
		}
		tentative, timers := "", ""
		if n == 0 && len(waiting) == 0 {
			out, err := runIn(f.NS, nil, toolPath("ip"), "-6", "addr", "show", "tentative")
			if err != nil {
				return err
			}
			if tentative = strings.TrimSpace(out); tentative == "" {
				if timers, err = f.mldTimers(); err != nil {
					return err
				}
				if timers == "" {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			if len(waiting) > 0 {
				return fmt.Errorf("settling IPv6: no MLD report on %v after %v", slices.Sorted(maps.Keys(waiting)), settleMax)
			}
			if tentative != "" {
				return fmt.Errorf("settling IPv6: addresses still tentative after %v:\n%s", settleMax, tentative)
			}
			if timers != "" {
				return fmt.Errorf("settling IPv6: MLD report timers still running after %v:\n%s", settleMax, timers)
			}
			return fmt.Errorf("settling IPv6: the links were not quiet after %v", settleMax)
		}
	}
}

// mafTimerRunning is the flag of /proc/net/igmp6 (MAF_TIMER_RUNNING)
// that says a group's report is still to be sent (or sent again).
const mafTimerRunning = 0x01

// mldTimers returns the lines of the firewall's /proc/net/igmp6 (index,
// interface, group, users, flags, timer) whose group has its report
// timer running: "" when the host has no MLD report left to send.
func (f *Firewall) mldTimers() (string, error) {
	var data []byte
	err := inNamespace(f.NS, func() error {
		var err error
		data, err = os.ReadFile("/proc/thread-self/net/igmp6")
		return err
	})
	if err != nil {
		return "", fmt.Errorf("settling IPv6: reading igmp6 of %s: %w", f.NS, err)
	}
	var running []string
	for _, line := range strings.Split(string(data), "\n") {
		fs := strings.Fields(line)
		if len(fs) < 6 {
			continue
		}
		flags, err := strconv.ParseUint(fs[4], 16, 32)
		if err != nil {
			return "", fmt.Errorf("settling IPv6: igmp6 line %q: %w", line, err)
		}
		if flags&mafTimerRunning != 0 {
			running = append(running, line)
		}
	}
	return strings.Join(running, "\n"), nil
}

// SetGroup puts interface ifname in device group g (ip link set dev
// IF group G), which the devgroup match reads. The kernel announces the
// change as a state change of the interface (netdev_state_change), on
// which an IPv6 host sends its MLD reports on that link again
// (addrconf_notify, NETDEV_CHANGE: "we might have roamed"). On the IPv6
// host SetGroup waits for them and discards them, as NewFirewallWith
// does with the first ones: a report still on its way when the test's
// first packet is sent would raise OUTPUT and POSTROUTING counters that
// no packet of the test explains (TestKernelDevgroup6 failed so on a
// loaded machine).
func (f *Firewall) SetGroup(ifname string, g uint32) error {
	if _, err := f.link(ifname); err != nil {
		return err
	}
	if out, err := runTool("ip", "-n", f.NS, "link", "set", "dev", ifname, "group", strconv.FormatUint(uint64(g), 10)); err != nil {
		return fmt.Errorf("setting the group of %s: %v: %s", ifname, err, out)
	}
	if f.IPv6 {
		return f.settle(ifname)
	}
	return nil
}

// IsMLDReport reports whether an IPv6 packet is an MLD report (ICMPv6
// 131, or 143 for MLDv2) behind the Hop-by-Hop header with its Router
// Alert option that MLD packets carry: the host's own noise when no MLD
// query was sent to it (a report settle did not wait out, on a loaded
// machine).
func IsMLDReport(p []byte) bool {
	if len(p) < 40 || p[0]>>4 != 6 {
		return false
	}
	next, off := p[6], 40
	if next == 0 { // hop-by-hop
		if len(p) < off+8 {
			return false
		}
		next, off = p[off], off+8*(int(p[off+1])+1)
	}
	if next != 58 || len(p) <= off {
		return false
	}
	return p[off] == 131 || p[off] == 143
}

// namespaces lists the firewall's namespace and its peers', in the order
// they are made.
func (f *Firewall) namespaces() []string {
	names := []string{f.NS}
	for _, l := range f.links {
		names = append(names, l.peerNS)
	}
	return names
}

// close closes the sockets (each holds its namespace alive) and removes
// the namespaces, which takes the veth pairs and all rules with them.
// It then checks the names are really gone.
func (f *Firewall) close() error {
	var errs []error
	for _, l := range f.links {
		errs = append(errs, l.closeSockets())
	}
	for _, ns := range f.namespaces() {
		errs = append(errs, deleteNetns(ns))
	}
	for _, ns := range f.namespaces() {
		if netnsExists(ns) {
			errs = append(errs, fmt.Errorf("namespace %s still exists after ip netns del", ns))
		}
	}
	return errors.Join(errs...)
}

// Namespaces returns the names of every namespace the firewall made: its
// own first, then one per peer. Tests use it to check cleanup.
func (f *Firewall) Namespaces() []string { return f.namespaces() }

// NamespaceExists reports whether a named network namespace exists, so a
// test can check that a Firewall's namespaces are gone after it.
func NamespaceExists(name string) bool { return netnsExists(name) }

// link returns the interface called name, or an error naming the ones
// there are.
func (f *Firewall) link(name string) (*link, error) {
	var names []string
	for _, l := range f.links {
		if l.Name == name {
			return l, nil
		}
		names = append(names, l.Name)
	}
	return nil, fmt.Errorf("firewall %s has no interface %q (it has %s)", f.NS, name, strings.Join(names, ", "))
}

// Links returns the firewall's interfaces.
func (f *Firewall) Links() []Link {
	out := make([]Link, len(f.links))
	for i, l := range f.links {
		out[i] = l.Link
	}
	return out
}

// AddNeighbour gives addr a permanent neighbour entry on interface ifname
// of the firewall, pointing at that interface's peer, so the firewall
// sends packets for addr without resolving it first (the peers have no
// addresses and would never answer ARP).
func (f *Firewall) AddNeighbour(ifname string, addr netip.Addr) error {
	l, err := f.link(ifname)
	if err != nil {
		return err
	}
	if out, err := runTool("ip", "-n", f.NS, "neigh", "replace", addr.String(),
		"lladdr", l.PeerMAC.String(), "dev", l.Name, "nud", "permanent"); err != nil {
		return fmt.Errorf("adding neighbour %s on %s: %v: %s", addr, ifname, err, out)
	}
	return nil
}

// Restore loads rules, in iptables-restore format, with the backend's
// iptables-restore inside the firewall namespace. As with the tool itself
// the tables named in rules are replaced and the others kept. The error
// carries iptables-restore's standard error, which names the bad line.
func (f *Firewall) Restore(rules string) error {
	// -w: the legacy backend takes the machine-wide xtables lock, which
	// other test processes' namespaces share; wait for it rather than
	// fail. The nft backend accepts and ignores it.
	_, err := runIn(f.NS, strings.NewReader(rules), toolPath(f.Backend.tool("restore")), "-w", "10")
	return err
}

// RestoreSets loads sets, in `ipset restore` format, into the firewall
// namespace (the kernel's sets are per namespace). The error carries
// ipset's standard error.
func (f *Firewall) RestoreSets(sets string) error {
	_, err := runIn(f.NS, strings.NewReader(sets), toolPath("ipset"), "restore")
	return err
}

// Save returns the backend's iptables-save output for the firewall
// namespace, without counters.
func (f *Firewall) Save() (string, error) {
	return runIn(f.NS, nil, toolPath(f.Backend.tool("save")))
}

// Restore6 loads IPv6 rules with the backend's ip6tables-restore, as
// Restore does for IPv4.
func (f *Firewall) Restore6(rules string) error {
	_, err := runIn(f.NS, strings.NewReader(rules), toolPath(ip6(f.Backend.tool("restore"))), "-w", "10")
	return err
}

// Save6 returns the backend's ip6tables-save output, without counters.
func (f *Firewall) Save6() (string, error) {
	return runIn(f.NS, nil, toolPath(ip6(f.Backend.tool("save"))))
}

// SaveCounters returns iptables-save -c output: every rule line starts
// with its [packets:bytes] counter, and every chain line ends with one.
// ParseSaveCounters reads it.
func (f *Firewall) SaveCounters() (string, error) {
	return runIn(f.NS, nil, toolPath(f.Backend.tool("save")), "-c")
}

// SaveCounters6 returns ip6tables-save -c output, as SaveCounters does
// for IPv4.
func (f *Firewall) SaveCounters6() (string, error) {
	return runIn(f.NS, nil, toolPath(ip6(f.Backend.tool("save"))), "-c")
}

// ip6 turns the name of an iptables tool into its ip6tables twin.
func ip6(tool string) string { return "ip6" + strings.TrimPrefix(tool, "ip") }

// Run runs a command in the firewall namespace (ip netns exec) and returns
// its standard output; the error carries its standard error. The command
// is looked up on PATH, so Run("iptables-nft", "-L", "-n") works as is.
func (f *Firewall) Run(args ...string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("kernel.Firewall.Run: no command")
	}
	if p, err := lookTool(args[0]); err == nil {
		args = append([]string{p}, args[1:]...)
	}
	return runIn(f.NS, nil, args...)
}

// FlushConntrack empties the firewall namespace's connection tracking
// table, so that the next packets start new connections.
func (f *Firewall) FlushConntrack() error {
	_, err := runIn(f.NS, nil, toolPath("conntrack"), "-F")
	return err
}

// runTool runs one of the required tools in the caller's namespace and
// returns its combined output for error messages.
func runTool(name string, args ...string) (string, error) {
	return runToolStdin("", name, args...)
}

func runToolStdin(stdin, name string, args ...string) (string, error) {
	cmd := exec.Command(toolPath(name), args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return strings.TrimSpace(string(out)), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
