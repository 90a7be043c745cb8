// Package kernel runs the real Linux firewall as a test oracle for ipsift.
//
// A test builds a Firewall: a fresh set of network namespaces holding a
// host addressed like ipsift's default host model (eth0 198.51.100.1/24
// with a default route via 198.51.100.254, wlan0 192.0.2.1/24), each of
// its interfaces a veth whose peer sits alone in a namespace of its own,
// with no address, so that nothing but the firewall ever answers. The test
// loads a ruleset with iptables-restore (nf_tables or legacy backend),
// injects raw frames on the peer side (Inject) or sends from the firewall
// itself (SendLocal), and observes what the kernel did: the rule and
// policy counters (SaveCounters, ParseSaveCounters, Diff), the packets
// that left each interface (Capture) and whether a packet was delivered
// to the local stack (Delivered).
//
// NewFirewallWith(t, b, Options{IPv6: true}) adds the IPv6 twin of the
// host (packets.md, "IPv6"); Restore6, Counters6, SaveCounters6 and
// Delivered6 are the IPv6 side, Inject and SendLocal take either family
// and EnableNamespaceLog with LogLines read what LOG rules print.
//
//	func TestSomething(t *testing.T) {
//		fw := kernel.NewFirewall(t, kernel.NFT) // skips without root, iptables or netns
//		if err := fw.Restore(rules); err != nil { t.Fatal(err) }
//		before, _ := fw.SaveCounters()
//		fw.Inject("eth0", ipPacket)
//		after, _ := fw.SaveCounters()
//		hits := kernel.Diff(kernel.ParseSaveCounters(before), kernel.ParseSaveCounters(after))
//		out, _ := fw.Capture("wlan0")
//		...
//	}
//
// Everything a Firewall creates is removed by t.Cleanup, also when the
// test fails. Namespaces are named ipsift-t-<pid>-<n>[-<ifname>], so those
// left behind by a process that died without cleaning up (a test binary
// killed by -timeout, say) are recognised and removed by SweepStale, which
// NewFirewall runs once per process.
//
// Network rules: a Firewall only ever sends into namespaces it created, and
// only the addresses the caller puts into packets; tests must use the
// documentation ranges 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and
// 2001:db8::/32.
package kernel

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// Backend selects which iptables implementation loads and reads rules:
// the nf_tables based iptables-nft-* tools or the x_tables based
// iptables-legacy-* tools. The kernel paths differ, so every ruleset is
// checked against both.
type Backend string

// The two iptables backends.
const (
	NFT    Backend = "nft"
	Legacy Backend = "legacy"
)

// Backends lists every backend, for tests that run once per backend.
var Backends = []Backend{NFT, Legacy}

// tool returns the name of the backend's variant of an iptables tool
// ("restore" → "iptables-nft-restore"); an empty what gives the plain
// command ("iptables-nft").
func (b Backend) tool(what string) string {
	if what == "" {
		return "iptables-" + string(b)
	}
	return "iptables-" + string(b) + "-" + what
}

// sbinDirs are searched after PATH: a non-root user's PATH often lacks
// them, and Available must then report "not root" rather than "no
// iptables".
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin"}

// lookTool finds an executable by name on PATH or in the sbin directories.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range sbinDirs {
		p := d + "/" + name
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or %s", name, strings.Join(sbinDirs, ", "))
}

var (
	availableOnce sync.Once
	availableErr  error
	toolPaths     = map[string]string{}
)

// requiredTools are the programs a Firewall runs: both backends'
// iptables and ip6tables tools, ip for namespaces, links and neighbours, and conntrack
// for FlushConntrack.
func requiredTools() []string {
	var names []string
	for _, b := range Backends {
		names = append(names, b.tool(""), b.tool("restore"), b.tool("save"))
		names = append(names, ip6(b.tool("")), ip6(b.tool("restore")), ip6(b.tool("save")))
	}
	return append(names, "ip", "conntrack")
}

// Available reports whether the kernel harness can run here: nil when the
// process is root, every tool a Firewall runs is installed (ip, conntrack,
// and iptables, iptables-restore and iptables-save of both backends) and a
// network namespace can really be created and removed. Otherwise the error
// names everything that is missing, for t.Skip. The probe runs once per
// process.
func Available() error {
	availableOnce.Do(func() { availableErr = probe() })
	return availableErr
}

func probe() error {
	var missing []string
	if uid := os.Geteuid(); uid != 0 {
		missing = append(missing, fmt.Sprintf("not root (euid %d; network namespaces and iptables need root)", uid))
	}
	for _, name := range requiredTools() {
		p, err := lookTool(name)
		if err != nil {
			missing = append(missing, err.Error())
			continue
		}
		toolPaths[name] = p
	}
	// Only try namespaces when the rest is there: without root or ip the
	// attempt can only repeat what is already said.
	if len(missing) == 0 {
		if err := probeNetns(); err != nil {
			missing = append(missing, err.Error())
		}
	}
	if len(missing) > 0 {
		return errors.New("kernel harness unavailable: " + strings.Join(missing, "; "))
	}
	return nil
}

// probeNetns creates and removes one namespace, the cheapest proof that
// `ip netns` works here (a container without CAP_SYS_ADMIN, say, has root
// and ip but cannot do it).
func probeNetns() error {
	name := fmt.Sprintf("%s%d-probe", nsPrefix, os.Getpid())
	if out, err := exec.Command(toolPaths["ip"], "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add does not work: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command(toolPaths["ip"], "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s failed: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// toolPath returns the path Available found for name. Callers run only
// after Available succeeded, so the lookup cannot miss; the bare name is
// a harmless fallback.
func toolPath(name string) string {
	if p, ok := toolPaths[name]; ok {
		return p
	}
	return name
}
