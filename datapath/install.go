package datapath

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Marks ipsift uses on packets it passes back to the kernel. Bit 31 says
// "ipsift's": 0x80000000 alone marks the answers ipsift sends itself
// (REJECT), which must not be queued again; bits 31 and 30 together mark
// a packet that must come back at POSTROUTING for its source rewrite,
// with a slot (bits 0-11) and a generation (bits 12-25) naming the
// rewritten packet ipsift keeps for it, and the worker that keeps it
// (bits 26-29: its queue is the first plus that number).
const (
	markOwn     = 0x80000000
	markPending = 0xc0000000
	workerShift = 26
	genMask     = 0x3fff
	// markWorker is the part of a second-pass mark a POSTROUTING rule
	// matches to send the packet back to its worker's queue.
	markWorker = 0xfc000000
)

// queueSpec is the queues the kernel rules send packets to: n queues
// from first, spread by address (--queue-balance) or by CPU
// (--queue-cpu-fanout) when n > 1.
type queueSpec struct {
	first     uint16
	n         uint16
	cpuFanout bool
}

// target is the NFQUEUE target that spreads packets over the queues.
func (q queueSpec) target() string {
	if q.n <= 1 {
		return fmt.Sprintf("-j NFQUEUE --queue-num %d", q.first)
	}
	t := fmt.Sprintf("-j NFQUEUE --queue-balance %d:%d", q.first, q.first+q.n-1)
	if q.cpuFanout {
		t += " --queue-cpu-fanout"
	}
	return t
}

// The kernel side is installed with iptables-restore (iptables-nft on
// current distributions), not with a native nft queue statement: the
// NFQUEUE xtables target is built into more kernels than nft_queue
// (CONFIG_NFT_QUEUE), and iptables-nft uses the xtables target through
// nft_compat.
//
// kernelRules returns the iptables-restore --noflush script ipsift
// installs, and removeRules the commands that take it out again:
//
//   - raw PREROUTING (priority -300, before conntrack at -200), chain
//     PREFIX-PRE: CT --notrack, so the kernel's conntrack and NAT leave
//     the packet alone, then NFQUEUE every IPv4 packet that comes in;
//   - raw OUTPUT, chain PREFIX-OUT: the same for packets the host sends,
//     except ipsift's own answers (mark 0x80000000);
//   - mangle POSTROUTING, chain PREFIX-POST: queue again only the packets
//     ipsift marked for a source rewrite after routing, each to the
//     queue of the worker that keeps its rewritten packet.
//
// With failOpen the NFQUEUE rules carry --queue-bypass: with no program
// reading the queue, packets pass instead of being dropped. exemptPort,
// when not zero, is a TCP port of the host itself left to the kernel
// entirely (a management exemption: ssh keeps working if ipsift dies
// fail-closed).
//
// With martians (--one-pass, IPv4), a packet that arrives (not on lo)
// with one of the host's addresses as its source is queued before any
// rule that lets packets reach the kernel without ipsift (the exemption,
// offload's): accept_local would let the kernel take it, and ipsift
// drops it as the kernel did before (onepass.go).
//
// With offload (offload.go), TCP segments without SYN, FIN and RST go
// on from raw to the kernel's conntrack, ahead of the exemption and the
// queue rules; offloadRules adds what decides them after conntrack.
func kernelRules(prefix string, qs queueSpec, failOpen bool, exemptPort uint16, martians bool, offload offloadMode) string {
	q := queueTarget(qs, failOpen)
	var b strings.Builder
	fmt.Fprintf(&b, "*raw\n:%[1]s-PRE - [0:0]\n:%[1]s-OUT - [0:0]\n", prefix)
	fmt.Fprintf(&b, "-I PREROUTING 1 -j %s-PRE\n-I OUTPUT 1 -j %s-OUT\n", prefix, prefix)
	if martians && (exemptPort != 0 || offload != offloadOff) {
		fmt.Fprintf(&b, "-A %[1]s-PRE ! -i lo -m addrtype --src-type LOCAL -j CT --notrack\n-A %[1]s-PRE ! -i lo -m addrtype --src-type LOCAL %[2]s\n", prefix, q)
	}
	if offload != offloadOff {
		// The segments the kernel may carry: without SYN, FIN and RST;
		// with offloadClose, without SYN.
		flags := "SYN,FIN,RST"
		if offload == offloadClose {
			flags = "SYN"
		}
		if offload == offloadFirst {
			// Without SYN and RST, and SYN-ACKs without RST, arriving by
			// the interface the host routes their source to: what the
			// probes at the SYN assumed (offload.go). A RST always
			// crosses (the kernel would apply it to a connection in
			// SYN_SENT, state NEW, before ipsift could take it back).
			for _, f := range []string{"SYN,RST NONE", "SYN,ACK,RST SYN,ACK"} {
				fmt.Fprintf(&b, "-A %s-PRE -p tcp -m tcp --tcp-flags %s -m rpfilter -j ACCEPT\n", prefix, f)
				fmt.Fprintf(&b, "-A %s-OUT -p tcp -m tcp --tcp-flags %s -m mark ! --mark 0x%08x/0x%08x -j ACCEPT\n", prefix, f, markOwn, markOwn)
			}
		} else {
			fmt.Fprintf(&b, "-A %s-PRE -p tcp -m tcp --tcp-flags %s NONE -j ACCEPT\n", prefix, flags)
			fmt.Fprintf(&b, "-A %s-OUT -p tcp -m tcp --tcp-flags %s NONE -m mark ! --mark 0x%08x/0x%08x -j ACCEPT\n", prefix, flags, markOwn, markOwn)
		}
	}
	if exemptPort != 0 {
		fmt.Fprintf(&b, "-A %s-PRE -p tcp --dport %d -m addrtype --dst-type LOCAL -j RETURN\n", prefix, exemptPort)
		fmt.Fprintf(&b, "-A %s-OUT -p tcp --sport %d -j RETURN\n", prefix, exemptPort)
	}
	fmt.Fprintf(&b, "-A %[1]s-PRE -j CT --notrack\n-A %[1]s-PRE %[2]s\n", prefix, q)
	fmt.Fprintf(&b, "-A %[1]s-OUT -j CT --notrack\n-A %[1]s-OUT -m mark --mark 0x%08[3]x -j ACCEPT\n-A %[1]s-OUT %[2]s\n", prefix, q, markOwn)
	fmt.Fprintf(&b, "COMMIT\n*mangle\n:%[1]s-POST - [0:0]\n-I POSTROUTING 1 -j %[1]s-POST\n", prefix)
	for i := uint16(0); i < max(qs.n, 1); i++ {
		fmt.Fprintf(&b, "-A %s-POST -m mark --mark 0x%08x/0x%08x %s\n", prefix, markPending|uint32(i)<<workerShift, uint32(markWorker), queueTarget(queueSpec{first: qs.first + i}, failOpen))
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// installRules removes what a crashed run left behind, then loads the
// script in one iptables-restore transaction.
func installRules(prefix, script string) error {
	return installFamily("iptables", prefix, script)
}

// installFamily is installRules with the family's tool: "iptables" or
// "ip6tables" (and its -restore).
func installFamily(tool, prefix, script string) error {
	removeFamily(tool, prefix)
	cmd := exec.Command(tool+"-restore", "--noflush", "--wait")
	cmd.Stdin = strings.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s-restore: %v: %s", tool, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// removeRules takes ipsift's chains out; it reports whether any was
// there. Missing pieces are no error (a stop after a partial install).
func removeRules(prefix string) bool {
	found, _ := removeFamily("iptables", prefix)
	return found
}

// removeFamily is removeRules with the family's tool. A command can
// fail for a moment (another process changing the same namespace's
// rules); a queue rule left behind would hand packets to a queue
// nobody reads, so what is still there afterwards is taken out again,
// a few times, until every chain is gone. err describes every attempt
// that left a chain behind, with what the tool printed (the cause of
// such a failure is not known: the CleanStop test saw chains left once
// and prints ipsift's log, where the caller writes err); it is not nil
// when a retry was needed even if the last attempt succeeded.
func removeFamily(tool, prefix string) (found bool, err error) {
	var failures []string
	run := func(args ...string) (string, error) {
		out, err := exec.Command(tool, append([]string{"--wait"}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		left := false
		for _, c := range [][2]string{{"raw", "PREROUTING:PRE"}, {"raw", "OUTPUT:OUT"}, {"mangle", "POSTROUTING:POST"}} {
			hook, suffix, _ := strings.Cut(c[1], ":")
			chain := prefix + "-" + suffix
			// Every jump (a crashed run may have left more than one).
			var delOut string
			var delErr error
			for i := 0; i < 16; i++ {
				if delOut, delErr = run("-t", c[0], "-D", hook, "-j", chain); delErr != nil {
					break
				}
				found = true
			}
			flushOut, flushErr := run("-t", c[0], "-F", chain)
			delChainOut, delChainErr := run("-t", c[0], "-X", chain)
			if delChainErr == nil {
				found = true
			} else if listed, listErr := run("-t", c[0], "-S", chain); listErr == nil {
				left = true // the chain is there and could not go
				failures = append(failures, fmt.Sprintf("attempt %d: %s -t %s: -D %s -j %s: %v %q; -F: %v %q; -X: %v %q; the chain holds: %q",
					attempt+1, tool, c[0], hook, chain, delErr, delOut, flushErr, flushOut, delChainErr, delChainOut, listed))
			}
		}
		if !left {
			break
		}
	}
	if len(failures) > 0 {
		err = fmt.Errorf("removing %s's chains: %s", tool, strings.Join(failures, "; "))
	}
	return found, err
}
