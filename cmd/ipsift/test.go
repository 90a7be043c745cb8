package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/ipsift/ipsift/fwtest"
	"github.com/ipsift/ipsift/packet"
)

func init() {
	fs := newFlags("test")
	asJSON := fs.Bool("json", false, "one JSON report per spec on stdout instead of the text")
	junit := fs.String("junit", "", "also write the results as JUnit XML to this file, for CI systems")
	verbose := fs.Bool("v", false, "list the cases that pass too")
	runRE := fs.String("run", "", "run only the cases whose name (for a property: its line) matches this regular expression, as go test -run")
	record := fs.String("record", "", "write a spec from what the rules do today with these packets (one-line notation, one a line, or JSON lines): give the rules as FILE...")
	hostFile := fs.String("host", "", "with --record: the host file to name in the spec")
	legacy := fs.Bool("legacy", false, "with --record: record with iptables-legacy semantics (backend legacy)")
	counters := fs.Bool("counters", false, "with --record: record each packet's counters (rule lines) and the rule that decided it too,\n"+
		"a record of the rules themselves that fails when a rule moves (by default only the effect: verdict, out, log, ct)")
	register(&command{
		name: "test", args: "[-v] [-run REGEXP] [--json] [--junit FILE] SPEC... | --record PACKETS [--host FILE] [--legacy] [--counters] RULES... > SPEC",
		summary: "Run a firewall's unit tests: each SPEC names the rules (and optionally a host) and cases of packets\n" +
			"with what must become of them. Prints a line per failing case (-v: every case) with what was expected,\n" +
			"what happened and the trace of the packet. Exit 0 all pass, 1 a case failed, 2 a spec or usage error.",
		example: "  ipsift test examples/gateway.spec\n" +
			"  ipsift test --junit results.xml specs/*.spec\n" +
			"  ipsift test -v -run 'ssh|never:' examples/gateway.spec\n" +
			"  ipsift test --record packets.txt gateway.rules > gateway-today.spec\n" +
			"\nA spec (see the README, \"test\"):\n" +
			"  rules gateway.rules\n" +
			"  case ssh from the administrators\n" +
			"    packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S\n" +
			"    verdict accept-local\n" +
			"    decided filter INPUT 7\n" +
			"    packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 A ct=established\n" +
			"    rule filter INPUT 2\n" +
			"  never: accept tcp dport 22 from !203.0.113.0/24 in eth0 first",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fs, args)
			if err != nil {
				return usageError(stderr, "test", err)
			}
			if *record != "" {
				return recordSpec(*record, pos, *hostFile, *legacy, *counters, stdout, stderr)
			}
			if *hostFile != "" || *legacy || *counters {
				return usageError(stderr, "test", errors.New("--host, --legacy and --counters go with --record; a spec names its host and backend itself"))
			}
			if len(pos) == 0 {
				return usageError(stderr, "test", errors.New("give one or more SPEC files"))
			}
			var only *regexp.Regexp
			if *runRE != "" {
				if only, err = regexp.Compile(*runRE); err != nil {
					return usageError(stderr, "test", fmt.Errorf("-run: %v", err))
				}
			}
			var reps []*fwtest.Report
			code := exitOK
			w := bufio.NewWriter(stdout)
			defer w.Flush()
			for _, p := range pos {
				s, err := fwtest.ParseFile(p)
				if err != nil {
					w.Flush()
					fmt.Fprintf(stderr, "ipsift test: %v\n", err)
					return exitUsage
				}
				if only != nil {
					var keep []*fwtest.Case
					for _, c := range s.Cases {
						if only.MatchString(c.Name) {
							keep = append(keep, c)
						}
					}
					if len(keep) == 0 && len(s.Cases) > 0 {
						// As go test's "no tests to run": exit 0, but a
						// misspelt -run in CI should not pass unseen.
						fmt.Fprintf(stderr, "ipsift test: warning: -run %q matches no case of %s\n", *runRE, p)
					}
					s.Cases = keep
				}
				rep, err := s.Run()
				if err != nil {
					w.Flush()
					fmt.Fprintf(stderr, "ipsift test: %v\n", err)
					return exitUsage
				}
				reps = append(reps, rep)
				if rep.Failed() > 0 {
					code = exitProblems
				}
				if *asJSON {
					rep.WriteJSON(w)
				} else {
					rep.WriteText(w, *verbose)
				}
			}
			if *junit != "" {
				var b bytes.Buffer
				fwtest.WriteJUnit(&b, reps)
				if err := os.WriteFile(*junit, b.Bytes(), 0o644); err != nil {
					w.Flush()
					fmt.Fprintf(stderr, "ipsift test: %v\n", err)
					return exitUsage
				}
			}
			return code
		},
	})
}

// recordSpec writes a spec of what RULES do with the packets in path.
func recordSpec(path string, rulesFiles []string, hostFile string, legacy, counters bool, stdout, stderr io.Writer) int {
	if len(rulesFiles) == 0 {
		return usageError(stderr, "test", errors.New("--record PACKETS needs the RULES files"))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "ipsift test: %v\n", err)
		return exitUsage
	}
	var descs []packet.Desc
	if t := strings.TrimSpace(string(data)); strings.HasPrefix(t, "{") {
		if descs, err = packet.ReadDescs(bytes.NewReader(data)); err != nil {
			fmt.Fprintf(stderr, "ipsift test: %s: %v\n", path, err)
			return exitUsage
		}
	} else {
		for i, l := range strings.Split(string(data), "\n") {
			if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			d, err := packet.ParseShort(l)
			if err == nil && d.In == "" && !d.Local {
				err = errors.New("say where it comes from: an interface (eth0 ...) or local")
			}
			if err != nil {
				fmt.Fprintf(stderr, "ipsift test: %s:%d: %v\n", path, i+1, err)
				return exitUsage
			}
			descs = append(descs, d)
		}
	}
	s := &fwtest.Spec{Rules: rulesFiles, Host: hostFile, Backend: "nft"}
	if legacy {
		s.Backend = "legacy"
	}
	if err := fwtest.Record(stdout, s, path, descs, counters); err != nil {
		fmt.Fprintf(stderr, "ipsift test: %v\n", err)
		return exitUsage
	}
	return exitOK
}
