package load

import (
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
	"github.com/ipsift/ipsift/script"
)

// This file reads the commands of a script whose words the script cannot
// know (a variable from the environment, a command substitution). The
// script reader says so once, at the first use; here such a word must not
// draw an error at every rule that uses it.

// scriptPos is a place in the script, or in a file it sources.
func scriptPos(name string, p script.Pos) rules.Pos {
	if p.File != "" {
		name = p.File
	}
	return rules.Pos{File: name, Line: p.Line, Col: p.Col}
}

// applyUnknown applies one iptables command of a script. A word that
// cannot be known is first taken as written ("-i $WAN_IF" names an
// interface "$WAN_IF", consistently wherever it is used); where the rule
// parser refuses it so ("-s $ADMIN"), it is replaced by stand-ins in
// turn so that the rest of the command is still checked, but the command
// then only runs on a scratch copy of the ruleset: a made-up address
// never reaches the model, where it could make another rule look dead.
// Problems at the unknown words themselves are not reported: the reader
// said once what cannot be known.
func applyUnknown(rs *rules.Ruleset, res *Result, inv script.Invocation, words []rules.Word, pos rules.Pos, o Options) (ok, known bool) {
	unknown := make([]bool, len(words))
	any := false
	for i, a := range inv.Args {
		unknown[i] = a.Unknown
		any = any || a.Unknown
	}
	if !any {
		return applyCommand(rs, res, words, pos, inv.LineText, o), true
	}
	words, stood := standIns(words, unknown, rs.Family)
	model := rs
	if stood {
		model = rs.Clone()
	}
	n := len(res.Diags)
	applyCommand(model, res, words, pos, inv.LineText, o)
	kept := res.Diags[:n]
	for _, d := range res.Diags[n:] {
		if unknownWordAt(words, unknown, d) < 0 {
			kept = append(kept, d)
		}
	}
	res.Diags = kept
	// With a word the script does not say, whether the command succeeds
	// is not known either.
	return false, false
}

// standIns replaces each unknown word the rule parser refuses by a value
// of the kind the option takes (the parser's own stand-in where it offers
// one, else an address, else a number), until the command parses or an
// error is about a word that is known. It reports whether it replaced any.
func standIns(words []rules.Word, unknown []bool, fam ext.Family) ([]rules.Word, bool) {
	out := append([]rules.Word(nil), words...)
	tried := make([]int, len(out))
	stood := false
	for range 3*len(out) + 1 {
		_, err := rules.ParseCommand(out, rules.ParseOptions{Family: fam})
		d, ok := err.(*rules.Diag)
		if !ok {
			break
		}
		i := unknownWordAt(out, unknown, d)
		if i < 0 {
			break
		}
		var cands []string
		if d.Assume != "" {
			cands = append(cands, d.Assume)
		}
		cands = append(cands, "192.0.2.1", "1")
		if tried[i] >= len(cands) {
			break
		}
		out[i].Text = cands[tried[i]]
		tried[i]++
		stood = true
	}
	return out, stood
}

// unknownWordAt finds the unknown word a diagnostic is about, or -1: the
// word at its place, or the word it names (an option's error is placed
// at the option: --dport: invalid port "$SSH_PORT").
func unknownWordAt(words []rules.Word, unknown []bool, d *rules.Diag) int {
	for i, w := range words {
		if unknown[i] && (w.Pos == d.Pos || d.Word == w.Text || strings.Contains(d.Msg, strconv.Quote(w.Text))) {
			return i
		}
	}
	return -1
}
