package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/replay"
	"github.com/ipsift/ipsift/report"
	"github.com/ipsift/ipsift/rules"
	"github.com/ipsift/ipsift/sim"
)

func init() {
	fs := newFlags("report")
	out := fs.String("o", "", "write the HTML page to this file (- for stdout)")
	capPath := fs.String("replay", "", "counters from running this pcap or pcapng capture through the rules (as ipsift replay does)")
	pkts := fs.String("packets", "", "counters and sample packets from running this packets file (JSON lines, ../shared/formats/packets.md) through the rules")
	nSamples := fs.Int("samples", 3, "sample packets kept per rule, each with its trace")
	hostFile := fs.String("host", "", "host description file (default: the host of gateway.rules; see README)")
	rules6 := fs.String("rules6", "", "an ip6tables ruleset for the IPv6 packets, beside RULES' IPv4 one")
	direction := fs.String("direction", "", "with --replay: \"in\" when every packet whose direction the capture does not record arrived")
	inIface := fs.String("in", "", "with --replay: the interface every packet arrived on")
	ifindex := fs.String("ifindex", "", "with --replay: interface names of the indexes SLL2 and NFLOG record: 2=eth0,3=wlan0")
	ctFile := fs.String("conntrack", "", "with --replay: preload the connection table from this file (conntrack -L -o extended taken when the capture began)")
	recentDir := fs.String("recent", "", "with --replay: start the recent lists from this copy of /proc/net/xt_recent (see ipsift replay --help)")
	lf := addLoadFlags(fs)
	register(&command{
		name: "report", args: "RULES [--replay CAPTURE [--ifindex N=NAME,...] [--in IFACE] [--direction in] [--conntrack FILE] [--recent DIR] | --packets FILE] -o report.html [--samples N] [--host FILE] [--rules6 FILE] [--noflush] [--legacy]",
		summary: "Write one self-contained HTML page showing RULES whole: per hook and chain the packets in, taken by each rule\n" +
			"and left to the policy; every rule as iptables -S prints it, linked to its FILE:LINE, with check's findings;\n" +
			"a graph of hooks, chains, jumps and gotos (laid out here: no JavaScript needed); sample packets per rule with\n" +
			"their traces. Counters come from a capture (--replay), a packets file (--packets) or the file's own counters.\n" +
			"The page loads nothing from anywhere and is the same byte for byte for the same inputs.",
		example: "  ipsift report gateway.rules -o report.html\n" +
			"  ipsift report gateway.rules --packets packets.jsonl -o report.html\n" +
			"  ipsift report gateway.rules --replay night.pcap --ifindex 2=eth0,3=wlan0 -o night.html",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fs, lf.splitScriptArgs(args))
			if err != nil || len(pos) != 1 {
				return usageError(stderr, "report", orErr(err, "give one RULES file"))
			}
			if *out == "" {
				return usageError(stderr, "report", fmt.Errorf("give -o report.html (or -o - for stdout)"))
			}
			if *capPath != "" && *pkts != "" {
				return usageError(stderr, "report", fmt.Errorf("give --replay or --packets, not both"))
			}
			ro := reportOptions{rulesPath: pos[0], rules6: *rules6, host: *hostFile, samples: *nSamples, lf: lf}
			var in *report.Input
			var code int
			switch {
			case *capPath != "":
				o := replay.Options{In: *inIface, Why: *nSamples, RuleSamples: *nSamples}
				switch *direction {
				case "":
				case "in":
					o.AssumeIn = true
				default:
					return usageError(stderr, "report", fmt.Errorf("--direction %q: only \"in\" is meaningful", *direction))
				}
				if o.IfIndex, err = parseIfIndex(*ifindex); err != nil {
					return usageError(stderr, "report", err)
				}
				if o.Preload, o.Recent, err = readStartState(*ctFile, *recentDir); err != nil {
					fmt.Fprintf(stderr, "ipsift report: %v\n", err)
					return exitUsage
				}
				in, code = reportReplay(ro, *capPath, o, stderr)
			case *pkts != "":
				in, code = reportPackets(ro, *pkts, stderr)
			default:
				in, code = reportFile(ro, stderr)
			}
			if in == nil {
				return code
			}
			var buf bytes.Buffer
			report.Write(&buf, in)
			if *out == "-" {
				stdout.Write(buf.Bytes())
				return exitOK
			}
			if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
				fmt.Fprintf(stderr, "ipsift report: %v\n", err)
				return exitUsage
			}
			fmt.Fprintf(stderr, "ipsift report: wrote %s (%d bytes)\n", *out, buf.Len())
			return exitOK
		},
	})
}

type reportOptions struct {
	rulesPath, rules6, host string
	samples                 int
	lf                      *loadFlags
}

// load reads RULES (and --rules6) as check would, with the file's
// counters.
func (ro reportOptions) load(stderr io.Writer) (*load.Result, int) {
	res, code := loadResult(ro.rulesPath, ro.lf, stderr)
	if res == nil {
		return nil, code
	}
	if ro.rules6 != "" {
		ro.lf.family = ext.IPv6
		r6, code := loadResult(ro.rules6, ro.lf, stderr)
		ro.lf.family = 0
		if r6 == nil {
			return nil, code
		}
		if r6.Rules6 == nil || res.Rules6 != nil {
			fmt.Fprintf(stderr, "ipsift report: --rules6 %s: give an IPv6 ruleset beside an IPv4 RULES\n", ro.rules6)
			return nil, exitUsage
		}
		res.Rules6 = r6.Rules6
	}
	return res, exitOK
}

// base is the page for res with the rulesets given (with their
// counters): sources and check's findings.
func (ro reportOptions) base(res *load.Result, rs, rs6 *rules.Ruleset) *report.Input {
	in := &report.Input{Title: ro.rulesPath}
	if rs != nil && len(rs.Tables) > 0 {
		in.Families = append(in.Families, &report.Family{Rules: rs})
	}
	if rs6 != nil {
		in.Families = append(in.Families, &report.Family{IPv6: true, Rules: rs6})
	}
	files := map[string]bool{}
	for _, f := range in.Families {
		for _, t := range f.Rules.Tables {
			for _, c := range t.Chains {
				for _, r := range c.Rules {
					if r.Pos.File != "" {
						files[r.Pos.File] = true
					}
				}
			}
		}
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if b, err := os.ReadFile(n); err == nil {
			in.Sources = append(in.Sources, report.Source{Name: n, Text: string(b)})
		}
	}
	for _, d := range findings(res) {
		in.Findings = append(in.Findings, report.Finding{Pos: d.Pos, Severity: d.Severity.String(), Msg: d.Msg, Fix: d.FixLine,
			Never: d.Severity == rules.SevWarning && d.Fails && !strings.HasPrefix(d.Msg, "the limit never bites")})
	}
	return in
}

func reportFile(ro reportOptions, stderr io.Writer) (*report.Input, int) {
	res, code := ro.load(stderr)
	if res == nil {
		return nil, code
	}
	in := ro.base(res, res.Rules, res.Rules6)
	in.Counters = "the file's own counters"
	return in, exitOK
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=+,@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// traceCommand is the ipsift trace command line for packets.
func (ro reportOptions) traceCommand(descs ...string) string {
	parts := []string{"ipsift", "trace", shellQuote(ro.rulesPath)}
	if ro.rules6 != "" {
		parts = append(parts, "--rules6", shellQuote(ro.rules6))
	}
	if ro.host != "" {
		parts = append(parts, "--host", shellQuote(ro.host))
	}
	if ro.lf != nil && ro.lf.legacy {
		parts = append(parts, "--legacy")
	}
	if ro.lf != nil && ro.lf.noflush {
		parts = append(parts, "--noflush")
	}
	for _, d := range descs {
		parts = append(parts, shellQuote(d))
	}
	return strings.Join(parts, " ")
}

// entryCounter counts the packets entering each chain from the engine's
// trace events, beside the text tracer.
type entryCounter struct {
	text              *sim.TextTracer
	entries, returned map[report.Key]uint64
	table             string
	// stack holds the user chains the packet is in, innermost last: a
	// goto replaces the innermost, a return leaves it.
	stack []string
}

func newEntryCounter(tt *sim.TextTracer) *entryCounter {
	return &entryCounter{text: tt, entries: map[report.Key]uint64{}, returned: map[report.Key]uint64{}}
}

func (c *entryCounter) Event(e engine.Event) {
	switch e.Kind {
	case engine.EvTable:
		c.table, c.stack = e.Table, c.stack[:0]
		c.entries[report.Key{Table: e.Table, Chain: e.Chain}]++
	case engine.EvJump:
		c.entries[report.Key{Table: c.table, Chain: e.Chain}]++
		if e.Goto && len(c.stack) > 0 {
			c.stack[len(c.stack)-1] = e.Chain
		} else {
			c.stack = append(c.stack, e.Chain)
		}
	case engine.EvReturn:
		if n := len(c.stack); n > 0 {
			c.returned[report.Key{Table: c.table, Chain: c.stack[n-1]}]++
			c.stack = c.stack[:n-1]
		}
	}
	c.text.Event(e)
}

func reportPackets(ro reportOptions, path string, stderr io.Writer) (*report.Input, int) {
	res, code := ro.load(stderr)
	if res == nil {
		return nil, code
	}
	h, err := loadHost(ro.host)
	if err != nil {
		fmt.Fprintf(stderr, "ipsift report: %v\n", err)
		return nil, exitUsage
	}
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "ipsift report: %v\n", err)
		return nil, exitUsage
	}
	descs, err := packet.ReadDescs(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(stderr, "ipsift report: %s: %v\n", path, err)
		return nil, exitUsage
	}
	newEngine := func() (*engine.Engine, *sim.Simulator, error) {
		e, err := engine.New(zeroed(res.Rules), h, engine.Config{Legacy: ro.lf.legacy, Sets: res.Sets, Rules6: zeroed(res.Rules6)})
		if err != nil {
			return nil, nil, err
		}
		s := sim.New(e)
		return e, s, nil
	}
	e, s, err := newEngine()
	if err != nil {
		fmt.Fprintf(stderr, "ipsift report: %v\n", err)
		return nil, exitProblems
	}
	if res.Sets != nil {
		res.Sets.Shift(s.Now)
	}
	var text bytes.Buffer
	tt := &sim.TextTracer{W: &text}
	ec := [2]*entryCounter{newEntryCounter(tt), newEntryCounter(tt)}
	e.Log = tt.LogWriter()
	samples := [2]map[report.Key][]report.Sample{{}, {}}
	type pending struct {
		i    int
		fam  int
		keys []report.Key
		s    report.Sample
	}
	var want []pending
	verdicts := map[string]int{}
	for i, d := range descs {
		fam := 0
		if d.Dst.Is6() {
			fam = 1
		}
		s.State.SetTracer(ec[fam])
		text.Reset()
		r, err := traceOne(s, tt, &text, i, d)
		if err != nil {
			fmt.Fprintf(stderr, "ipsift report: %s: packet %d: %v\n", path, i+1, err)
			return nil, exitUsage
		}
		verdicts[r.Verdict]++
		var keys []report.Key
		for _, hit := range r.Hits {
			k := report.Key{Table: hit.Table, Chain: hit.Chain, Rule: hit.Rule}
			if len(samples[fam][k]) < ro.samples {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			smp := report.Sample{Packet: fmt.Sprintf("packet %d of %s: %s", i+1, path, d.String()), Verdict: r.Verdict, Trace: text.String()}
			for _, k := range keys {
				samples[fam][k] = append(samples[fam][k], smp)
			}
			want = append(want, pending{i, fam, keys, smp})
		}
	}
	in := ro.base(res, e.Program().Ruleset(), nil)
	if res.Rules6 != nil {
		in = ro.base(res, e.Program().Ruleset(), e.Program().IPv6().Ruleset())
	}
	// Each sample's command: the packet alone when that reproduces its
	// trace, else the packets file, since what came before decides it.
	for n, pd := range want {
		d := descs[pd.i]
		// Alone, the packet is trace's first: its default IPv4 ID (the
		// packet's number) is written out.
		if d.ID == nil && d.Dst.Is4() {
			id := uint16(pd.i + 1)
			d.ID = &id
		}
		cmd := ro.traceCommand(d.String())
		if n >= maxChecked || !ro.alone(res, h, d, pd.s.Trace) {
			cmd = ro.traceCommand() + " --packets " + shellQuote(path) + "   # packet " + strconv.Itoa(pd.i+1) + ": the packets before it decide its trace"
		}
		setCommand(samples[pd.fam], pd.keys, pd.s.Packet, cmd)
	}
	for _, f := range in.Families {
		fi := 0
		if f.IPv6 {
			fi = 1
		}
		f.Samples = samples[fi]
		f.Entries, f.Returned = ec[fi].entries, ec[fi].returned
	}
	in.Counters = fmt.Sprintf("the %d packets of %s", len(descs), path)
	in.Measured, in.What = true, "these packets"
	var vs []string
	for _, v := range sortedKeysInt(verdicts) {
		vs = append(vs, fmt.Sprintf("%s %d", v, verdicts[v]))
	}
	in.Summary = []string{fmt.Sprintf("%d packets: %s", len(descs), strings.Join(vs, ", "))}
	return in, exitOK
}

func reportReplay(ro reportOptions, capPath string, o replay.Options, stderr io.Writer) (*report.Input, int) {
	res, code := ro.load(stderr)
	if res == nil {
		return nil, code
	}
	o.ChainEntries = true
	rep, e, code := replayOne(ro.rulesPath, ro.rules6, capPath, ro.host, ro.lf, o, stderr)
	if rep == nil {
		return nil, code
	}
	var rs6 *rules.Ruleset
	if rep.IPv6 {
		rs6 = e.Program().IPv6().Ruleset()
	}
	in := ro.base(res, e.Program().Ruleset(), rs6)
	// The built-in chains' entries, which the replay counted.
	for _, ce := range rep.ChainEntries {
		f := in.Families[0]
		if ce.IPv6 {
			f = in.Families[len(in.Families)-1]
		}
		if f.Entries == nil {
			f.Entries = map[report.Key]uint64{}
		}
		f.Entries[report.Key{Table: ce.Table, Chain: ce.Chain}] = ce.Packets
	}
	in.Counters = "replay of " + capPath
	in.Measured, in.What = true, "this capture"
	var sum bytes.Buffer
	w := bufio.NewWriter(&sum)
	rss := []*rules.Ruleset{e.Program().Ruleset()}
	if rs6 != nil {
		rss = append(rss, rs6)
	}
	rep2 := *rep
	rep2.Samples = nil
	writeSummary(w, &rep2, rss)
	w.Flush()
	in.Summary = strings.Split(strings.TrimSuffix(sum.String(), "\n"), "\n")
	// Samples: the packets that raised each rule's counter, each as the
	// ipsift trace line of the packet; the line reproduces the trace when
	// the packet alone gets the trace it got in the capture.
	h, err := loadHost(ro.host)
	if err != nil {
		fmt.Fprintf(stderr, "ipsift report: %v\n", err)
		return nil, exitUsage
	}
	checked := 0
	for _, rsm := range rep.RuleSamples {
		fam := in.Families[0]
		if rsm.IPv6 {
			fam = in.Families[len(in.Families)-1]
		}
		if fam.Samples == nil {
			fam.Samples = map[report.Key][]report.Sample{}
		}
		cmd := ro.traceCommand(rsm.Packet)
		if d, err := packet.ParseShort(rsm.Packet); err != nil || checked >= maxChecked || !ro.alone(res, h, d, rsm.Trace) {
			cmd += "   # alone; in the capture the packets before it decided its trace"
		}
		checked++
		k := report.Key{Table: rsm.Table, Chain: rsm.Chain, Rule: rsm.Rule}
		fam.Samples[k] = append(fam.Samples[k], report.Sample{
			Packet:  fmt.Sprintf("record %d of %s: %s", rsm.Index, capPath, rsm.Packet),
			Verdict: rsm.Verdict, Trace: rsm.Trace, Command: cmd})
	}
	return in, exitOK
}

// maxChecked is the most sample packets whose command is checked (an
// engine each).
const maxChecked = 100

// alone reports whether packet d, run alone through a fresh engine (no
// connection, limit bucket or nth counter before it) as the first
// packet of ipsift trace, gets the trace given.
func (ro reportOptions) alone(res *load.Result, h *host.Host, d packet.Desc, trace string) bool {
	e, err := engine.New(zeroed(res.Rules), h, engine.Config{Legacy: ro.lf.legacy, Sets: res.Sets, Rules6: zeroed(res.Rules6)})
	if err != nil {
		return false
	}
	s := sim.New(e)
	var text bytes.Buffer
	tt := &sim.TextTracer{W: &text}
	s.State.SetTracer(tt)
	e.Log = tt.LogWriter()
	_, err = traceOne(s, tt, &text, 0, d)
	return err == nil && rulesPart(text.String()) == rulesPart(trace)
}

// rulesPart is a trace without the packets that left and the verdict
// line, which a replay's trace leaves out (its departures are checked
// against the capture instead).
func rulesPart(trace string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(trace, "\n") {
		if !strings.HasPrefix(l, "out ") && !strings.HasPrefix(l, "reply ") && !strings.HasPrefix(l, "verdict ") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// setCommand gives the sample of one packet, at each rule it is kept
// for, its command.
func setCommand(samples map[report.Key][]report.Sample, keys []report.Key, packet, cmd string) {
	for _, k := range keys {
		ss := samples[k]
		for j := range ss {
			if ss[j].Packet == packet {
				ss[j].Command = cmd
			}
		}
	}
}
