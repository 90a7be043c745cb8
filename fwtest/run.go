package fwtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/diff"
	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/ipset"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
	"github.com/ipsift/ipsift/sim"
)

// Report is what running a spec found.
type Report struct {
	File    string        `json:"file"`
	Backend string        `json:"backend"`
	Cases   []*CaseResult `json:"cases"`
	Elapsed time.Duration `json:"-"`
}

// Failed counts the failed cases.
func (r *Report) Failed() int {
	n := 0
	for _, c := range r.Cases {
		if !c.Pass {
			n++
		}
	}
	return n
}

// CaseResult is one case's outcome.
type CaseResult struct {
	Name     string        `json:"name"`
	Line     int           `json:"line"`
	Pass     bool          `json:"pass"`
	Failures []Failure     `json:"failures,omitempty"`
	Trace    string        `json:"trace,omitempty"` // the full trace of the first failing packet
	Elapsed  time.Duration `json:"-"`
}

// Failure is one expectation that did not hold.
type Failure struct {
	Packet string `json:"packet"` // the packet as written
	Line   int    `json:"line"`   // the expectation's line
	Want   string `json:"want"`
	Got    string `json:"got"`
	// Classes, for a property, describe every packet that breaks it
	// (Packet is one of them).
	Classes []string `json:"classes,omitempty"`
}

// loaded is what a spec's files give.
type loaded struct {
	rs, rs6 *rules.Ruleset
	sets    *ipset.Registry
	host    *host.Host
	legacy  bool
	// checkers run each family's rules symbolically once, for all the
	// spec's properties (IPv4, IPv6).
	checkers [2]*diff.PropertyChecker
}

func (s *Spec) load() (*loaded, error) {
	l := &loaded{legacy: s.Backend == "legacy", host: host.Default()}
	for _, p := range s.Rules {
		res, err := load.File(s.path(p), load.Options{Legacy: l.legacy})
		if err != nil {
			return nil, fmt.Errorf("%s: rules %s: %v", s.File, p, err)
		}
		if res.Diags.HasErrors() {
			return nil, fmt.Errorf("%s: rules %s has errors (ipsift check %s shows them):\n%v", s.File, p, s.path(p), res.Diags.Err())
		}
		if len(res.Rules.Tables) > 0 {
			if l.rs != nil {
				return nil, fmt.Errorf("%s: two files of IPv4 rules (%s): name one IPv4 and one IPv6 file", s.File, p)
			}
			l.rs = res.Rules
		}
		if res.Rules6 != nil {
			if l.rs6 != nil {
				return nil, fmt.Errorf("%s: two files of IPv6 rules (%s): name one IPv4 and one IPv6 file", s.File, p)
			}
			l.rs6 = res.Rules6
		}
		if res.Sets != nil && l.sets == nil {
			l.sets = res.Sets
		}
	}
	if l.rs == nil {
		l.rs = rules.New()
	}
	if s.Host != "" {
		f, err := os.Open(s.path(s.Host))
		if err != nil {
			return nil, fmt.Errorf("%s: host: %v", s.File, err)
		}
		defer f.Close()
		if l.host, err = host.Parse(f, s.path(s.Host)); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// newSim builds a fresh engine for one case.
func (l *loaded) newSim() (*sim.Simulator, error) { return l.newSimSeed(0) }

// newSimSeed builds the engine with a seed for its random matches.
func (l *loaded) newSimSeed(seed uint64) (*sim.Simulator, error) {
	e, err := engine.New(l.rs, l.host, engine.Config{Legacy: l.legacy, Sets: l.sets, Rules6: l.rs6, Seed: seed})
	if err != nil {
		return nil, err
	}
	s := sim.New(e)
	if l.sets != nil {
		l.sets.Shift(s.Now)
	}
	return s, nil
}

// Run runs every case of the spec. The error is for a spec whose rules
// or host cannot be loaded, or a case that cannot be run (a packet
// outside the connection it names), at SPEC:LINE: a usage error, not a
// failed case.
func (s *Spec) Run() (*Report, error) {
	start := time.Now()
	l, err := s.load()
	if err != nil {
		return nil, err
	}
	rep := &Report{File: s.File, Backend: s.Backend}
	if err := l.resolveRuleTexts(s); err != nil {
		return nil, err
	}
	for _, c := range s.Cases {
		cr, err := l.runCase(c)
		if err != nil {
			var le *lineError
			if errors.As(err, &le) {
				return nil, fmt.Errorf("%s:%d: %v", s.File, le.line, le.err)
			}
			return nil, fmt.Errorf("%s:%d: case %q: %v", s.File, c.Line, c.Name, err)
		}
		rep.Cases = append(rep.Cases, cr)
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// lineError is a case that could not be run, at the spec line that
// made it fail; Run adds the spec's file name.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }

func (l *loaded) runCase(c *Case) (*CaseResult, error) {
	if c.Property != nil {
		return l.runProperty(c)
	}
	start := time.Now()
	cr := &CaseResult{Name: c.Name, Line: c.Line, Pass: true}
	s, err := l.newSim()
	if err != nil {
		return nil, err
	}
	var trace bytes.Buffer
	tt := &sim.TextTracer{W: &trace}
	dec := &decider{next: tt}
	s.State.SetTracer(dec)
	for i, st := range c.Steps {
		trace.Reset()
		dec.reset()
		var logs bytes.Buffer
		s.Engine.Log = &teeLog{tt: tt.LogWriter(), buf: &logs}
		data, err := st.Packet.Build(i)
		if err != nil {
			return nil, &lineError{st.Line, err}
		}
		var p packet.Packet
		p.Decode(data)
		tt.Begin(where(st.Packet), p.Summary())
		res, err := s.Run(i, st.Packet)
		if err != nil {
			return nil, &lineError{st.Line, err}
		}
		for _, o := range s.State.Result.Out {
			var q packet.Packet
			if q.Decode(o.Data) == nil {
				kind := "out"
				if o.HostReply {
					kind = "reply"
				}
				fmt.Fprintf(&trace, "%s %s  %s\n", kind, o.Iface, q.Summary())
			}
		}
		tt.End()
		got := observed{res: res, ct: ctName(s.State.CTState()), log: splitLines(logs.String()), decided: dec.decidedText(res.Verdict)}
		failed := false
		for _, e := range st.Expects {
			if ok, g := got.check(e); !ok {
				cr.Pass, failed = false, true
				cr.Failures = append(cr.Failures, Failure{Packet: st.Text, Line: e.Line, Want: e.String(), Got: g})
			}
		}
		if failed && cr.Trace == "" {
			cr.Trace = trace.String()
		}
	}
	cr.Elapsed = time.Since(start)
	return cr, nil
}

// resolveRuleTexts turns each "rule -A CHAIN SPEC" into the rule's
// number: the rule of the loaded rules whose iptables-save form is the
// same as the given one's.
func (l *loaded) resolveRuleTexts(s *Spec) error {
	for _, c := range s.Cases {
		for _, st := range c.Steps {
			for i, e := range st.Expects {
				if (e.Kind != "rule" && e.Kind != "norule" && e.Kind != "decided") || !strings.HasPrefix(e.Value, "-") {
					continue
				}
				ref, err := l.findRule(s.File, e.Line, e.Value, st.Packet.IsIPv6())
				if err != nil {
					return err
				}
				st.Expects[i].Value = ref.String()
			}
		}
	}
	return nil
}

func (l *loaded) findRule(file string, line int, text string, six bool) (ruleRef, error) {
	fam, rs := ext.IPv4, l.rs
	if six {
		fam, rs = ext.IPv6, l.rs6
	}
	cmd, err := rules.ParseCommand(rules.SplitLine(file, line, text), rules.ParseOptions{Family: fam, Legacy: l.legacy})
	if err != nil {
		return ruleRef{}, &Error{File: file, Line: line, Col: 1, Msg: fmt.Sprintf("rule %s: %v", text, err)}
	}
	if cmd.Chain == "" || len(cmd.Rules) != 1 || !strings.HasPrefix(strings.TrimSpace(text), "-A") && !strings.Contains(text, " -A ") {
		return ruleRef{}, &Error{File: file, Line: line, Col: 1, Msg: fmt.Sprintf("rule %s: write the rule as it is appended: [-t TABLE] -A CHAIN SPEC", text)}
	}
	want := cmd.Rules[0].Spec()
	if rs != nil {
		if t := rs.Table(cmd.Table); t != nil {
			if ch := t.Chain(cmd.Chain); ch != nil {
				for i, r := range ch.Rules {
					if r.Spec() == want {
						return ruleRef{Table: cmd.Table, Chain: cmd.Chain, Rule: i + 1}, nil
					}
				}
			}
		}
	}
	return ruleRef{}, &Error{File: file, Line: line, Col: 1, Msg: fmt.Sprintf("rule %s: no such rule in %s %s (as iptables-save writes it: -A %s %s); give its number instead, or copy it from ipsift rules", text, cmd.Table, cmd.Chain, cmd.Chain, want)}
}

// ctName names the packet's conntrack state as --ctstate does.
func ctName(st ext.CTState) string {
	for _, x := range []struct {
		bit  ext.CTState
		name string
	}{{ext.CTInvalid, "INVALID"}, {ext.CTNew, "NEW"}, {ext.CTRelated, "RELATED"}, {ext.CTEstablished, "ESTABLISHED"}, {ext.CTUntracked, "UNTRACKED"}} {
		if st&x.bit != 0 {
			return x.name
		}
	}
	return "none (no rule needs connection tracking)"
}

// teeLog sends LOG lines to the text trace and keeps them for "log".
type teeLog struct {
	tt  interface{ Write([]byte) (int, error) }
	buf *bytes.Buffer
}

func (t *teeLog) Write(b []byte) (int, error) {
	t.buf.Write(b)
	return t.tt.Write(b)
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// observed is what became of one packet.
type observed struct {
	res     *sim.Result
	ct      string
	log     []string
	decided string // the deciding rule (TABLE CHAIN N or policy), or none
}

// check reports whether e holds, and what was seen instead.
func (o observed) check(e Expect) (bool, string) {
	switch e.Kind {
	case "verdict":
		return o.res.Verdict == e.Value, "verdict " + o.res.Verdict
	case "ct":
		return o.ct == e.Value, "ct " + o.ct
	case "decided":
		return o.decided == e.Value, "decided " + o.decided + " (verdict " + o.res.Verdict + ")"
	case "rule", "norule":
		want, _ := parseRuleRef(e.Value)
		hit := false
		var all []string
		for _, h := range o.res.Hits {
			r := ruleRef{Table: h.Table, Chain: h.Chain, Rule: h.Rule}
			all = append(all, r.String())
			if r == want {
				hit = true
			}
		}
		got := "counters raised: " + strings.Join(all, ", ")
		if len(all) == 0 {
			got = "no counter raised"
		}
		return hit == (e.Kind == "rule"), got
	case "out":
		var outs []string
		for _, x := range o.res.Out {
			if !x.HostReply {
				outs = append(outs, OutString(x))
			}
		}
		got := "out " + strings.Join(outs, "; out ")
		if len(outs) == 0 {
			got = "out none"
		}
		if e.Value == "none" {
			return len(outs) == 0, got
		}
		want := normOut(e.Value)
		for _, x := range outs {
			if x == want {
				return true, got
			}
		}
		return false, got
	case "log":
		got := "log " + strings.Join(o.log, "; log ")
		if len(o.log) == 0 {
			got = "log none"
		}
		if e.Value == "none" {
			return len(o.log) == 0, got
		}
		for _, l := range o.log {
			if strings.Contains(l, e.Value) {
				return true, got
			}
		}
		return false, got
	}
	return false, "?"
}

// normOut writes an out expectation as OutString writes a packet.
func normOut(v string) string {
	d, err := packet.ParseShort(v)
	if err != nil {
		return v
	}
	o := sim.Out{If: d.In, Src: d.Src.String(), Dst: d.Dst.String(), Proto: d.Proto.String()}
	switch {
	case d.Proto == packet.ProtoTCP || d.Proto == packet.ProtoUDP:
		o.Sport, o.Dport = &d.Sport, &d.Dport
		if d.Proto == packet.ProtoTCP {
			f := d.TCPFlagBits().String()
			o.Flags = &f
		}
	case d.Proto == packet.ProtoICMP || d.Proto == packet.ProtoICMPv6:
		o.Type, o.Code = &d.Type, &d.Code
	}
	return OutString(o)
}

// OutString writes a packet that left in the notation of "out":
// IFACE PROTO SRC[:PORT] > DST[:PORT] [FLAGS], icmp with type and code.
func OutString(o sim.Out) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %v ", o.If, o.Proto)
	ep := func(a string, p *uint16) {
		switch {
		case p == nil:
			b.WriteString(a)
		case strings.Contains(a, ":"):
			fmt.Fprintf(&b, "[%s]:%d", a, *p)
		default:
			fmt.Fprintf(&b, "%s:%d", a, *p)
		}
	}
	ep(o.Src, o.Sport)
	b.WriteString(" > ")
	ep(o.Dst, o.Dport)
	if o.Flags != nil {
		if *o.Flags == "" {
			b.WriteString(" none")
		} else {
			b.WriteString(" " + *o.Flags)
		}
	}
	if o.Type != nil {
		fmt.Fprintf(&b, " type %d code %d", *o.Type, *o.Code)
	}
	return b.String()
}

// runProperty checks a never: or always: line over every packet; a
// counterexample the engine confirms fails the case, with its trace.
func (l *loaded) runProperty(c *Case) (*CaseResult, error) {
	start := time.Now()
	cr := &CaseResult{Name: c.Name, Line: c.Line, Pass: true}
	// Each family's rules are checked: the property holds when it holds
	// for both (a term with an address of the other family matches
	// nothing there). A family without rules accepts everything: it is
	// checked too when the property names one of its addresses, which
	// would otherwise hold for want of rules.
	var ce *diff.Counterexample
	for i, rs := range []*rules.Ruleset{l.rs, l.rs6} {
		fam := []ext.Family{ext.IPv4, ext.IPv6}[i]
		if rs == nil || len(rs.Tables) == 0 {
			if !c.Property.Names(fam) {
				continue
			}
			rs = rules.New()
			rs.Family = fam
		}
		pc := l.checkers[i]
		if pc == nil {
			var err error
			if pc, err = diff.NewPropertyChecker(rs, diff.Options{Host: l.host, Legacy: l.legacy, Sets: l.sets}); err != nil {
				return nil, &lineError{c.Line, err}
			}
			l.checkers[i] = pc
		}
		var err error
		if ce, err = pc.Check(c.Property); err != nil {
			return nil, &lineError{c.Line, err}
		}
		if ce != nil {
			break
		}
	}
	if ce != nil && ce.Witness != nil && (ce.Witness.Reproduced || ce.May) {
		cr.Pass = false
		w := ce.Witness
		// The counterexample's full trace, as for a failing packet, and
		// the rule that decided its fate.
		trace, decided, err := l.traceWitness(w)
		if err != nil {
			return nil, &lineError{c.Line, err}
		}
		cr.Trace = trace
		got := w.Old + "; decided " + decided
		if decided == "none" {
			got = w.Old + "; no rule decided: the host did"
		}
		if w.Reproduced {
			got += " (a counterexample: the engine confirms it)"
		} else {
			got += " (the property fails for some answers of " + strings.Join(ce.Because, "; ") + ")"
		}
		if w.Mark != 0 {
			got += fmt.Sprintf("; sent with socket mark 0x%x", w.Mark)
		}
		pk := w.Text
		if w.ConnText != "" {
			pk += " (an error quoting the connection of " + w.ConnText + ")"
		}
		cr.Failures = append(cr.Failures, Failure{Packet: pk, Line: c.Line, Want: c.Property.Text, Got: got, Classes: ce.Classes})
	} else if ce != nil {
		return nil, &lineError{c.Line, fmt.Errorf("the model finds packets that break %q but the engine confirms none (an ipsift bug: please report)", c.Property.Text)}
	}
	cr.Elapsed = time.Since(start)
	return cr, nil
}

// traceWitness runs a property's counterexample in a fresh engine (with
// the seed the property's check ran it with), its connection context (and for an ICMP error the quoted connection's) in
// the table first, and returns its full trace and the rule that decided
// its fate.
func (l *loaded) traceWitness(w *diff.Witness) (string, string, error) {
	s, err := l.newSimSeed(w.Seed)
	if err != nil {
		return "", "", err
	}
	if w.Conn != nil && w.Conn.CT != nil {
		p, err := conntrack.ContextOf(*w.Conn)
		if err != nil {
			return "", "", err
		}
		if _, err := s.Engine.CT.Insert(p, s.Now); err != nil {
			return "", "", fmt.Errorf("ct: %v", err)
		}
	}
	var trace bytes.Buffer
	tt := &sim.TextTracer{W: &trace}
	dec := &decider{next: tt}
	s.State.SetTracer(dec)
	s.Engine.Log = tt.LogWriter()
	data, err := w.Packet.Build(0)
	if err != nil {
		return "", "", err
	}
	var p packet.Packet
	p.Decode(data)
	tt.Begin(where(w.Packet), p.Summary())
	res, err := s.Run(0, w.Packet)
	if err != nil {
		return "", "", err
	}
	tt.End()
	return trace.String(), dec.decidedText(res.Verdict), nil
}

func where(d packet.Desc) string {
	if d.Local {
		return "local"
	}
	return "in " + d.In
}
