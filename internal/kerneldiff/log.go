package kerneldiff

import (
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/internal/kernel"
)

// LOG lines, packet by packet. The kernel's log is the machine's, so a
// case's LOG prefixes get a tag of its own before either side loads
// them ("kd: " becomes "L1f2a3-kd: "); after each packet the kernel's
// new lines with the tag are read (dmesg) and compared with the lines
// ipsift's LOG targets wrote for it. Comparing needs
// net.netfilter.nf_log_all_netns, which kernel.EnableNamespaceLog turns
// on for the case (machine-wide, under its lock).

// logCheck is the LOG comparison of one case.
type logCheck struct {
	tag  string
	ours strings.Builder // ipsift's engine.Log
	// seen counts the kernel's lines read so far, used the ipsift lines
	// already compared.
	seen, used int
	host       *host.Host // the host's addresses: whose packets it made
}

var (
	logCases  atomic.Uint64
	logPrefix = regexp.MustCompile(`--log-prefix "([^"]*)"`)
	// flowLabel is the first FLOWLBL= of a LOG line, ipID the first
	// ID= after a TTL=: the outer header's.
	flowLabel = regexp.MustCompile(`^(.*? FLOWLBL=)\d+ `)
	ipID      = regexp.MustCompile(`^(.*? TTL=\d+ ID=)\d+ `)
)

// newLogCheck returns the comparison for a case whose kernel and ipsift
// rules are rs, or nil when it has no LOG rule or one without a prefix
// (its lines could not be told from other tests' lines).
func newLogCheck(rs string) *logCheck {
	n := strings.Count(rs, "-j LOG")
	if n == 0 || len(logPrefix.FindAllString(rs, -1)) != n {
		return nil
	}
	// The prefix is at most 29 characters: the tag takes 10.
	tag := fmt.Sprintf("L%04x%04x-", os.Getpid()&0xffff, logCases.Add(1)&0xffff)
	for _, m := range logPrefix.FindAllStringSubmatch(rs, -1) {
		if len(tag)+len(m[1]) > 29 {
			return nil
		}
	}
	return &logCheck{tag: tag}
}

// tagRules puts the tag before every LOG prefix of rs.
func (c *logCheck) tagRules(rs string) string {
	return logPrefix.ReplaceAllString(rs, `--log-prefix "`+c.tag+`$1"`)
}

// packet returns the kernel's and ipsift's LOG lines for the packet just
// run on both sides.
func (c *logCheck) packet() (theirs, ours []string, err error) {
	all := strings.Split(strings.TrimRight(c.ours.String(), "\n"), "\n")
	if c.ours.Len() == 0 {
		all = nil
	}
	for _, l := range all[c.used:] {
		ours = append(ours, strings.TrimRight(l, " "))
	}
	c.used = len(all)
	wait := time.Duration(0)
	if len(ours) > 0 {
		wait = 500 * time.Millisecond // the kernel's printk may trail the packet
	}
	lines, err := kernel.LogLines(c.tag, c.seen+len(ours), wait)
	if err != nil {
		return nil, nil, err
	}
	if c.seen < len(lines) {
		theirs = lines[c.seen:]
	}
	c.seen = len(lines)
	for i := range theirs {
		if i < len(ours) && strings.Contains(theirs[i], ": IN= ") {
			theirs[i] = ownPacket(theirs[i], ours[i])
		}
		if i < len(ours) && c.host != nil {
			theirs[i] = hostFlowLabels(theirs[i], ours[i], c.host)
		}
	}
	return theirs, ours, nil
}

// hostFlowLabels is ownPacket's flow-label allowance for the other lines that show a
// packet the host made: one looped back to it (IN=lo), and a packet an
// ICMPv6 error quotes (in brackets). Each packet of the kernel's line
// whose source is an address of the host gets FLOWLBL=0 where ipsift's
// line has 0 for the same packet; nothing else changes.
func hostFlowLabels(theirs, ours string, h *host.Host) string {
	tp, op := strings.Split(theirs, "SRC="), strings.Split(ours, "SRC=")
	if len(tp) != len(op) || len(tp) < 2 {
		return theirs
	}
	for k := 1; k < len(tp); k++ {
		addr, _, _ := strings.Cut(tp[k], " ")
		a, err := netip.ParseAddr(addr)
		if err != nil || !strings.Contains(op[k], " FLOWLBL=0 ") {
			continue
		}
		if !h.IsLocal(a) {
			continue
		}
		tp[k] = flowLabel.ReplaceAllString(tp[k], "${1}0 ")
	}
	return strings.Join(tp, "SRC=")
}

// ownPacket leaves out of the kernel's LOG line of a packet the host
// sent what DIFFERENCES.md says ipsift does not model there, when
// ipsift's line has its 0: the automatic IPv6 flow label of the
// packets the kernel makes (a hash keyed with a per-boot secret,
// net.ipv6.auto_flowlabels), and the IP ID of the ICMP errors it makes
// (hashed). The rest of the line is compared.
func ownPacket(theirs, ours string) string {
	if m := flowLabel.FindStringSubmatch(ours); m != nil && strings.HasSuffix(m[0], "=0 ") {
		theirs = flowLabel.ReplaceAllString(theirs, "${1}0 ")
	}
	if m := ipID.FindStringSubmatch(ours); m != nil && strings.HasSuffix(m[0], " ID=0 ") && strings.Contains(ours, " PROTO=ICMP TYPE=") {
		theirs = ipID.ReplaceAllString(theirs, "${1}0 ")
	}
	return theirs
}
