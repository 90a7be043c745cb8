package datapath

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/engine"
)

// QueueStats are the kernel's counters of one NFQUEUE queue, from
// /proc/net/netfilter/nfnetlink_queue.
type QueueStats struct {
	Waiting uint64 // packets queued, not yet answered
	// Dropped: the queue was full; UserDropped: the kernel could not
	// hand a packet to ipsift's socket (its buffer was full).
	Dropped, UserDropped uint64
}

// procQueue is where the kernel lists its queues (a variable for tests).
var procQueue = "/proc/net/netfilter/nfnetlink_queue"

// QueueStats reads the kernel's counters of the runner's queues, summed
// over them; ok is false when the kernel lists none of them (not bound,
// no such file).
func (r *Runner) QueueStats() (qs QueueStats, ok bool) {
	f, err := os.Open(procQueue)
	if err != nil {
		return qs, false
	}
	defer f.Close()
	return parseQueueStats(f, r.cfg.Queue, max(r.cfg.Queues, 1))
}

// parseQueueStats sums the lines of queues first to first+n-1:
// queue_num peer_portid queue_total copy_mode copy_range queue_dropped
// user_dropped id_sequence 1.
func parseQueueStats(rd io.Reader, first, n uint16) (qs QueueStats, ok bool) {
	sc := bufio.NewScanner(rd)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 7 {
			continue
		}
		num, err := strconv.ParseUint(f[0], 10, 16)
		if err != nil || num < uint64(first) || num >= uint64(first)+uint64(n) {
			continue
		}
		var v [3]uint64
		for i, j := range []int{2, 5, 6} {
			x, err := strconv.ParseUint(f[j], 10, 64)
			if err != nil {
				return QueueStats{}, false
			}
			v[i] = x
		}
		qs.Waiting += v[0]
		qs.Dropped += v[1]
		qs.UserDropped += v[2]
		ok = true
	}
	return qs, ok
}

// MetricsHandler serves the runner's metrics in the Prometheus text
// exposition format (version 0.0.4).
func (r *Runner) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		bw := bufio.NewWriter(w)
		r.WriteMetrics(bw)
		bw.Flush()
	})
}

// WriteMetrics writes the runner's metrics in the Prometheus text
// exposition format: packets and verdicts, queue drops (when the kernel
// lists the queue), conntrack entries, engine time, reloads, trace
// subscribers, and every rule's and built-in chain policy's counters.
func (r *Runner) WriteMetrics(w io.Writer) {
	m := metricWriter{w: w}
	s := &r.Stats
	r.Settle() // the rule counters include what the kernel carried
	m.head("ipsift_packets_total", "counter", "Packets received from the queue (both passes).")
	m.val("ipsift_packets_total", "", s.Packets.Load())
	m.head("ipsift_verdicts_total", "counter", "Packets decided, by verdict.")
	m.val("ipsift_verdicts_total", `verdict="accept"`, s.Accepted.Load())
	m.val("ipsift_verdicts_total", `verdict="drop"`, s.Dropped.Load())
	m.val("ipsift_verdicts_total", `verdict="reject"`, s.Rejected.Load())
	m.head("ipsift_icmp_rate_limited_total", "counter", "REJECT answers (ICMP errors) not sent because of the per-destination ICMP rate limit, as the kernel's icmp_ratelimit.")
	m.val("ipsift_icmp_rate_limited_total", "", s.ICMPLimited.Load())
	m.head("ipsift_rewritten_total", "counter", "Packets handed back with a rewritten payload or mark.")
	m.val("ipsift_rewritten_total", "", s.Rewritten.Load())
	m.head("ipsift_second_pass_total", "counter", "Forwarded packets sent through POSTROUTING for their source rewrite.")
	m.val("ipsift_second_pass_total", "", s.SecondPass.Load())
	m.head("ipsift_batch_verdicts_total", "counter", "Batch verdicts sent.")
	m.val("ipsift_batch_verdicts_total", "", s.Batches.Load())
	m.head("ipsift_errors_total", "counter", "Verdicts or raw sends that failed.")
	m.val("ipsift_errors_total", "", s.Errors.Load())
	if qs, ok := r.QueueStats(); ok {
		m.head("ipsift_queue_waiting", "gauge", "Packets the kernel holds in the queue, not yet answered.")
		m.val("ipsift_queue_waiting", "", qs.Waiting)
		m.head("ipsift_queue_dropped_total", "counter", "Packets the kernel dropped (or with --fail-open accepted) because the queue was full.")
		m.val("ipsift_queue_dropped_total", "", qs.Dropped)
		m.head("ipsift_queue_user_dropped_total", "counter", "Packets the kernel could not hand to ipsift's socket.")
		m.val("ipsift_queue_user_dropped_total", "", qs.UserDropped)
	}
	o := &r.OStats
	m.head("ipsift_offload_active", "gauge", "Connections the kernel carries on ipsift's decision now.")
	m.val("ipsift_offload_active", "", uint64(max(o.Active.Load(), 0)))
	m.head("ipsift_offloaded_total", "counter", "Connections handed to the kernel.")
	m.val("ipsift_offloaded_total", "", o.Offloaded.Load())
	m.head("ipsift_offload_returned_total", "counter", "Connections taken back from the kernel.")
	m.val("ipsift_offload_returned_total", "", o.Returned.Load())
	m.head("ipsift_kernel_packets_total", "counter", "Packets the kernel carried on ipsift's decision (settled).")
	m.val("ipsift_kernel_packets_total", "", o.KernelPackets.Load())
	m.head("ipsift_kernel_bytes_total", "counter", "Bytes the kernel carried on ipsift's decision (settled).")
	m.val("ipsift_kernel_bytes_total", "", o.KernelBytes.Load())
	m.head("ipsift_conntrack_entries", "gauge", "Connections in ipsift's conntrack table.")
	m.val("ipsift_conntrack_entries", "", uint64(r.E.CT.Len()))
	m.head("ipsift_engine_seconds", "summary", "Engine time per decided packet.")
	fmt.Fprintf(w, "ipsift_engine_seconds_sum %g\n", float64(s.EngineNanos.Load())/1e9)
	m.val("ipsift_engine_seconds_count", "", s.EngineRuns.Load())
	m.head("ipsift_reloads_total", "counter", "Rule reloads, by result.")
	m.val("ipsift_reloads_total", `result="ok"`, s.Reloads.Load())
	m.val("ipsift_reloads_total", `result="failed"`, s.ReloadsFailed.Load())
	m.head("ipsift_trace_subscribers", "gauge", "Running ipsift ctl trace sessions.")
	m.val("ipsift_trace_subscribers", "", uint64(r.Tracing()))

	// Both families' rules; family tells them apart (the IPv6 tables
	// have rules only when the rules have an IPv6 part).
	prog := r.E.Program()
	fams := []struct {
		name string
		cs   []engine.Counter
	}{{"ipv4", prog.Counters()}, {"ipv6", prog.IPv6().Counters()}}
	for _, kind := range []struct{ name, help string }{
		{"ipsift_rule_packets_total", "Packets that matched a rule (rule is its 1-based number in the chain)."},
		{"ipsift_rule_bytes_total", "Bytes of the packets that matched a rule."},
		{"ipsift_policy_packets_total", "Packets decided by a built-in chain's policy."},
		{"ipsift_policy_bytes_total", "Bytes of the packets decided by a built-in chain's policy."},
	} {
		m.head(kind.name, "counter", kind.help)
		policy := strings.HasPrefix(kind.name, "ipsift_policy")
		for _, f := range fams {
			for _, c := range f.cs {
				if (c.Rule == 0) != policy {
					continue
				}
				labels := fmt.Sprintf(`table="%s",chain="%s"`, escapeLabel(c.Table), escapeLabel(c.Chain))
				if !policy {
					labels += fmt.Sprintf(`,rule="%d"`, c.Rule)
				}
				labels += `,family="` + f.name + `"`
				v := c.Packets
				if strings.HasSuffix(kind.name, "_bytes_total") {
					v = c.Bytes
				}
				m.val(kind.name, labels, v)
			}
		}
	}
}

type metricWriter struct{ w io.Writer }

func (m metricWriter) head(name, typ, help string) {
	fmt.Fprintf(m.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (m metricWriter) val(name, labels string, v uint64) {
	if labels != "" {
		fmt.Fprintf(m.w, "%s{%s} %d\n", name, labels, v)
		return
	}
	fmt.Fprintf(m.w, "%s %d\n", name, v)
}

// escapeLabel escapes a label value as the exposition format wants.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
