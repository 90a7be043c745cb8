package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/ipsift/ipsift/datapath"
	"github.com/ipsift/ipsift/diff"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/ipset"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/report"
	"github.com/ipsift/ipsift/rules"
)

func init() {
	fs := newFlags("diff")
	asJSON := fs.Bool("json", false, "one JSON object per family on stdout instead of the text")
	brief := fs.Bool("brief", false, "one line per family: equivalent, or how many regions differ")
	ignore := fs.String("ignore", "", "weaken equivalence: log (log records), mark (mark and connection mark); comma separated")
	focus := fs.String("focus", "", "compare only these packets: IFACE|local, tcp|udp|icmp|proto N, host|src|dst ADDR[/LEN], port|sport|dport N")
	hostFile := fs.String("host", "", "host description file (default: the host of gateway.rules; see README)")
	matrix := fs.Bool("matrix", false, "print the whole service matrix (by default only the rows that change)")
	maxRegions := fs.Int("max", 20, "describe and check at most this many differing regions (the largest)")
	budget := fs.Int("budget", diff.DefaultMaxNodes, "node budget of the decision diagrams; past it the answer is partial and the exit status 2")
	htmlOut := fs.String("html", "", "also write the answer as one self-contained HTML page (the report's style) to this file")
	lf := addLoadFlags(fs)
	register(&command{
		name: "diff", args: "OLD NEW [--ignore log,mark] [--focus FILTER] [--json | --brief] [--html FILE] [--matrix] [--host FILE] [--legacy]",
		summary: "Compare two rulesets by their effect, for every packet and connection context on the host: verdict\n" +
			"(with output interface, REJECT answer or queue), packet after NAT/TTL/TOS, mark, ctmark and log records.\n" +
			"Prints 'equivalent', or each region of packets that differs (largest first) as packet classes with a\n" +
			"witness packet run through both rulesets, and the services whose reachable sources change.\n" +
			"Exit 0 equivalent, 1 different, 2 usage error, rules that do not load, or gave up (the answer is then partial).",
		example: "  ipsift diff gateway.rules gateway-new.rules\n" +
			"  ipsift diff old.sh new.sh --ignore log --focus 'eth0 tcp dport 22'\n" +
			"  ipsift diff before.rules after.rules --brief && echo same\n" +
			"  ipsift diff before.rules after.rules --html diff.html\n" +
			"  ipsift diff before.rules after.rules --json | jq '.regions[0].witness'",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fs, lf.splitScriptArgs(args))
			if err != nil {
				return usageError(stderr, "diff", err)
			}
			if *maxRegions < 1 {
				return usageError(stderr, "diff", errors.New("--max must be at least 1"))
			}
			if len(pos) != 2 {
				return usageError(stderr, "diff", errors.New("give OLD and NEW (two rulesets: restore files or scripts)"))
			}
			o := diff.Options{Legacy: lf.legacy, MaxRegions: *maxRegions, MaxNodes: *budget, Matrix: true, MatrixAll: *matrix}
			for _, w := range strings.Split(*ignore, ",") {
				switch strings.TrimSpace(w) {
				case "":
				case "log":
					o.IgnoreLog = true
				case "mark":
					o.IgnoreMark = true
				default:
					return usageError(stderr, "diff", fmt.Errorf("--ignore %q: want log, mark or log,mark", w))
				}
			}
			if *focus != "" {
				f, err := datapath.ParseFilter(*focus)
				if err != nil {
					return usageError(stderr, "diff", fmt.Errorf("--focus: %v", err))
				}
				o.Focus = &diff.Focus{Iface: f.Iface, Local: f.Local, Proto: f.Proto, Host: f.Host, Src: f.Src, Dst: f.Dst, Port: f.Port, SrcPort: f.SrcPort, DstPort: f.DstPort}
			}
			h, err := loadHost(*hostFile)
			if err != nil {
				return usageError(stderr, "diff", err)
			}
			o.Host = h
			// Exit 1 means "they differ": rules that do not load leave no
			// answer, which is 2, as for ipsift test and replay OLD NEW.
			oldRes, _ := loadResult(pos[0], lf, stderr)
			if oldRes == nil {
				fmt.Fprintf(stderr, "ipsift diff: %s does not load: no comparison\n", pos[0])
				return exitUsage
			}
			newRes, _ := loadResult(pos[1], lf, stderr)
			if newRes == nil {
				fmt.Fprintf(stderr, "ipsift diff: %s does not load: no comparison\n", pos[1])
				return exitUsage
			}
			o.Sets = mergeSets(oldRes, newRes)
			w := bufio.NewWriter(stdout)
			defer w.Flush()
			exit := exitOK
			compared := 0
			var results []*diff.Result
			for _, fam := range []ext.Family{ext.IPv4, ext.IPv6} {
				a, b := familyRules(oldRes, fam), familyRules(newRes, fam)
				if a == nil && b == nil {
					continue
				}
				if a == nil {
					a = emptyRules(fam)
				}
				if b == nil {
					b = emptyRules(fam)
				}
				compared++
				res, err := diff.Compare(a, b, o)
				if err != nil {
					fmt.Fprintf(stderr, "ipsift diff: %v\n", err)
					return exitUsage
				}
				results = append(results, res)
				switch {
				case *asJSON:
					writeDiffJSON(w, pos, res)
				case *brief:
					fmt.Fprintf(w, "%s: %s\n", famName(fam), res.Brief())
				default:
					writeDiffText(w, pos, res)
				}
				for _, r := range res.Unconfirmed {
					fmt.Fprintf(stderr, "ipsift diff: internal error (please report): the model says %s differ (OLD %s, NEW %s), but no witness reproduces it", strings.Join(r.Classes, "; "), r.Old, r.New)
					if r.Witness != nil {
						fmt.Fprintf(stderr, ": %s gives OLD %s, NEW %s", r.Witness.Text, r.Witness.Old, r.Witness.New)
					}
					fmt.Fprintln(stderr)
				}
				switch {
				case res.GaveUp != nil || len(res.Unconfirmed) > 0:
					exit = exitUsage
				case !res.Equivalent() && exit == exitOK:
					exit = exitProblems
				}
			}
			if compared == 0 {
				fmt.Fprintln(w, "equivalent (neither file holds rules)")
			}
			if *htmlOut != "" {
				var opts []string
				if *ignore != "" {
					opts = append(opts, "--ignore "+*ignore)
				}
				if *focus != "" {
					opts = append(opts, "--focus "+shellQuote(*focus))
				}
				if lf.legacy {
					opts = append(opts, "--legacy")
				}
				in := &report.DiffInput{Old: pos[0], New: pos[1], Options: strings.Join(opts, " "), Results: results,
					Trace: func(old bool, _ ext.Family, pk ...string) string {
						file := pos[1]
						if old {
							file = pos[0]
						}
						return reportOptions{rulesPath: file, host: *hostFile, lf: lf}.traceCommand(pk...)
					}}
				var buf bytes.Buffer
				err := report.WriteDiff(&buf, in)
				if err == nil {
					err = os.WriteFile(*htmlOut, buf.Bytes(), 0o644)
				}
				if err != nil {
					w.Flush()
					fmt.Fprintf(stderr, "ipsift diff: %v\n", err)
					return exitUsage
				}
				w.Flush()
				fmt.Fprintf(stderr, "ipsift diff: wrote %s (%d bytes)\n", *htmlOut, buf.Len())
			}
			return exit
		},
	})
}

func famName(f ext.Family) string {
	if f == ext.IPv6 {
		return "IPv6"
	}
	return "IPv4"
}

// familyRules is a load result's ruleset of one family, nil when it has
// no tables of that family.
func familyRules(r *load.Result, f ext.Family) *rules.Ruleset {
	if f == ext.IPv6 {
		if r.Rules6 != nil && len(r.Rules6.Tables) > 0 {
			return r.Rules6
		}
		return nil
	}
	if r.Rules != nil && len(r.Rules.Tables) > 0 {
		return r.Rules
	}
	return nil
}

func emptyRules(f ext.Family) *rules.Ruleset {
	rs := rules.New()
	rs.Family = f
	return rs
}

// mergeSets gives the sets both files define (OLD's first); the
// comparison reads set matches as unknown, the witnesses use them.
func mergeSets(a, b *load.Result) *ipset.Registry {
	if a.Sets != nil {
		return a.Sets
	}
	return b.Sets
}

func writeDiffText(w io.Writer, files []string, r *diff.Result) {
	fam := famName(r.Family)
	if r.GaveUp != nil {
		fmt.Fprintf(w, "%s: gave up: %v (%d nodes); the answer is partial: raise --budget or narrow with --focus\n", fam, r.GaveUp, r.Nodes)
		return
	}
	if r.Equivalent() {
		fmt.Fprintf(w, "%s: equivalent\n", fam)
		if len(r.Opaque) > 0 {
			fmt.Fprintf(w, "  (read as unknown, and the same in both: %s)\n", strings.Join(r.Opaque, "; "))
		}
		return
	}
	fmt.Fprintf(w, "%s: %s differ from %s in %d regions, largest first\n", fam, files[1], files[0], len(r.Regions)+r.Unchecked)
	for i, g := range r.Regions {
		fmt.Fprintf(w, "\n%d. ", i+1)
		switch {
		case g.May && g.Witness != nil && g.Witness.Reproduced:
			fmt.Fprintf(w, "differs, depending on %s (witnessed): ", strings.Join(g.Because, "; "))
		case g.May:
			fmt.Fprintf(w, "may differ (because of %s): ", strings.Join(g.Because, "; "))
		}
		fmt.Fprintf(w, "OLD %s, NEW %s", g.Old, g.New)
		if len(g.Aspects) > 0 && (len(g.Aspects) > 1 || g.Aspects[0] != "verdict") {
			fmt.Fprintf(w, "; differs in %s", strings.Join(g.Aspects, ", "))
		}
		fmt.Fprintf(w, "  [%s inputs]\n", g.Size())
		for j, c := range g.Classes {
			lead := "   packets: "
			if j > 0 {
				lead = "            "
			}
			fmt.Fprintf(w, "%s%s\n", lead, c)
		}
		if g.More > 0 {
			fmt.Fprintf(w, "            and %d more classes\n", g.More)
		}
		if x := g.Witness; x != nil {
			fmt.Fprintf(w, "   witness: %s", x.Text)
			if x.Mark != 0 {
				fmt.Fprintf(w, " (socket mark 0x%x)", x.Mark)
			}
			switch {
			case x.BadChecksum && x.Packet.Local:
				fmt.Fprintf(w, " (with UDP length 7: INVALID)")
			case x.BadChecksum:
				fmt.Fprintf(w, " (with a wrong checksum: INVALID)")
			}
			if !x.Reproduced {
				fmt.Fprintf(w, "  (the engine gives both the same here: the difference needs other answers of %s)", strings.Join(g.Because, "; "))
			}
			fmt.Fprintf(w, "\n     OLD: %s\n     NEW: %s\n", x.Old, x.New)
		}
	}
	if r.Unchecked > 0 {
		fmt.Fprintf(w, "\nand %d smaller regions, neither described nor checked (raise --max to see them)\n", r.Unchecked)
	}
	if len(r.Matrix) > 0 {
		fmt.Fprintf(w, "\nservices (new connections accepted or forwarded; sources that reach them):\n")
		for _, m := range r.Matrix {
			fmt.Fprintf(w, "  in %-6s %-7s %s/%-5d  OLD %s  NEW %s\n", m.In, m.To, m.Proto, m.Port, m.Old, m.New)
		}
	}
}

type jsonDiff struct {
	Old        string           `json:"old"`
	New        string           `json:"new"`
	Family     string           `json:"family"`
	Equivalent bool             `json:"equivalent"`
	GaveUp     string           `json:"gave_up,omitempty"`
	Regions    []jsonRegion     `json:"regions"`
	Unconfirm  []jsonRegion     `json:"unconfirmed,omitempty"`
	Opaque     []string         `json:"unknown_matches,omitempty"`
	Matrix     []diff.MatrixRow `json:"services,omitempty"`
	Nodes      int              `json:"nodes"`
	Unchecked  int              `json:"unchecked_regions,omitempty"`
}

type jsonRegion struct {
	Old      diff.Outcome  `json:"old"`
	New      diff.Outcome  `json:"new"`
	Classes  []string      `json:"classes"`
	More     int           `json:"more_classes,omitempty"`
	Log2Size float64       `json:"log2_size"`
	May      bool          `json:"may_differ,omitempty"`
	Because  []string      `json:"because,omitempty"`
	Aspects  []string      `json:"aspects"`
	Witness  *diff.Witness `json:"witness,omitempty"`
}

func regionsJSON(rs []*diff.Region) []jsonRegion {
	out := []jsonRegion{}
	for _, g := range rs {
		l := g.Log2Size
		if math.IsInf(l, 0) {
			l = 0
		}
		out = append(out, jsonRegion{g.Old, g.New, g.Classes, g.More, l, g.May, g.Because, g.Aspects, g.Witness})
	}
	return out
}

func writeDiffJSON(w io.Writer, files []string, r *diff.Result) {
	j := jsonDiff{Old: files[0], New: files[1], Family: strings.ToLower(famName(r.Family)), Equivalent: r.Equivalent(),
		Regions: regionsJSON(r.Regions), Opaque: r.Opaque, Matrix: r.Matrix, Nodes: r.Nodes, Unchecked: r.Unchecked}
	if len(r.Unconfirmed) > 0 {
		j.Unconfirm = regionsJSON(r.Unconfirmed)
	}
	if r.GaveUp != nil {
		j.GaveUp = r.GaveUp.Error()
	}
	b, _ := json.Marshal(j)
	w.Write(append(b, '\n'))
}
