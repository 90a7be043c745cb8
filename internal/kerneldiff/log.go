package kerneldiff

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

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
}

var (
	logCases  atomic.Uint64
	logPrefix = regexp.MustCompile(`--log-prefix "([^"]*)"`)
	// ipID is the first ID= after a TTL=: the outer header's.
	ipID = regexp.MustCompile(`^(.*? TTL=\d+ ID=)\d+ `)
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
		if i < len(ours) && (strings.Contains(theirs[i], ": IN= ") || strings.Contains(theirs[i], ": IN=lo ")) {
			theirs[i] = ownPacket(theirs[i], ours[i])
		}
	}
	return theirs, ours, nil
}

// ownPacket leaves out of the kernel's LOG line of a packet the host
// sent (OUTPUT's, or INPUT's when it went to the host itself over lo)
// what DIFFERENCES.md says ipsift does not model there, when
// ipsift's line has its 0: the IP ID of the ICMP errors the kernel
// makes (hashed). The rest of the line is compared, and all of an IPv6
// line: the IPv6 host makes no automatic flow labels
// (net.ipv6.auto_flowlabels=0, kernel.Options).
func ownPacket(theirs, ours string) string {
	if m := ipID.FindStringSubmatch(ours); m != nil && strings.HasSuffix(m[0], " ID=0 ") && strings.Contains(ours, " PROTO=ICMP TYPE=") {
		theirs = ipID.ReplaceAllString(theirs, "${1}0 ")
	}
	return theirs
}
