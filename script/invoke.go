package script

import (
	"fmt"
	"strings"
)

// This file records the runs of iptables-family tools and ipset as
// Invocations: their words, their standard input and, for an unknown
// command word, which tool it most likely is.

func isRestore(tool string) bool { return strings.HasSuffix(tool, "-restore") }

// guessTool decides whether an unknown command word is an iptables tool:
// IPT=$(which iptables) or an IPTABLES the script never sets are the
// usual reasons a firewall script's command word cannot be known.
func (s *state) guessTool(f xfield, ex *expander) string {
	hint := string(f.b)
	varName := f.fromVar(ex)
	if varName != "" {
		if v := s.lookup(varName); v != nil && len(v.vals) > 0 {
			hint += " " + v.vals[0].raw
		}
	}
	best := ""
	for t := range toolNames {
		if len(t) > len(best) && strings.Contains(hint, t) {
			best = t
		}
	}
	if best == "" && varName != "" {
		u := strings.ToUpper(varName)
		switch {
		case strings.Contains(u, "IP6T"):
			best = "ip6tables"
		case strings.Contains(u, "IPT"):
			best = "iptables"
		}
	}
	return best
}

// invoke records a run of tool with fs[0] the command word.
func (s *state) invoke(c *simpleCmd, ex *expander, tool string, fs []xfield, piped bool) status {
	if len(s.invs) >= maxInvs {
		s.stop(c.pos, fmt.Sprintf("the script makes more than %d iptables calls", maxInvs))
		return stUnknown
	}
	inv := Invocation{Tool: tool, Cmd: s.toWord(fs[0], ex), Note: strings.Join(s.notes, "; "), Errexit: s.errexit.active()}
	inv.Line = inv.Cmd.Line
	at := fs[0].start
	if len(fs[0].c) > 0 {
		at = fs[0].c[0].off()
	}
	inv.LineText = s.src.lineText(at)
	for _, f := range fs[1:] {
		inv.Args = append(inv.Args, s.toWord(f, ex))
	}
	s.reportUnknowns(ex, fs)
	if tool == "ipset" && len(inv.Args) > 0 && (inv.Args[0].Text == "restore" || inv.Args[0].Text == "-R") {
		inv.Stdin = s.stdin(c, piped)
		switch {
		case inv.Stdin == nil:
			s.diag(inv.Cmd.Offset, "ipset restore reads its sets from standard input, which the script does not give; not followed", true)
		case inv.Stdin.File != nil:
			s.diag(inv.Stdin.File.Offset, fmt.Sprintf("cannot follow ipset restore < %s: the sets are in that file, outside the script; put them before the rules of the file ipsift reads", inv.Stdin.File.Text), true)
		case inv.Stdin.Pipe:
			s.diag(inv.Cmd.Offset, "cannot follow ipset restore reading from a pipe without running the script", true)
		}
	} else if isRestore(tool) {
		inv.Stdin = s.stdin(c, piped)
		switch {
		case restoreFile(inv.Args) != nil:
			f := restoreFile(inv.Args)
			s.diag(f.Offset, fmt.Sprintf("cannot follow %s %s: the rules are in that file, outside the script; check it as an iptables-restore file", tool, f.Text), true)
		case inv.Stdin == nil:
			s.diag(inv.Cmd.Offset, tool+" reads its rules from standard input, which the script does not give; not followed", true)
		case inv.Stdin.File != nil:
			s.diag(inv.Stdin.File.Offset, fmt.Sprintf("cannot follow %s < %s: the rules are in that file, outside the script; check it as an iptables-restore file", tool, inv.Stdin.File.Text), true)
		case inv.Stdin.Pipe:
			s.diag(inv.Cmd.Offset, fmt.Sprintf("cannot follow %s reading from a pipe without running the script", tool), true)
		}
	}
	s.invs = append(s.invs, inv)
	if s.opts.Run != nil {
		if ok, known := s.opts.Run(inv); known {
			return boolStatus(ok)
		}
	}
	return stUnknown
}

// restoreFile returns the file argument of an iptables-restore, if any:
// the last word that is neither an option nor an option's value.
func restoreFile(args []Word) *Word {
	takesValue := map[string]bool{"-M": true, "--modprobe": true, "-T": true, "--table": true, "-W": true, "--wait-interval": true}
	i := len(args) - 1
	if i < 0 || strings.HasPrefix(args[i].Text, "-") || i > 0 && takesValue[args[i-1].Text] {
		return nil
	}
	return &args[i]
}

// stdin tells what a command's standard input is: its last '<' or
// here-document, or the pipe it is in.
func (s *state) stdin(c *simpleCmd, piped bool) *Stdin {
	var in *Stdin
	for _, r := range c.redirs {
		switch {
		case r.op == "<" && r.target != nil:
			ex := s.newExpander()
			ex.word(r.target)
			w := s.toWord(ex.joined(), ex)
			in = &Stdin{File: &w}
		case r.here != nil:
			in = &Stdin{Heredoc: true, Pos: s.src.pos(r.here.pos)}
			if r.here.done {
				ex := s.newExpander()
				ex.word(&r.here.body)
				in.Text = string(ex.joined().b)
			}
		case r.op == "<<<" && r.target != nil:
			ex := s.newExpander()
			ex.word(r.target)
			in = &Stdin{Heredoc: true, Pos: s.src.pos(r.target.pos), Text: string(ex.joined().b) + "\n"}
		}
	}
	if in == nil && piped {
		in = &Stdin{Pipe: true}
	}
	return in
}
