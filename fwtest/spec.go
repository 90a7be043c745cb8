// Package fwtest runs unit tests for a firewall: a spec file names the
// rules and the host, and cases of packets with what must become of
// them (verdict, counters raised, packets that left, log lines,
// connection state). `ipsift test` runs specs from the command line;
// Check runs one from `go test`.
//
// A spec is a text file, one statement a line, # starts a comment:
//
//	rules gateway.rules          # one IPv4 and/or one IPv6 file, relative to the spec
//	host myhost.txt              # optional: the host (default: gateway.rules' host)
//	backend nft                  # or legacy (iptables-legacy semantics); default nft
//
//	case ssh from the administrators
//	  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 S
//	  verdict accept-local
//	  decided filter INPUT 7
//	  ct NEW
//	  packet eth0 tcp 203.0.113.7:40000 > 198.51.100.1:22 A
//	  rule filter INPUT 2
//
// A case is one or more packets (the one-line notation of ipsift trace,
// with ct=... for a connection context), each followed by its
// expectations; the packets of a case share one connection table and
// clock, each case starts afresh. Expectations:
//
//	verdict V        accept-local, forward, sent, reject, drop or queue
//	decided T C N    the rule that decided the verdict: the one that dropped, rejected or
//	                 queued it, or for a packet let through the filter table's rule that
//	                 accepted it (N: policy for a policy); or the rule's text as for rule;
//	                 "decided none": no rule did (the host dropped a packet the rules let through)
//	rule T C N       the counter of rule N of chain C in table T rose (N: policy for the policy);
//	                 or the rule's text: rule [-t T] -A C SPEC (as iptables takes it)
//	norule T C N     it did not
//	out PACKET       a packet left as PACKET says: IFACE PROTO SRC[:PORT] > DST[:PORT] [FLAGS]
//	                 (icmp: type T code C), after NAT; "out none": nothing left
//	log TEXT         a LOG line contains TEXT; "log none": nothing logged
//	ct STATE         the packet's conntrack state: NEW, ESTABLISHED, RELATED, INVALID, UNTRACKED
//
// A property holds for every packet and connection context at once,
// checked with ipsift diff's symbolic engine (package diff) and answered
// with a counterexample the engine confirms; it is a case of its own:
//
//	never: accept tcp dport 22 from !203.0.113.0/24 in eth0 first
//	always: drop in eth0 from 198.51.100.66 state NEW first
//
// (diff.ParseProperty has the words.)
package fwtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ipsift/ipsift/diff"
	"github.com/ipsift/ipsift/packet"
)

// Spec is a parsed spec file.
type Spec struct {
	File    string
	Rules   []string // paths as written
	Host    string
	Backend string // nft or legacy
	Cases   []*Case
}

// Case is one named case: packets sent in order, or a property.
type Case struct {
	Name     string
	Line     int
	Steps    []*Step
	Property *diff.Property // a never: or always: line; no Steps then
}

// Step is one packet and what must become of it.
type Step struct {
	Text    string // the packet as written
	Line    int
	Packet  packet.Desc
	Expects []Expect
}

// Expect is one expectation.
type Expect struct {
	Kind  string // verdict, decided, rule, norule, out, log, ct
	Value string
	Line  int
}

func (e Expect) String() string { return e.Kind + " " + e.Value }

// Error is a mistake in a spec, at FILE:LINE:COL.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg) }

// ParseFile reads and parses a spec file.
func ParseFile(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, string(data))
}

var verdicts = []string{"accept-local", "forward", "sent", "reject", "drop", "queue"}
var ctStates = []string{"NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED"}

// Parse parses a spec's text; name is used in errors and to find the
// files it names.
func Parse(name, text string) (*Spec, error) {
	s := &Spec{File: name, Backend: "nft"}
	var cur *Case
	for i, raw := range strings.Split(text, "\n") {
		ln := i + 1
		line := raw
		if j := strings.Index(line, "#"); j >= 0 && !strings.HasPrefix(strings.TrimSpace(line), "log ") {
			line = line[:j]
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		col := strings.Index(line, trimmed) + 1
		kw, rest, _ := strings.Cut(trimmed, " ")
		rest = strings.TrimSpace(rest)
		restCol := col + len(kw) + strings.Index(trimmed[len(kw):], rest)
		fail := func(c int, format string, args ...any) error {
			return &Error{File: name, Line: ln, Col: c, Msg: fmt.Sprintf(format, args...)}
		}
		need := func() error {
			if rest == "" {
				return fail(col+len(kw), "%s needs a value", kw)
			}
			return nil
		}
		switch kw {
		case "rules", "host", "backend":
			if cur != nil {
				return nil, fail(col, "%s belongs before the first case: move it to the top", kw)
			}
			if err := need(); err != nil {
				return nil, err
			}
			switch kw {
			case "rules":
				s.Rules = append(s.Rules, rest)
			case "host":
				s.Host = rest
			case "backend":
				if rest != "nft" && rest != "legacy" {
					return nil, fail(restCol, "backend %q: want nft or legacy", rest)
				}
				s.Backend = rest
			}
		case "case":
			if err := need(); err != nil {
				return nil, err
			}
			cur = &Case{Name: rest, Line: ln}
			s.Cases = append(s.Cases, cur)
		case "never:", "always:":
			p, err := diff.ParseProperty(trimmed)
			if err != nil {
				return nil, fail(restCol, "%v", err)
			}
			s.Cases = append(s.Cases, &Case{Name: trimmed, Line: ln, Property: p})
			cur = nil
		case "packet":
			if cur == nil {
				return nil, fail(col, "packet outside a case: begin one with \"case NAME\"")
			}
			if err := need(); err != nil {
				return nil, err
			}
			d, err := packet.ParseShort(rest)
			if err != nil {
				c := restCol
				if se, ok := err.(*packet.ShortError); ok {
					c = restCol + se.Col - 1
				}
				return nil, fail(c, "packet: %v", err)
			}
			if d.In == "" && !d.Local {
				return nil, fail(restCol, "packet: say where it comes from: an interface (eth0 ...) or local")
			}
			cur.Steps = append(cur.Steps, &Step{Text: rest, Line: ln, Packet: d})
		case "verdict", "decided", "rule", "norule", "out", "log", "ct":
			if cur == nil || len(cur.Steps) == 0 {
				return nil, fail(col, "%s before any packet: an expectation follows the packet it is about", kw)
			}
			if err := need(); err != nil {
				return nil, err
			}
			if err := checkExpect(kw, rest); err != nil {
				return nil, fail(restCol, "%v", err)
			}
			st := cur.Steps[len(cur.Steps)-1]
			st.Expects = append(st.Expects, Expect{Kind: kw, Value: rest, Line: ln})
		default:
			return nil, fail(col, "%q: want rules, host, backend, case, packet, verdict, decided, rule, norule, out, log, ct, never: or always:", kw)
		}
	}
	if len(s.Rules) == 0 {
		return nil, &Error{File: name, Line: 1, Col: 1, Msg: "no rules: add a line \"rules FILE\" naming the ruleset"}
	}
	for _, c := range s.Cases {
		if len(c.Steps) == 0 && c.Property == nil {
			return nil, &Error{File: name, Line: c.Line, Col: 1, Msg: fmt.Sprintf("case %q has no packet: add \"packet ...\" lines", c.Name)}
		}
	}
	return s, nil
}

func checkExpect(kw, v string) error {
	switch kw {
	case "verdict":
		for _, x := range verdicts {
			if v == x {
				return nil
			}
		}
		return fmt.Errorf("verdict %q: want one of %s", v, strings.Join(verdicts, ", "))
	case "ct":
		for _, x := range ctStates {
			if v == x {
				return nil
			}
		}
		return fmt.Errorf("ct %q: want one of %s", v, strings.Join(ctStates, ", "))
	case "rule", "norule", "decided":
		if kw == "decided" && v == "none" {
			return nil
		}
		if strings.HasPrefix(v, "-") {
			return nil // rule text, found in the rules when the spec runs
		}
		if _, err := parseRuleRef(v); err != nil {
			return err
		}
	case "out":
		if v == "none" {
			return nil
		}
		d, err := packet.ParseShort(v)
		if err != nil {
			return fmt.Errorf("out: %v", err)
		}
		if d.In == "" {
			return fmt.Errorf("out: begin with the interface the packet leaves by (out eth0 tcp ...)")
		}
	}
	return nil
}

// ruleRef is "TABLE CHAIN N" or "TABLE CHAIN policy".
type ruleRef struct {
	Table, Chain string
	Rule         int // 0: the policy
}

func parseRuleRef(v string) (ruleRef, error) {
	f := strings.Fields(v)
	if len(f) != 3 {
		return ruleRef{}, fmt.Errorf("%q: want TABLE CHAIN NUMBER (filter INPUT 3) or TABLE CHAIN policy", v)
	}
	r := ruleRef{Table: f[0], Chain: f[1]}
	if f[2] == "policy" {
		return r, nil
	}
	if _, err := fmt.Sscanf(f[2], "%d", &r.Rule); err != nil || r.Rule < 1 || fmt.Sprint(r.Rule) != f[2] {
		return r, fmt.Errorf("%q: the rule number is counted from 1 (as --line-numbers), or write policy", f[2])
	}
	return r, nil
}

func (r ruleRef) String() string {
	if r.Rule == 0 {
		return r.Table + " " + r.Chain + " policy"
	}
	return fmt.Sprintf("%s %s %d", r.Table, r.Chain, r.Rule)
}

// path resolves a file the spec names, relative to the spec.
func (s *Spec) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(s.File), p)
}
