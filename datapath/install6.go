package datapath

import (
	"fmt"
	"strings"
)

// The IPv6 half of the kernel side: the same chains at the same hooks,
// loaded with ip6tables-restore (kernelRules' script is valid for both
// families), plus the neighbour discovery exemption.
//
// Neighbour discovery is not queued (unless Config.QueueND): router and
// neighbour solicitations and advertisements (ICMPv6 133-136) with the
// hop limit of 255 that RFC 4861 requires, sent by the host or
// addressed to it (one of its addresses, or a link-local multicast
// group, ff02::/16), go straight to the kernel. A queued NS or NA waits
// for ipsift: a daemon that stalls (stopped, swapping, a full queue
// fail-closed) would stop the host resolving its neighbours, and with
// that every IPv6 packet, including those of an --exempt-port. The
// price: ipsift's rules do not see those packets, so a rule that drops
// them is not enforced live and their counters stay 0 (DIFFERENCES.md).
// The kernel leaves the same packets untracked, so conntrack state is
// the same either way. Redirects (137) and MLD are queued: neither is
// needed to reach a neighbour. Packets to be forwarded never match the
// exemption (their destination is neither local nor link-local
// multicast).
var ndTypes = [...]int{133, 134, 135, 136}

// kernelRules6 is kernelRules for ip6tables-restore: the same script,
// then (unless queueND) a second raw section that lets neighbour
// discovery through before the queue rules.
func kernelRules6(prefix string, qs queueSpec, failOpen bool, exemptPort uint16, queueND bool) string {
	script := kernelRules(prefix, qs, failOpen, exemptPort, false, offloadOff)
	if queueND {
		return script
	}
	var b strings.Builder
	b.WriteString(script)
	b.WriteString("*raw\n")
	for _, t := range ndTypes {
		nd := fmt.Sprintf("-p ipv6-icmp -m icmp6 --icmpv6-type %d -m hl --hl-eq 255 -j RETURN", t)
		fmt.Fprintf(&b, "-I %s-PRE 1 -d ff02::/16 %s\n", prefix, nd)
		fmt.Fprintf(&b, "-I %s-PRE 1 -m addrtype --dst-type LOCAL %s\n", prefix, nd)
		fmt.Fprintf(&b, "-I %s-OUT 1 %s\n", prefix, nd)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// startQueue6 installs the IPv6 queue rules when the rules have an IPv6
// part; without one IPv6 stays the kernel's (its own ip6tables rules
// decide it), as before IPv6 rules are given.
func (r *Runner) startQueue6() error {
	r.six.Lock()
	defer r.six.Unlock()
	r.six.running = true
	if !r.six.wanted {
		r.log.Warn("the rules have no IPv6 part: IPv6 is not queued, the kernel's own ip6tables rules decide it (a reload with IPv6 rules starts queueing it)")
		return nil
	}
	return r.installQueue6()
}

// queue6 is called when a reload brings IPv6 rules: from now on IPv6
// is queued too. fresh reports that this call installed the rules.
func (r *Runner) queue6() (fresh bool, err error) {
	r.six.Lock()
	defer r.six.Unlock()
	if !r.six.running || r.six.installed {
		r.six.wanted = true
		return false, nil
	}
	if err := r.installQueue6(); err != nil {
		return false, err
	}
	r.six.wanted = true
	return true, nil
}

// unqueue6 undoes a fresh queue6 whose reload then failed.
func (r *Runner) unqueue6() {
	r.six.Lock()
	defer r.six.Unlock()
	if r.six.installed {
		if _, err := removeFamily("ip6tables", r.cfg.ChainPrefix); err != nil {
			r.log.Warn("taking the IPv6 queue rules out", "err", err)
		}
		r.six.installed, r.six.wanted = false, false
	}
}

func (r *Runner) installQueue6() error {
	script := kernelRules6(r.cfg.ChainPrefix, r.queueSpec(), r.cfg.FailOpen, r.cfg.ExemptPort, r.cfg.QueueND)
	if err := installFamily("ip6tables", r.cfg.ChainPrefix, script); err != nil {
		return err
	}
	r.six.installed = true
	r.log.Info("installed kernel rules", "family", "ipv6", "chains", r.cfg.ChainPrefix+"-PRE,-OUT (raw) -POST (mangle)", "queue", r.cfg.Queue, "queue_nd", r.cfg.QueueND, "rules", script)
	return nil
}

// stopQueue6 takes the IPv6 queue rules out.
func (r *Runner) stopQueue6() {
	r.six.Lock()
	defer r.six.Unlock()
	r.six.running = false
	if r.six.installed {
		if _, err := removeFamily("ip6tables", r.cfg.ChainPrefix); err != nil {
			r.log.Warn("taking the IPv6 queue rules out", "err", err)
		}
		r.six.installed = false
	}
}
