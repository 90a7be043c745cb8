package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ipsift/ipsift/analyze"
	"github.com/ipsift/ipsift/capture"
	"github.com/ipsift/ipsift/datapath"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/replay"
	"github.com/ipsift/ipsift/rules"
)

func init() {
	fs := newFlags("replay")
	hostFile := fs.String("host", "", "host description file (default: the host of gateway.rules; see README)")
	direction := fs.String("direction", "", "\"in\": every packet whose direction the capture does not record arrived (a capture made with tcpdump -Q in)")
	in := fs.String("in", "", "the interface every packet arrived on (a capture of one link)")
	ifindex := fs.String("ifindex", "", "interface names of the indexes SLL2 and NFLOG record: 2=eth0,3=wlan0")
	verify := fs.Bool("verify-checksums", false, "keep transport checksums as captured (bad ones make packets INVALID, as in the kernel) instead of taking them as correct (offload leaves them wrong in captures)")
	flows := fs.String("flows", "", "write one JSON line per connection to this file (- for stdout)")
	why := fs.Int("why", 0, "show the full trace of N packets per verdict other than accept (or N packets --select picks)")
	sel := fs.String("select", "", "with --why: trace packets this filter picks (the filter of ipsift ctl trace, e.g. 'tcp port 22')")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	out := fs.String("o", "", "write the ruleset with the replay's counters to this file (iptables-restore -c format)")
	window := fs.Int("window", 64, "packets held to put timestamps of several interfaces in order")
	lf := addLoadFlags(fs)
	register(&command{
		name: "replay", args: "RULES CAPTURE | OLD NEW CAPTURE [--direction in] [--in IFACE] [--flows FILE] [--why N] [--json] [-o FILE]",
		summary: "Run the packets of a pcap or pcapng capture through RULES at the capture's own times, and show the counters\n" +
			"iptables -L -v -x would show afterwards and a summary: packets per verdict, rules never hit, connections,\n" +
			"what was skipped and why. Only arriving packets are inputs. With OLD and NEW: the flows whose fate changes.",
		example: "  tcpdump -i any -w night.pcapng                       # SLL2: direction and interface recorded\n" +
			"  ipsift replay gateway.rules night.pcapng --ifindex 2=eth0,3=wlan0\n" +
			"  ipsift replay gateway.rules eth0.pcap --in eth0 --direction in --why 3\n" +
			"  ipsift replay old.rules new.rules night.pcapng --ifindex 2=eth0,3=wlan0",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fs, lf.splitScriptArgs(args))
			if err != nil || len(pos) < 2 || len(pos) > 3 {
				return usageError(stderr, "replay", orErr(err, "give RULES and CAPTURE (or OLD NEW CAPTURE)"))
			}
			o := replay.Options{In: *in, VerifyChecksums: *verify, Window: *window, Why: *why, Flows: *flows != "" || len(pos) == 3}
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
				o.Progress = func(n int) { fmt.Fprintf(stderr, "\rreplay: %d packets", n) }
			}
			if len(pos) == 3 {
				return replayDiff(pos[0], pos[1], pos[2], *hostFile, lf, o, *asJSON, stdout, stderr)
			}
			rep, e, code := replayOne(pos[0], pos[1], *hostFile, lf, o, stderr)
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
			prs := e.Program().Ruleset()
			if *out != "" {
				var b bytes.Buffer
				prs.Save(&b, rules.SaveOptions{Counters: true})
				if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
					fmt.Fprintf(stderr, "ipsift replay: %v\n", err)
					return exitUsage
				}
			}
			if *asJSON {
				j := replayJSON(rep, prs)
				b, _ := json.Marshal(j)
				w.Write(b)
				w.WriteByte('\n')
				return exitOK
			}
			for _, t := range prs.Tables {
				fmt.Fprintf(w, "# table %s\n", t.Name)
				prs.List(w, rules.ListOptions{Table: t.Name, Verbose: true, Numeric: true, Exact: true})
				fmt.Fprintln(w)
			}
			writeSummary(w, rep, prs)
			return exitOK
		},
	})
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
func replayOne(rulesPath, capPath, hostFile string, lf *loadFlags, o replay.Options, stderr io.Writer) (*replay.Report, *engine.Engine, int) {
	res, code := loadResult(rulesPath, lf, stderr)
	if res == nil || res.Rules == nil {
		return nil, nil, code
	}
	if res.Rules6 != nil {
		fmt.Fprintf(stderr, "ipsift replay: %s's IPv6 (ip6tables) rules are not replayed: the engine runs IPv4 packets only so far\n", rulesPath)
	}
	h, err := loadHost(hostFile)
	if err != nil {
		fmt.Fprintf(stderr, "ipsift replay: %v\n", err)
		return nil, nil, exitUsage
	}
	// Counters start at zero, as after iptables-restore without -c.
	rs := res.Rules.Clone()
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			c.Counters = rules.Counters{}
			for _, r := range c.Rules {
				r.Counters = rules.Counters{}
			}
		}
	}
	e, err := engine.New(rs, h, engine.Config{Legacy: lf.legacy, Sets: res.Sets})
	if err != nil {
		fmt.Fprintf(stderr, "ipsift replay: %v\n", err)
		return nil, nil, exitProblems
	}
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
	if res.Sets != nil {
		// The sets were read at clock 0: their timeouts start at the
		// capture's first packet.
		o.Start = res.Sets.Shift
	}
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

// ruleText returns the -A line and position of every rule, by
// table/chain/number.
func ruleText(rs *rules.Ruleset) map[replay.RuleRef]string {
	m := map[replay.RuleRef]string{}
	for _, t := range rs.Tables {
		var b bytes.Buffer
		rs.ListRules(&b, t.Name, "", false)
		n := map[string]int{}
		for _, line := range strings.Split(b.String(), "\n") {
			if !strings.HasPrefix(line, "-A ") {
				continue
			}
			chain, _, _ := strings.Cut(line[3:], " ")
			n[chain]++
			m[replay.RuleRef{Table: t.Name, Chain: chain, Rule: n[chain]}] = line
		}
	}
	return m
}

// neverMatching returns the rules lint proves can never match, with
// lint's reason.
func neverMatching(rs *rules.Ruleset) map[replay.RuleRef]string {
	byPos := map[rules.Pos]replay.RuleRef{}
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			for i, r := range c.Rules {
				if r.Pos.Line > 0 {
					byPos[r.Pos] = replay.RuleRef{Table: t.Name, Chain: c.Name, Rule: i + 1}
				}
			}
		}
	}
	m := map[replay.RuleRef]string{}
	for _, d := range analyze.Lint(rs) {
		if ref, ok := byPos[d.Pos]; ok && d.Fails && !strings.HasPrefix(d.Msg, "the limit never bites") {
			m[ref] = d.Msg
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

func writeSummary(w io.Writer, rep *replay.Report, rs *rules.Ruleset) {
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
	if rep.PreCaptureFlows > 0 {
		fmt.Fprintf(w, "  %d TCP connections began before the capture (first seen without their SYN): conntrack judged their\n  first packets NEW mid-stream or INVALID; leave them out of drop figures (conntrack -L -o extended at capture start would tell their state)\n", rep.PreCaptureFlows)
	}
	if !rep.LocalReplayed {
		fmt.Fprintln(w, "  the host's own traffic was not replayed: an interface capture sees it only after OUTPUT (the NFLOG recipe in the README captures it before)")
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
			ref := replay.RuleRef{Table: c.Table, Chain: c.Chain, Rule: c.Rule}
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
	for _, s := range rep.Samples {
		fmt.Fprintf(w, "\n--- packet %d (%s): %s\n%s", s.Index, s.Verdict, s.Summary, s.Trace)
	}
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
func replayJSON(rep *replay.Report, rs *rules.Ruleset) any {
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
		ref := replay.RuleRef{Table: c.Table, Chain: c.Chain, Rule: c.Rule}
		rs2 = append(rs2, rule{ref, c.Packets, c.Bytes, text[ref], nm[ref]})
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
func replayDiff(oldPath, newPath, capPath, hostFile string, lf *loadFlags, o replay.Options, asJSON bool, stdout, stderr io.Writer) int {
	o.Flows = true
	a, _, code := replayOne(oldPath, capPath, hostFile, lf, o, stderr)
	if a == nil {
		return code
	}
	b, _, code := replayOne(newPath, capPath, hostFile, lf, o, stderr)
	if b == nil {
		return code
	}
	changes := replay.Diff(a.Flows, b.Flows)
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	if asJSON {
		enc := json.NewEncoder(w)
		for _, c := range changes {
			enc.Encode(c)
		}
		return exitOK
	}
	for _, c := range changes {
		fmt.Fprintln(w, c.String())
	}
	fmt.Fprintf(w, "%d of %d flows change fate between %s and %s\n", len(changes), max(len(a.Flows), len(b.Flows)), oldPath, newPath)
	if len(changes) > 0 {
		return exitProblems
	}
	return exitOK
}
