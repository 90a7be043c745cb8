package main

import (
	"bufio"
	"bytes"
	"fmt"
	"github.com/ipsift/ipsift/ipset"
	"io"
	"os"
	"strings"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
	"github.com/ipsift/ipsift/sim"
)

func loadHost(path string) (*host.Host, error) {
	if path == "" {
		return host.Default(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return host.Parse(f, path)
}

func init() {
	fs := newFlags("trace")
	packets := fs.String("packets", "", "read packets from this JSON-lines file (../shared/formats/packets.md); - for stdin")
	asJSON := fs.Bool("json", false, "one JSON result per packet, as packets.md defines")
	hostFile := fs.String("host", "", "host description file (default: the host of gateway.rules; see README)")
	quiet := fs.Bool("quiet", false, "leave out the rules that did not match")
	counters := fs.Bool("counters", false, "after the packets, print the counters as iptables -L -v -n -x would")
	six := fs.Bool("6", false, "read a restore FILE as ip6tables-restore input: its rules are the IPv6 ones")
	rules6 := fs.String("rules6", "", "an ip6tables ruleset (restore file or script) for the IPv6 packets, beside FILE's IPv4 one")
	classify := fs.String("classify", "auto", "how chains find a packet's rules: auto (a compiled classifier for chains of 16 rules or more), linear or compiled;\nthe text trace always walks every rule to explain it")
	lf := addLoadFlags(fs)
	register(&command{
		name: "trace", args: "FILE PACKET... | FILE --packets PKTS.jsonl [--json] [--noflush] [--legacy] [--classify MODE] [-- ARG...]",
		summary: "Send packets through FILE's rules and show every rule each one met, why it did or did not match,\nand what became of it. A PACKET is one line: [IFACE|local] PROTO SRC[:PORT] > DST[:PORT] [FLAGS] [key=value...].",
		example: "  ipsift trace gateway.rules 'eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S'\n" +
			"  ipsift trace gateway.rules 'wlan0 udp 192.0.2.10:53000 > 198.51.100.9:53 len=40'\n" +
			"  ipsift trace gateway.rules --packets packets.jsonl --json",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fs, lf.splitScriptArgs(args))
			if err != nil || len(pos) < 1 || (len(pos) == 1 && *packets == "") {
				return usageError(stderr, "trace", orErr(err, "give FILE and a PACKET, or --packets FILE"))
			}
			mode, err := engine.ParseClassifyMode(*classify)
			if err != nil {
				return usageError(stderr, "trace", err)
			}
			if *six {
				lf.family = ext.IPv6
			}
			res, code := loadResult(pos[0], lf, stderr)
			lf.family = 0
			if res == nil {
				return code
			}
			if *rules6 != "" {
				lf.family = ext.IPv6
				r6, code := loadResult(*rules6, lf, stderr)
				lf.family = 0
				if r6 == nil {
					return code
				}
				if r6.Rules6 == nil {
					fmt.Fprintf(stderr, "ipsift trace: %s holds no IPv6 rules\n", *rules6)
					return exitUsage
				}
				if res.Rules6 != nil {
					fmt.Fprintf(stderr, "ipsift trace: %s already holds IPv6 rules: give --rules6 with an IPv4 FILE\n", pos[0])
					return exitUsage
				}
				res.Rules6 = r6.Rules6
			}
			rs, sets := res.Rules, res.Sets
			if rs == nil {
				return code
			}
			h, err := loadHost(*hostFile)
			if err != nil {
				fmt.Fprintf(stderr, "ipsift trace: %v\n", err)
				return exitUsage
			}
			var descs []packet.Desc
			for _, p := range pos[1:] {
				d, err := packet.ParseShort(p)
				if err != nil {
					fmt.Fprintf(stderr, "ipsift trace: packet %q: %v\n", p, err)
					return exitUsage
				}
				descs = append(descs, d)
			}
			if *packets != "" {
				var r io.Reader = os.Stdin
				if *packets != "-" {
					f, err := os.Open(*packets)
					if err != nil {
						fmt.Fprintf(stderr, "ipsift trace: %v\n", err)
						return exitUsage
					}
					defer f.Close()
					r = f
				}
				ds, err := packet.ReadDescs(r)
				if err != nil {
					fmt.Fprintf(stderr, "ipsift trace: %s: %v\n", *packets, err)
					return exitUsage
				}
				descs = append(descs, ds...)
			}
			return tracePackets(rs, h, descs, traceOptions{json: *asJSON, quiet: *quiet, counters: *counters, legacy: lf.legacy, sets: sets, rules6: res.Rules6, classify: mode}, stdout, stderr)
		},
	})
}

type traceOptions struct {
	json, quiet, counters, legacy bool
	sets                          *ipset.Registry
	// rules6 is the IPv6 (ip6tables) ruleset IPv6 packets go through;
	// nil: none, every IPv6 packet passes.
	rules6   *rules.Ruleset
	classify engine.ClassifyMode
}

func tracePackets(rs *rules.Ruleset, h *host.Host, descs []packet.Desc, o traceOptions, stdout, stderr io.Writer) int {
	asJSON, quiet, counters := o.json, o.quiet, o.counters
	e, err := engine.New(rs, h, engine.Config{Legacy: o.legacy, Sets: o.sets, Rules6: o.rules6, Classify: o.classify})
	if err != nil {
		fmt.Fprintf(stderr, "ipsift trace: %v\n", err)
		return exitProblems
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	// In JSON mode LOG lines go into each packet's result, so that
	// stdout stays one JSON value per line.
	var logBuf bytes.Buffer
	e.Log = &logBuf
	s := sim.New(e)
	if o.sets != nil {
		// the file's sets were read at clock 0: their timeouts start now
		o.sets.Shift(s.Now)
	}
	var tt *sim.TextTracer
	if !asJSON {
		tt = &sim.TextTracer{W: w, Color: isTerminal(stdout), Quiet: quiet}
		s.State.SetTracer(tt)
		e.Log = tt.LogWriter()
	}
	progress := isTerminal(stderr) && len(descs) >= 5000
	for i, d := range descs {
		if progress && i%1000 == 0 {
			fmt.Fprintf(stderr, "\rtrace: %d of %d packets", i, len(descs))
		}
		if tt != nil {
			if i > 0 {
				fmt.Fprintln(w)
			}
			if _, err := traceOne(s, tt, w, i, d); err != nil {
				fmt.Fprintf(stderr, "ipsift trace: packet %d: %v\n", i, err)
				return exitUsage
			}
			continue
		}
		res, err := s.Run(i, d)
		if err != nil {
			fmt.Fprintf(stderr, "ipsift trace: packet %d: %v\n", i, err)
			return exitUsage
		}
		res.Log = logLines(&logBuf)
		w.Write(res.JSON())
		w.WriteByte('\n')
	}
	if progress {
		fmt.Fprintf(stderr, "\rtrace: %d of %d packets\n", len(descs), len(descs))
	}
	if counters {
		if !asJSON {
			fmt.Fprintln(w)
		}
		progs := []*engine.Program{e.Program()}
		if o.rules6 != nil {
			progs = append(progs, e.Program().IPv6())
		}
		for _, prog := range progs {
			prs := prog.Ruleset()
			for _, t := range prs.Tables {
				if prs.Family == ext.IPv6 {
					fmt.Fprintf(w, "# ip6tables table %s\n", t.Name)
				} else {
					fmt.Fprintf(w, "# table %s\n", t.Name)
				}
				prs.List(w, rules.ListOptions{Table: t.Name, Verbose: true, Numeric: true, Exact: true})
			}
		}
	}
	return exitOK
}

// traceOne runs packet i through s with its text trace going to w as
// ipsift trace prints it: the header, the rules, the packets that left,
// the verdict.
func traceOne(s *sim.Simulator, tt *sim.TextTracer, w io.Writer, i int, d packet.Desc) (*sim.Result, error) {
	data, err := d.Build(i)
	if err != nil {
		return nil, err
	}
	var p packet.Packet
	p.Decode(data)
	where := "in " + d.In
	if d.Local {
		where = "local"
	}
	tt.Begin(where, p.Summary())
	r, err := s.Run(i, d)
	if err != nil {
		return nil, err
	}
	for _, o := range s.State.Result.Out {
		var q packet.Packet
		if q.Decode(o.Data) == nil {
			kind := "out"
			if o.HostReply {
				kind = "reply"
			}
			fmt.Fprintf(w, "%s %s  %s\n", kind, o.Iface, q.Summary())
		}
	}
	tt.End()
	return r, nil
}

// logLines takes the lines LOG rules wrote into buf for one packet and
// empties it; nil when there are none.
func logLines(buf *bytes.Buffer) []string {
	if buf.Len() == 0 {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	buf.Reset()
	return lines
}
