package sim

import (
	"fmt"
	"io"
	"strings"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
)

// TextTracer writes a packet's way through the rules for people: every
// table and chain in the kernel's order, each rule tried with a tick or a
// cross and the reason, the routing decision, and the verdict with the
// rule that decided it.
type TextTracer struct {
	W     io.Writer
	Color bool
	// Quiet leaves out rules that did not match, for long chains.
	Quiet bool

	lastTable string
	decider   string
	path      []string // "filter INPUT rule 10" for each jump on the way
	curChain  string
	curTable  string
	rule      int
	verdict   string // the verdict line, printed by End
	own       OwnWalk
	accepted  bool // the decider accepted
}

func (t *TextTracer) paint(code, s string) string {
	if !t.Color {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// Begin prints the packet's header line; call it before processing.
func (t *TextTracer) Begin(where, summary string) {
	t.decider, t.path, t.lastTable = "", nil, ""
	t.own.Reset()
	fmt.Fprintf(t.W, "%s  %s\n", t.paint("1", where), summary)
}

// Event implements engine.Tracer.
func (t *TextTracer) Event(e engine.Event) {
	t.own.Follow(e)
	switch e.Kind {
	case engine.EvTable:
		fmt.Fprintf(t.W, "\n%s\n", t.paint("1", e.Table+" "+e.Chain))
		t.curTable, t.curChain, t.path = e.Table, e.Chain, nil
	case engine.EvJump:
		t.path = append(t.path, fmt.Sprintf("%s %s rule %s", t.curTable, t.curChain, t.lastRule()))
		kind := ""
		if e.Goto {
			kind = " (goto)"
		}
		fmt.Fprintf(t.W, "%s%s\n", t.paint("1", e.Chain), kind)
		t.curChain = e.Chain
	case engine.EvReturn:
		if len(t.path) > 0 {
			t.path = t.path[:len(t.path)-1]
		}
		fmt.Fprintf(t.W, "%s\n", t.paint("2", "back in "+e.Chain))
		t.curChain = e.Chain
	case engine.EvRule:
		t.rule = e.Rule
		if !e.Matched && t.Quiet {
			return
		}
		mark := t.paint("31", "✗")
		if e.Matched {
			mark = t.paint("32", "✓")
		}
		spec := ""
		if e.Spec != nil {
			spec = e.Spec.Spec()
		}
		fmt.Fprintf(t.W, "%3d %s %s\n", e.Rule, mark, spec)
		if e.Why != "" {
			fmt.Fprintf(t.W, "      %s\n", t.paint("2", e.Why))
		}
		if k, ok := Decision(e); ok {
			t.decide(t.where(e.Rule), k == ext.Accept)
		}
	case engine.EvTarget:
		if e.Why != "" {
			fmt.Fprintf(t.W, "      %s\n", t.paint("2", e.Why))
		}
		if k, ok := Decision(e); ok {
			t.decide(t.where(e.Rule), k == ext.Accept)
		}
	case engine.EvPolicy:
		fmt.Fprintf(t.W, "    policy %s\n", verdictWord(e.Target))
		if k, ok := Decision(e); ok {
			t.decide(fmt.Sprintf("%s %s policy", e.Table, e.Chain), k == ext.Accept)
		}
	case engine.EvRoute:
		fmt.Fprintf(t.W, "%s  %s\n", t.paint("1", "route"), e.Text)
	case engine.EvNote:
		fmt.Fprintf(t.W, "      %s\n", e.Text)
	case engine.EvVerdict:
		words := map[engine.Verdict]string{
			engine.AcceptLocal: "delivered to this host", engine.Forward: "forwarded",
			engine.Sent: "sent", engine.Reject: "rejected", engine.Drop: "dropped", engine.Queue: "queued",
		}
		w := words[e.Verdict]
		if (e.Verdict == engine.Forward || e.Verdict == engine.Sent) && e.Text != "" {
			w += " out " + e.Text
		}
		if e.Verdict == engine.Drop || e.Verdict == engine.Reject || e.Verdict == engine.Queue {
			switch {
			case t.decider != "" && !t.accepted:
				w += " (" + t.decider + ")"
			case t.decider != "":
				// The last rule on its way accepted it: the host's
				// stack dropped it (no route, a TTL run out).
				w += " (by the host, after the rules let it through)"
			}
		}
		t.verdict = fmt.Sprintf("%s  %s\n", t.paint("1", "verdict"), w)
	}
}

// End prints the verdict of the packet traced since Begin; callers print
// the packets that left before it, as the sketch in trace.txt has it.
func (t *TextTracer) End() {
	if t.verdict != "" {
		fmt.Fprint(t.W, t.verdict)
		t.verdict = ""
	}
}

// LogWriter returns a writer for the LOG target's lines that puts them
// into the trace, indented and marked.
func (t *TextTracer) LogWriter() io.Writer { return logWriter{t} }

type logWriter struct{ t *TextTracer }

func (l logWriter) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		fmt.Fprintf(l.t.W, "      %s  %s\n", l.t.paint("35", "log"), line)
	}
	return len(b), nil
}

// Decision tells whether a rule, target or policy event ends the
// packet's walk through its table, and how: a matched rule whose verdict
// is ACCEPT, DROP or QUEUE, a target that accepts, drops, queues or
// steals it, a policy, or a match that cannot read the packet and drops
// it at once (Event.Hotdrop: the rule decided whether it matched or
// not, and its own verdict does not count). The
// text trace's verdict line and ipsift test's "decided" both name the
// rule from it.
func Decision(e engine.Event) (ext.Verdict, bool) {
	switch e.Kind {
	case engine.EvRule:
		switch {
		case e.Hotdrop:
			return ext.Drop, true
		case e.Matched && e.Spec != nil && e.Spec.Target == nil:
			switch e.Spec.Verdict {
			case "ACCEPT":
				return ext.Accept, true
			case "DROP":
				return ext.Drop, true
			case "QUEUE":
				return ext.Queue, true
			}
		}
	case engine.EvTarget:
		if k := e.Target.Kind(); k != ext.Continue {
			return k, true
		}
	case engine.EvPolicy:
		return e.Target.Kind(), true
	}
	return 0, false
}

// OwnWalk follows a packet's trace, event by event, and tells whether
// the tables it passes now are the packet's own. The answers a target
// or the host's stack sends for the packet (a REJECT's RST, an echo
// reply: a "reply ..." note) pass OUTPUT after the packet's own walk,
// and the copy of a packet the host sends to itself (a "looped back in
// on ..." note; a broadcast's) comes back in through PREROUTING and
// INPUT before the packet itself passes POSTROUTING: neither decides
// the packet's fate. The text trace's verdict line and ipsift test's
// "decided" both use it.
type OwnWalk struct {
	answered bool // a reply began: what follows is the host's answers
	looped   bool // a copy looped back in: its tables are not the packet's
}

// Reset starts a new packet.
func (w *OwnWalk) Reset() { *w = OwnWalk{} }

// Follow takes the trace's next event.
func (w *OwnWalk) Follow(e engine.Event) {
	switch e.Kind {
	case engine.EvNote:
		w.answered = w.answered || strings.HasPrefix(e.Text, "reply ")
		w.looped = w.looped || strings.HasPrefix(e.Text, "looped back in on ")
	case engine.EvTable:
		if e.Hook == ext.PostRouting {
			w.looped = false
		}
	}
}

// Own reports whether the tables now passed are the packet's own.
func (w *OwnWalk) Own() bool { return !w.answered && !w.looped }

// decide notes the rule (or policy) that gave a final verdict, when
// the tables now passed are the packet's own.
func (t *TextTracer) decide(where string, accepted bool) {
	if t.own.Own() {
		t.decider, t.accepted = where, accepted
	}
}

func (t *TextTracer) lastRule() string { return fmt.Sprint(t.rule) }

func (t *TextTracer) where(rule int) string {
	s := fmt.Sprintf("%s %s rule %d", t.curTable, t.curChain, rule)
	if t.curChain != "" && len(t.path) > 0 {
		s = fmt.Sprintf("%s rule %d, reached from %s", t.curChain, rule, strings.Join(reverse(t.path), ", from "))
	}
	return s
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[len(s)-1-i] = x
	}
	return out
}

func verdictWord(v ext.Verdict) string {
	switch v.Kind() {
	case ext.Accept:
		return "ACCEPT"
	case ext.Drop:
		return "DROP"
	case ext.Queue:
		return fmt.Sprintf("QUEUE %d", v.QueueNum())
	}
	return fmt.Sprint(v)
}
