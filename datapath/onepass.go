package datapath

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/ipsift/ipsift/datapath/nfqueue"
	"github.com/ipsift/ipsift/host"
)

// One pass for source NAT (--one-pass).
//
// A forwarded packet whose source ipsift rewrites (MASQUERADE, SNAT, the
// undoing of a DNAT on a reply) normally crosses twice: the kernel would
// drop the finished packet, whose source is now one of the host's own
// addresses, as a martian when it routes it (fib_validate_source), so it
// is routed with its original source and finished at POSTROUTING. With
// net.ipv4.conf.all.accept_local=1 the kernel accepts such a source, and
// the finished packet can go back in the first verdict. ipsift sets it
// while it runs and restores it when it stops, and then does itself what
// accept_local no longer does: a packet that arrives (not on lo) with a
// source that is an address of the host is dropped, where the interface
// did not accept local sources before.
//
// The kernel routes and validates the finished packet by its new source,
// so ipsift takes the one pass only where that changes nothing:
//   - at start: reverse path filtering off (rp_filter 0 on all, default
//     and every interface: a strict or loose check would look up the new
//     source) and no policy routing rules or local routes beyond the
//     kernel's own (they make the kernel look the source up in full);
//     otherwise `ipsift run --one-pass` refuses to start;
//   - per packet: never when it leaves by the interface it came in on
//     (the kernel would send an ICMP redirect to the source, now the host
//     itself), nor when the kernel might answer it with Fragmentation
//     Needed (to the source, again): a packet with DF bigger than the
//     outgoing MTU, or a GSO packet when the outgoing MTU is below the
//     incoming one. Those take the two passes as before.

// onePass is what --one-pass found and changed at start.
type onePass struct {
	// acceptLocal: interfaces that accepted local sources before
	// (conf/all or conf/IFACE accept_local 1); "all" for every one.
	acceptLocal map[string]bool
	restore     string // conf/all/accept_local's value before
	root        string // /proc/sys/net/ipv4/conf
}

// startOnePass checks that the namespace allows the one pass (its conf
// tree under root, its routing with routing) and sets accept_local;
// stop restores it.
func startOnePass(root string, routing func() error) (*onePass, error) {
	o := &onePass{acceptLocal: map[string]bool{}, root: root}
	dirs, err := filepath.Glob(filepath.Join(root, "*"))
	if err != nil || len(dirs) == 0 {
		return nil, fmt.Errorf("--one-pass: cannot read %s", root)
	}
	for _, d := range dirs {
		name := filepath.Base(d)
		rp, err := readSysctl(filepath.Join(d, "rp_filter"))
		if err != nil {
			return nil, fmt.Errorf("--one-pass: %v", err)
		}
		if rp != "0" {
			return nil, fmt.Errorf("--one-pass: net.ipv4.conf.%s.rp_filter is %s: the kernel would check the rewritten source; set it to 0 (ipsift's rpfilter match still filters) or run without --one-pass", name, rp)
		}
		al, err := readSysctl(filepath.Join(d, "accept_local"))
		if err != nil {
			return nil, fmt.Errorf("--one-pass: %v", err)
		}
		if al != "0" {
			o.acceptLocal[name] = true
		}
		if name == "all" {
			o.restore = al
		}
	}
	if err := routing(); err != nil {
		return nil, fmt.Errorf("--one-pass: %v; run without --one-pass", err)
	}
	if err := os.WriteFile(filepath.Join(root, "all", "accept_local"), []byte("1"), 0o644); err != nil {
		return nil, fmt.Errorf("--one-pass: setting accept_local: %w", err)
	}
	return o, nil
}

func (o *onePass) stop() {
	if o != nil && o.restore != "" {
		os.WriteFile(filepath.Join(o.root, "all", "accept_local"), []byte(o.restore), 0o644)
	}
}

func readSysctl(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}

// checkRouting refuses policy routing rules beyond the kernel's three
// and local routes the kernel did not add itself: with either, the
// kernel validates a source with a full route lookup, which sees the
// rewritten source.
func checkRouting() error {
	var rules []struct {
		Priority int    `json:"priority"`
		Table    string `json:"table"`
		Src      string `json:"src"`
	}
	if err := ipJSON(&rules, "-4", "rule", "show"); err != nil {
		return err
	}
	want := map[int]string{0: "local", 32766: "main", 32767: "default"}
	for _, r := range rules {
		if want[r.Priority] != r.Table || r.Src != "all" || len(rules) != 3 {
			return fmt.Errorf("policy routing rules beyond the kernel's three (ip rule)")
		}
	}
	var routes []ipRoute
	if err := ipJSON(&routes, "-4", "route", "show", "table", "local"); err != nil {
		return err
	}
	for _, r := range routes {
		if r.Protocol != "kernel" {
			return fmt.Errorf("a local route not the kernel's own (ip route show table local: %s %s)", r.Type, r.Dst)
		}
	}
	return nil
}

// martian reports a packet the kernel would have dropped as a martian
// when it routes it, had ipsift not set accept_local: it arrived on in
// (not loopback, which routes nothing again) from src, an address of the
// host, and in did not accept local sources before. The caller holds
// hostMu.
func (r *Runner) martian(src netip.Addr, in string) bool {
	o := r.onePass
	if o == nil || in == "lo" || in == "" || o.acceptLocal["all"] || o.acceptLocal[in] {
		return false
	}
	return r.lh.h.AddrType(src, "") == host.RTNLocal
}

// onePassOK reports whether a forwarded packet whose source ipsift
// rewrote can leave in one verdict: out is the finished packet, leaving
// by outIf. The caller holds hostMu.
func (r *worker) onePassOK(p *nfqueue.Packet, out []byte, outIf string) bool {
	if r.onePass == nil || isIPv6(out) || outIf == r.in.In || outIf == "" {
		return false
	}
	mtuOut, mtuIn := r.lh.mtu[outIf], r.lh.mtu[r.in.In]
	if mtuOut == 0 || mtuIn == 0 {
		return false
	}
	if p.SkbInfo&nfqueue.SkbGSO != 0 {
		// Its segments fitted the interface it came in by.
		return mtuOut >= mtuIn
	}
	df := out[6]&0x40 != 0
	return !df || len(out) <= mtuOut
}
