package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ipsift/ipsift/analyze"
	"github.com/ipsift/ipsift/capture"
	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/datapath"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/replay"
	"github.com/ipsift/ipsift/rules"
)

func init() {
	fs := newFlags("replay")
	hostFile := fs.String("host", "", "host description file (default: the host of gateway.rules; see README)")
	direction := fs.String("direction", "", "\"in\": every packet whose direction the capture does not record arrived (a capture made with tcpdump -Q in)")
	in := fs.String("in", "", "the interface every packet arrived on (a capture of one link)")
	ifindex := fs.String("ifindex", "", "interface names of the indexes SLL2 and NFLOG record: 2=eth0,3=wlan0")
	noFlowCache := fs.Bool("no-flow-cache", os.Getenv("IPSIFT_NO_FLOW_CACHE") != "", "walk the tables for every packet: without it, the packets of established flows run on their connection's proven path, with the same result (README, \"The flow cache\"; also IPSIFT_NO_FLOW_CACHE=1)")
	verify := fs.Bool("verify-checksums", false, "keep transport checksums as captured (bad ones make packets INVALID, as in the kernel) instead of taking them as correct (offload leaves them wrong in captures)")
	flows := fs.String("flows", "", "write one JSON line per connection to this file (- for stdout)")
	why := fs.Int("why", 0, "show the full trace of N packets per verdict other than accept (or N packets --select picks)")
	sel := fs.String("select", "", "with --why: trace packets this filter picks (the filter of ipsift ctl trace, e.g. 'tcp port 22')")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	samples := fs.Int("samples", 3, "with --json: keep this many packets per rule, each as an ipsift trace line (rule_samples)")
	out := fs.String("o", "", "write the ruleset with the replay's counters to this file (iptables-restore -c format)")
	window := fs.Int("window", 64, "packets held to put timestamps of several interfaces in order")
	interval := fs.Duration("interval", 0, "also show the verdicts and counters per time bucket of this length (e.g. 1h, 10m)")
	write := fs.String("write", "", "write every packet of the capture to this pcapng file with a comment saying what became of it (Wireshark: frame.comment contains \"DROP\")")
	ctFile := fs.String("conntrack", "", "preload the connection table from this file: conntrack -L -o extended taken when the capture began")
	recentDir := fs.String("recent", "", "start the recent lists as this directory holds them: a copy of /proc/net/xt_recent with the file jiffies ("+replay.RecentRecipe+"), made when the capture began")
	rules6 := fs.String("rules6", "", "an ip6tables ruleset (restore file or script) for the IPv6 packets, beside RULES' IPv4 one (without one, IPv6 packets are skipped and counted)")
	out6 := fs.String("o6", "", "write the IPv6 ruleset with the replay's counters to this file (ip6tables-restore -c format)")
	lf := addLoadFlags(fs)
	register(&command{
		name: "replay", args: "RULES CAPTURE | OLD NEW CAPTURE [--direction in] [--in IFACE] [--ifindex N=NAME,...] [--conntrack FILE] [--recent DIR] [--rules6 FILE] [--flows FILE] [--why N] [--interval D] [--json] [-o FILE] [--write FILE.pcapng] [--no-flow-cache]",
		summary: "Run the packets of a pcap or pcapng capture through RULES at the capture's own times, and show the counters\n" +
			"iptables -L -v -x would show afterwards and a summary: packets per verdict, rules never hit, connections,\n" +
			"what was skipped and why. Only arriving packets are inputs. With OLD and NEW: the flows whose fate changes.\n" +
			"Exit 0 replayed (OLD NEW: no flow changes), 1 the rules or the capture have problems (OLD NEW: some flow\n" +
			"changes), 2 usage, an unreadable file, or (OLD NEW) a side that could not be replayed: no answer.",
		example: "  tcpdump -i any -y LINUX_SLL2 -w night.pcap          # SLL2 records direction and interface index\n" +
			"  ipsift replay gateway.rules night.pcap --ifindex 2=eth0,3=wlan0\n" +
			"  ipsift replay gateway.rules eth0.pcap --in eth0 --direction in --why 3\n" +
			"  conntrack -L -o extended > ct.txt; tcpdump -i nflog:5 -w fw.pcap   # the README's NFLOG recipe\n" +
			"  ipsift replay gateway.rules fw.pcap --conntrack ct.txt --ifindex 2=eth0,3=wlan0\n" +
			"  " + replay.RecentRecipe + "\n" +
			"  ipsift replay fw.rules fw.pcap --recent recent --ifindex 2=eth0,3=wlan0   # lists as the live host had them\n" +
			"  ipsift replay old.rules new.rules night.pcap --ifindex 2=eth0,3=wlan0\n" +
			"  ipsift replay gateway.rules night.pcap --ifindex 2=eth0,3=wlan0 --no-flow-cache   # every packet walks the tables (the same output, slower)",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fs, lf.splitScriptArgs(args))
			if err != nil || len(pos) < 2 || len(pos) > 3 {
				return usageError(stderr, "replay", orErr(err, "give RULES and CAPTURE (or OLD NEW CAPTURE)"))
			}
			preload, recent, err := readStartState(*ctFile, *recentDir)
			if err != nil {
				fmt.Fprintf(stderr, "ipsift replay: %v\n", err)
				return exitUsage
			}
			if *interval < 0 {
				return usageError(stderr, "replay", fmt.Errorf("--interval %v: give a positive duration such as 1h", *interval))
			}
			o := replay.Options{Preload: preload, Recent: recent, RuleSamples: *samples * b2i(*asJSON), Interval: int64(*interval), In: *in, VerifyChecksums: *verify, Window: *window, Why: *why, Flows: *flows != "" || len(pos) == 3, NoFlowCache: *noFlowCache}
			switch *direction {
			case "":
			case "in":
				o.AssumeIn = true
			default:
				return usageError(stderr, "replay", fmt.Errorf("--direction %q: only \"in\" is meaningful (departing packets are never inputs)", *direction))
			}
			if o.IfIndex, err = parseIfIndex(*ifindex); err != nil {
				return usageError(stderr, "replay", err)
			}
			if *sel != "" {
				f, err := datapath.ParseFilter(*sel)
				if err != nil {
					return usageError(stderr, "replay", err)
				}
				o.Select = f.Match
				if o.Why == 0 {
					o.Why = 10
				}
			}
			if isTerminal(stderr) {
				o.Progress = progress(pos[len(pos)-1], stderr)
			}
			if *write != "" {
				if len(pos) == 3 {
					return usageError(stderr, "replay", fmt.Errorf("--write takes one ruleset"))
				}
				f, err := os.Create(*write)
				if err != nil {
					fmt.Fprintf(stderr, "ipsift replay: %v\n", err)
					return exitUsage
				}
				defer f.Close()
				if o.Write, err = capture.NewNGWriter(f); err != nil {
					fmt.Fprintf(stderr, "ipsift replay: %v\n", err)
					return exitUsage
				}
			}
			if len(pos) == 3 {
				return replayDiff(pos[0], pos[1], *rules6, pos[2], *hostFile, lf, o, *asJSON, stdout, stderr)
			}
			rep, e, code := replayOne(pos[0], *rules6, pos[1], *hostFile, lf, o, stderr)
			if rep == nil {
				return code
			}
			w := bufio.NewWriter(stdout)
			defer w.Flush()
			if *flows != "" {
				if err := writeFlows(*flows, rep.Flows, w); err != nil {
					fmt.Fprintf(stderr, "ipsift replay: %v\n", err)
					return exitUsage
				}
			}
			rss := []*rules.Ruleset{e.Program().Ruleset()}
			if rep.IPv6 {
				rss = append(rss, e.Program().IPv6().Ruleset())
			}
			for i, path := range []string{*out, *out6} {
				if path == "" {
					continue
				}
				if i >= len(rss) {
					fmt.Fprintf(stderr, "ipsift replay: -o6 %s: no IPv6 rules were replayed (--rules6 FILE)\n", path)
					return exitUsage
				}
				var b bytes.Buffer
				rss[i].Save(&b, rules.SaveOptions{Counters: true})
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					fmt.Fprintf(stderr, "ipsift replay: %v\n", err)
					return exitUsage
				}
			}
			if *asJSON {
				j := replayJSON(rep, rss)
				b, _ := json.Marshal(j)
				w.Write(b)
				w.WriteByte('\n')
				return exitOK
			}
			for _, prs := range rss {
				for _, t := range prs.Tables {
					if prs.Family == ext.IPv6 {
						fmt.Fprintf(w, "# ip6tables table %s\n", t.Name)
					} else {
						fmt.Fprintf(w, "# table %s\n", t.Name)
					}
					prs.List(w, rules.ListOptions{Table: t.Name, Verbose: true, Numeric: true, Exact: true})
					fmt.Fprintln(w)
				}
			}
			writeSummary(w, rep, rss)
			return exitOK
		},
	})
}

// progress returns a Progress function that shows the packets replayed,
// the rate and the time left (from the share of the file read) on a
// terminal, on one line rewritten in place.
func progress(capPath string, stderr io.Writer) func(int, int64) {
	var size int64
	if st, err := os.Stat(capPath); err == nil {
		size = st.Size()
	}
	start := time.Now()
	return func(n int, read int64) {
		el := time.Since(start)
		rate := float64(n) / el.Seconds()
		left := ""
		if size > 0 && read > 0 {
			rest := time.Duration(float64(el) * float64(size-read) / float64(read))
			left = fmt.Sprintf(", %d%%, %s left", read*100/size, rest.Round(time.Second))
		}
		fmt.Fprintf(stderr, "\rreplay: %d packets, %.0f/s%s   ", n, rate, left)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func parseIfIndex(s string) (map[uint32]string, error) {
	m := map[uint32]string{}
	if s == "" {
		return m, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(k, 10, 32)
		if !ok || err != nil || n == 0 || v == "" {
			return nil, fmt.Errorf("--ifindex %q: write INDEX=NAME pairs separated by commas, e.g. 2=eth0,3=wlan0", kv)
		}
		m[uint32(n)] = v
	}
	return m, nil
}

// replayOne loads RULES, runs CAPTURE through it and returns the report
// and the engine (for its counters).
func replayOne(rulesPath, rules6Path, capPath, hostFile string, lf *loadFlags, o replay.Options, stderr io.Writer) (*replay.Report, *engine.Engine, int) {
	res, code := loadResult(rulesPath, lf, stderr)
	if res == nil || res.Rules == nil {
		return nil, nil, code
	}
	if rules6Path != "" {
		lf.family = ext.IPv6
		r6, code := loadResult(rules6Path, lf, stderr)
		lf.family = 0
		if r6 == nil {
			return nil, nil, code
		}
		if r6.Rules6 == nil {
			fmt.Fprintf(stderr, "ipsift replay: %s holds no IPv6 rules\n", rules6Path)
			return nil, nil, exitUsage
		}
		if res.Rules6 != nil {
			fmt.Fprintf(stderr, "ipsift replay: %s already holds IPv6 rules: give --rules6 with an IPv4 RULES\n", rulesPath)
			return nil, nil, exitUsage
		}
		res.Rules6 = r6.Rules6
	}
	h, err := loadHost(hostFile)
	if err != nil {
		fmt.Fprintf(stderr, "ipsift replay: %v\n", err)
		return nil, nil, exitUsage
	}
	// Counters start at zero, as after iptables-restore without -c.
	rs, rs6 := zeroed(res.Rules), zeroed(res.Rules6)
	o.NoIPv6 = rs6 == nil
	f, err := os.Open(capPath)
	if err != nil {
		fmt.Fprintf(stderr, "ipsift replay: %v\n", err)
		return nil, nil, exitUsage
	}
	defer f.Close()
	rd, err := capture.NewReader(f)
	if err != nil {
		fmt.Fprintf(stderr, "ipsift replay: %s: %v\n", capPath, err)
		return nil, nil, exitUsage
	}
	// A capture of the host's own packets before OUTPUT (the NFLOG
	// recipe) holds its stack's real answers: the engine does not
	// invent them.
	own, err := replay.HoldsOwnPackets(rd)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err == nil {
		rd, err = capture.NewReader(f)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ipsift replay: %s: %v\n", capPath, err)
		return nil, nil, exitProblems
	}
	o.OwnAnswers = own
	e, err := engine.New(rs, h, engine.Config{Legacy: lf.legacy, Sets: res.Sets, NoHostStack: own, ForwardErrors: own, Rules6: rs6})
	if err != nil {
		fmt.Fprintf(stderr, "ipsift replay: %v\n", err)
		return nil, nil, exitProblems
	}
	if res.Sets != nil {
		// The sets were read at clock 0: their timeouts start at the
		// capture's first packet.
		o.Start = res.Sets.Shift
	}
	// With a second core, the capture is read beside the engine (replay
	// and report --replay alike; the report is the same either way).
	o.ReadAhead = readAhead()
	r := replay.New(e, o)
	err = r.Run(rd)
	if o.Progress != nil {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ipsift replay: %s: %v (the packets before it were replayed)\n", capPath, err)
		return nil, nil, exitProblems
	}
	return r.Report(), e, exitOK
}

// readAhead says whether to read the capture in a goroutine of its own
// (replay.Options.ReadAhead): when there is a second core. A test sets
// it to compare the outputs with and without.
var readAhead = func() bool { return runtime.GOMAXPROCS(0) > 1 }

// zeroed returns a copy of rs with every counter at zero (nil for nil).
func zeroed(rs *rules.Ruleset) *rules.Ruleset {
	if rs == nil {
		return nil
	}
	rs = rs.Clone()
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			c.Counters = rules.Counters{}
			for _, r := range c.Rules {
				r.Counters = rules.Counters{}
			}
		}
	}
	return rs
}

func writeFlows(path string, flows []*replay.Flow, stdout io.Writer) error {
	w := stdout
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		defer bw.Flush()
		w = bw
	}
	enc := json.NewEncoder(w)
	for _, fl := range flows {
		if err := enc.Encode(fl); err != nil {
			return err
		}
	}
	return nil
}

// ruleText returns the -A line of every rule and the -P line of every
// built-in chain (rule 0), by table/chain/number.
func ruleText(rss []*rules.Ruleset) map[replay.RuleRef]string {
	m := map[replay.RuleRef]string{}
	for _, rs := range rss {
		ruleTextOf(rs, m)
	}
	return m
}

func ruleTextOf(rs *rules.Ruleset, m map[replay.RuleRef]string) {
	six := rs.Family == ext.IPv6
	for _, t := range rs.Tables {
		var b bytes.Buffer
		rs.ListRules(&b, t.Name, "", false)
		n := map[string]int{}
		for _, line := range strings.Split(b.String(), "\n") {
			if strings.HasPrefix(line, "-P ") {
				chain, _, _ := strings.Cut(line[3:], " ")
				m[replay.RuleRef{IPv6: six, Table: t.Name, Chain: chain}] = line
				continue
			}
			if !strings.HasPrefix(line, "-A ") {
				continue
			}
			chain, _, _ := strings.Cut(line[3:], " ")
			n[chain]++
			m[replay.RuleRef{IPv6: six, Table: t.Name, Chain: chain, Rule: n[chain]}] = line
		}
	}
}

// neverMatching returns the rules lint proves can never match, with
// lint's reason.
func neverMatching(rss []*rules.Ruleset) map[replay.RuleRef]string {
	m := map[replay.RuleRef]string{}
	for _, rs := range rss {
		byPos := map[rules.Pos]replay.RuleRef{}
		for _, t := range rs.Tables {
			for _, c := range t.Chains {
				for i, r := range c.Rules {
					if r.Pos.Line > 0 {
						byPos[r.Pos] = replay.RuleRef{IPv6: rs.Family == ext.IPv6, Table: t.Name, Chain: c.Name, Rule: i + 1}
					}
				}
			}
		}
		for _, d := range analyze.Lint(rs) {
			if ref, ok := byPos[d.Pos]; ok && d.Fails && !strings.HasPrefix(d.Msg, "the limit never bites") {
				m[ref] = d.Msg
			}
		}
	}
	return m
}

func verdictOrder(m map[string]*replay.Count) []string {
	var vs []string
	for v := range m {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return vs
}

func verdictOrderValues(m map[string]replay.Count) []string {
	var vs []string
	for v := range m {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return vs
}

func writeSummary(w io.Writer, rep *replay.Report, rs []*rules.Ruleset) {
	span := time.Duration(rep.LastTime - rep.FirstTime)
	fmt.Fprintf(w, "replay: %d records, %d packets replayed (%d bytes)", rep.Records, rep.Replayed.Packets, rep.Replayed.Bytes)
	if rep.Replayed.Packets > 0 {
		fmt.Fprintf(w, " from %s over %s", time.Unix(0, rep.FirstTime).UTC().Format(time.RFC3339Nano), span.Round(time.Millisecond))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "\nverdicts:")
	for _, v := range verdictOrder(rep.Verdicts) {
		c := rep.Verdicts[v]
		fmt.Fprintf(w, "  %-13s %10d packets %12d bytes", v, c.Packets, c.Bytes)
		if pc := rep.PreCapture[v]; pc != nil {
			fmt.Fprintf(w, "   (%d of them of connections begun before the capture)", pc.Packets)
		}
		fmt.Fprintln(w)
	}
	if rep.Preloaded > 0 || rep.PreloadRefused > 0 {
		fmt.Fprintf(w, "  %d connections preloaded from --conntrack", rep.Preloaded)
		if rep.PreloadRefused > 0 {
			fmt.Fprintf(w, " (%d more refused: their tuples were listed twice)", rep.PreloadRefused)
		}
		fmt.Fprintln(w)
	}
	if len(rep.RecentLoaded) > 0 {
		var ls []string
		for n, c := range rep.RecentLoaded {
			ls = append(ls, fmt.Sprintf("%s (%d)", n, c))
		}
		sort.Strings(ls)
		fmt.Fprintf(w, "  recent lists from --recent: %s\n", strings.Join(ls, ", "))
	}
	if len(rep.RecentUnused) > 0 {
		fmt.Fprintf(w, "  recent lists from --recent that no rule uses, left out: %s\n", strings.Join(rep.RecentUnused, ", "))
	}
	if rep.PreCaptureFlows > 0 {
		fmt.Fprintf(w, "  %d TCP connections began before the capture (first seen without their SYN): conntrack judged their\n  first packets NEW mid-stream or INVALID; leave them out of drop figures, or give --conntrack with conntrack -L -o extended\n  taken when the capture began\n", rep.PreCaptureFlows)
	}
	if len(rep.States) > 0 {
		var ss []string
		for s, n := range rep.States {
			ss = append(ss, fmt.Sprintf("%s %d", s, n))
		}
		sort.Strings(ss)
		total := 0
		for _, n := range rep.States {
			total += n
		}
		fmt.Fprintf(w, "\nconnections: %d (%s)\n", total, strings.Join(ss, ", "))
	}
	text := ruleText(rs)
	if top := rep.Top(10); len(top) > 0 {
		fmt.Fprintln(w, "\ntop rules:")
		for _, c := range top {
			ref := c.RuleRef
			fmt.Fprintf(w, "  %-28s %10d packets %12d bytes  %s\n", ref, c.Packets, c.Bytes, text[ref])
		}
	}
	if never := rep.NeverHit(); len(never) > 0 {
		nm := neverMatching(rs)
		var hit, cannot []replay.RuleRef
		for _, ref := range never {
			if _, ok := nm[ref]; ok {
				cannot = append(cannot, ref)
			} else {
				hit = append(hit, ref)
			}
		}
		if len(hit) > 0 {
			fmt.Fprintf(w, "\nrules no packet hit (%d):\n", len(hit))
			for _, ref := range hit {
				fmt.Fprintf(w, "  %-28s %s\n", ref, text[ref])
			}
		}
		if len(cannot) > 0 {
			fmt.Fprintf(w, "\nrules that can never match (%d, apart from the above):\n", len(cannot))
			for _, ref := range cannot {
				fmt.Fprintf(w, "  %-28s %s\n    %s\n", ref, text[ref], nm[ref])
			}
		}
	}
	if d := rep.Departures; d != nil {
		fmt.Fprintf(w, "\ndepartures: %d predicted, %d seen leaving", d.Predicted, d.Observed)
		if d.Missing == 0 && d.Unexpected == 0 {
			fmt.Fprintln(w, ": every one as predicted")
		} else {
			fmt.Fprintf(w, ": %d predicted but not seen, %d seen but not predicted (the host's own traffic is not predicted from an interface capture)\n", d.Missing, d.Unexpected)
			for _, s := range d.Samples {
				fmt.Fprintf(w, "  %s\n", s)
			}
		}
	}
	if len(rep.Skipped) > 0 || len(rep.NonIP) > 0 {
		fmt.Fprintln(w, "\nnot replayed:")
		for _, s := range rep.Skipped {
			fmt.Fprintf(w, "  %10d  %s\n", s.Packets, s.Reason)
			if s.Fix != "" {
				fmt.Fprintf(w, "              fix: %s\n", s.Fix)
			}
		}
		for _, k := range sortedKeys(rep.NonIP) {
			fmt.Fprintf(w, "  %10d  not IP: %s\n", rep.NonIP[k], k)
		}
	}
	var notes []string
	if !rep.LocalReplayed {
		notes = append(notes, "the host's own traffic was not replayed: an interface capture sees it only after OUTPUT (its answers were modelled by the host file's stack; the NFLOG recipe in the README captures the real ones)")
	}
	if rep.BadChecksums > 0 {
		notes = append(notes, fmt.Sprintf("%d packets had a wrong checksum (taken as correct unless --verify-checksums: offload leaves them wrong in captures)", rep.BadChecksums))
	}
	if rep.Clamped > 0 {
		notes = append(notes, fmt.Sprintf("%d timestamps went back beyond the reordering window and were run at the latest time seen", rep.Clamped))
	}
	for _, k := range sortedKeys(rep.Tunnels) {
		notes = append(notes, fmt.Sprintf("%d %s tunnel packets: the outer packets were replayed; their inner packets pass netfilter again on the tunnel's interface (replay a capture of that interface)", rep.Tunnels[k], k))
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	if len(rep.Intervals) > 0 {
		fmt.Fprintln(w, "\nintervals:")
		for _, iv := range rep.Intervals {
			var vs []string
			for _, v := range verdictOrderValues(iv.Verdicts) {
				vs = append(vs, fmt.Sprintf("%s %d", v, iv.Verdicts[v].Packets))
			}
			fmt.Fprintf(w, "  %s  %s\n", time.Unix(0, iv.Start).UTC().Format(time.RFC3339Nano), strings.Join(vs, ", "))
			for _, c := range iv.Counters {
				ref := c.RuleRef
				fmt.Fprintf(w, "      %-28s %10d packets %12d bytes\n", ref, c.Packets, c.Bytes)
			}
		}
	}
	for _, s := range rep.Samples {
		fmt.Fprintf(w, "\n--- packet %d (%s): %s\n%s", s.Index, s.Verdict, s.Summary, s.Trace)
	}
}

func sortedKeysInt(m map[string]int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sortedKeys(m map[string]uint64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// replayJSON is the --json form: the report plus rule texts.
func replayJSON(rep *replay.Report, rs []*rules.Ruleset) any {
	text := ruleText(rs)
	type rule struct {
		replay.RuleRef
		Packets uint64 `json:"packets"`
		Bytes   uint64 `json:"bytes"`
		Text    string `json:"text,omitempty"`
		Never   string `json:"never_matches,omitempty"`
	}
	nm := neverMatching(rs)
	var rs2 []rule
	for _, c := range rep.Counters {
		rs2 = append(rs2, rule{c.RuleRef, c.Packets, c.Bytes, text[c.RuleRef], nm[c.RuleRef]})
	}
	return struct {
		*replay.Report
		Counters []rule `json:"counters"`
		First    int64  `json:"first_ns"`
		Last     int64  `json:"last_ns"`
	}{rep, rs2, rep.FirstTime, rep.LastTime}
}

// replayDiff runs the capture through OLD and NEW and lists the flows
// whose fate changes.
func replayDiff(oldPath, newPath, rules6Path, capPath, hostFile string, lf *loadFlags, o replay.Options, asJSON bool, stdout, stderr io.Writer) int {
	o.Flows = true
	// Exit 1 means "some flow changes": a side that cannot be replayed
	// (its rules do not load, the capture breaks off) leaves no answer,
	// which is 2, as ipsift test says of rules that do not load.
	a, _, code := replayOne(oldPath, rules6Path, capPath, hostFile, lf, o, stderr)
	if a == nil {
		fmt.Fprintf(stderr, "ipsift replay: %s could not be replayed: no comparison\n", oldPath)
		return max(code, exitUsage)
	}
	b, _, code := replayOne(newPath, rules6Path, capPath, hostFile, lf, o, stderr)
	if b == nil {
		fmt.Fprintf(stderr, "ipsift replay: %s could not be replayed: no comparison\n", newPath)
		return max(code, exitUsage)
	}
	changes := replay.Diff(a.Flows, b.Flows)
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	if asJSON {
		enc := json.NewEncoder(w)
		for _, c := range changes {
			enc.Encode(c)
		}
		if len(changes) > 0 {
			return exitProblems
		}
		return exitOK
	}
	// Flows one side never saw are mostly answers to packets the other
	// side dropped (in the capture, the server answered): counted by
	// fate rather than listed one by one.
	only := map[string]int{}
	for _, c := range changes {
		if c.Old == "not seen" || c.New == "not seen" {
			only[c.Old+" -> "+c.New]++
			continue
		}
		fmt.Fprintln(w, c.String())
	}
	for _, k := range sortedKeysInt(only) {
		fmt.Fprintf(w, "%d flows seen under one ruleset only (packets the other took as part of another flow): %s\n", only[k], k)
	}
	fmt.Fprintf(w, "%d of %d flows change fate between %s and %s\n", len(changes), max(len(a.Flows), len(b.Flows)), oldPath, newPath)
	if len(changes) > 0 {
		return exitProblems
	}
	return exitOK
}

// readStartState reads what the live host held when the capture began:
// the connection table (--conntrack FILE, conntrack -L -o extended) and
// the recent lists (--recent DIR); either may be "".
func readStartState(ctFile, recentDir string) ([]conntrack.Preload, *replay.RecentLists, error) {
	var preload []conntrack.Preload
	if ctFile != "" {
		f, err := os.Open(ctFile)
		if err != nil {
			return nil, nil, err
		}
		preload, err = replay.ReadConntrackList(f, ctFile)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	var recent *replay.RecentLists
	if recentDir != "" {
		var err error
		if recent, err = replay.ReadRecentDir(recentDir); err != nil {
			return nil, nil, fmt.Errorf("--recent: %v", err)
		}
	}
	return preload, recent, nil
}
