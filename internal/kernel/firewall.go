package kernel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Link describes one interface of the firewall host and the peer at its
// other end.
type Link struct {
	Name    string           // interface name in the firewall namespace, e.g. "eth0"
	Prefix  netip.Prefix     // the firewall's address and its subnet, e.g. 198.51.100.1/24
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
			MAC:     net.HardwareAddr{0x02, 0, 0, 0, 0x00, 0x01},
			PeerMAC: net.HardwareAddr{0x02, 0, 0, 0, 0x01, 0x01},
		},
		{
			Name:    "wlan0",
			Prefix:  netip.MustParsePrefix("192.0.2.1/24"),
			MAC:     net.HardwareAddr{0x02, 0, 0, 0, 0x00, 0x02},
			PeerMAC: net.HardwareAddr{0x02, 0, 0, 0, 0x02, 0x01},
		},
	}
}

// DefaultGateway is the default host's next hop for everything off its
// subnets, reached through eth0.
var DefaultGateway = netip.MustParseAddr("198.51.100.254")

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
// off, and the host stack settings of shared/formats/packets.md
// (icmp_echo_ignore_all=1, icmp_ratelimit=0, icmp_msgs_per_sec and
// icmp_msgs_burst 100000). No iptables rules are loaded.
//
// It calls Require first, so it skips (or under CI fails) the test when
// the harness cannot run here. Any other failure to build the host fails
// the test.
// Everything is removed by t.Cleanup, whatever way the test ends.
func NewFirewall(t testing.TB, b Backend) *Firewall {
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
		{"net.ipv4.ip_forward", "1"},
		{"net.ipv4.conf.all.rp_filter", "0"},
		{"net.ipv4.conf.default.rp_filter", "0"},
		{"net.ipv4.icmp_echo_ignore_all", "1"},
		{"net.ipv4.icmp_ratelimit", "0"},
		{"net.ipv4.icmp_msgs_per_sec", "100000"},
		{"net.ipv4.icmp_msgs_burst", "100000"},
	}
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
	for _, l := range f.links {
		if err := l.openSockets(); err != nil {
			return err
		}
	}
	// Nothing should have been sent yet, but a capture must start empty.
	f.drain()
	return nil
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
	_, err := runIn(f.NS, strings.NewReader(rules), toolPath("ip6"+strings.TrimPrefix(f.Backend.tool("restore"), "ip")), "-w", "10")
	return err
}

// Save6 returns the backend's ip6tables-save output, without counters.
func (f *Firewall) Save6() (string, error) {
	return runIn(f.NS, nil, toolPath("ip6"+strings.TrimPrefix(f.Backend.tool("save"), "ip")))
}

// SaveCounters returns iptables-save -c output: every rule line starts
// with its [packets:bytes] counter, and every chain line ends with one.
// ParseSaveCounters reads it.
func (f *Firewall) SaveCounters() (string, error) {
	return runIn(f.NS, nil, toolPath(f.Backend.tool("save")), "-c")
}

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
