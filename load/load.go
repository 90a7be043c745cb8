// Package load reads a ruleset from what users have: an iptables-restore
// file, or a shell script of iptables commands (read, never run). It
// reports every problem with the input's own file, line and column.
package load

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/ipset"
	"github.com/ipsift/ipsift/rules"
	"github.com/ipsift/ipsift/script"
)

// Options controls loading.
type Options struct {
	// KeepGoing reads past errors to report them all (ipsift check): a
	// bad command is skipped, or applied in its corrected form where the
	// correction is certain, so that the analysis of the rest sees what
	// the author meant. The result is still an error.
	KeepGoing bool
	// Counters loads "[p:b]" counters from restore files (-c).
	Counters bool
	// NoFlush reads a restore file as iptables-restore --noflush (-n)
	// loads it: a table's section adds to what the table holds instead
	// of replacing it. A script's own iptables-restore commands say
	// for themselves.
	NoFlush bool
	// Legacy reads the input as the iptables-legacy tools do (tables
	// come into being on any use: rules.Ruleset.Legacy); a script's
	// iptables-legacy and iptables-nft commands say so themselves.
	Legacy bool
	// Args are a script's arguments when ArgsGiven ($1 ... as bash
	// SCRIPT ARG... sets them); otherwise they are unknown.
	Args      []string
	ArgsGiven bool
	// Family reads a restore file as iptables-restore (IPv4) or
	// ip6tables-restore (IPv6) input; 0 decides from the file (see
	// Bytes). A script's commands say it themselves.
	Family ext.Family
	// LiveSets leaves the sets the rules name to the caller, who checks
	// them against sets that already exist (a running daemon's, which a
	// reload keeps), as iptables-restore on a host checks them against
	// the kernel's sets: a rule may name a set the input does not create.
	LiveSets bool
}

// Result is a loaded ruleset and what was found on the way.
type Result struct {
	Rules *rules.Ruleset
	// Sets are the ipsets the input creates: an `ipset save` section
	// before the rules of a restore file, or a script's ipset commands.
	Sets  *ipset.Registry
	Diags rules.Diags
	// Script is true when the input was read as a shell script.
	Script bool
	// Rules6 is the IPv6 ruleset: a script's ip6tables commands, or a
	// restore file read as ip6tables-restore input (Rules is then an
	// empty IPv4 ruleset); nil when the input has no IPv6 part.
	Rules6 *rules.Ruleset
}

// Pick returns the ruleset of one family: IPv6 when six is set or when
// the input has only IPv6 rules, else IPv4. both reports that the input
// holds rules of both families, so the caller can say which it shows.
func (r *Result) Pick(six bool) (rs *rules.Ruleset, both bool) {
	if r.Rules6 == nil {
		if six {
			return emptyRuleset(ext.IPv6), false
		}
		return r.Rules, false
	}
	both = len(r.Rules.Tables) > 0
	if six || !both {
		return r.Rules6, both
	}
	return r.Rules, both
}

func emptyRuleset(f ext.Family) *rules.Ruleset {
	rs := rules.New()
	rs.Family = f
	return rs
}

// Err returns the problems as an error when there are errors.
func (r *Result) Err() error { return r.Diags.Err() }

// File loads a file; the error is for I/O only, problems in the input are
// in Result.Diags.
func File(path string, o Options) (*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Bytes(path, data, o), nil
}

// Bytes loads an input held in memory; name is used in positions.
func Bytes(name string, data []byte, o Options) *Result {
	sets, data := splitSets(data)
	if script.LooksLikeScript(data) && len(sets) == 0 {
		return fromScript(name, data, o)
	}
	ro := rules.RestoreOptions{File: name, KeepGoing: o.KeepGoing, Counters: o.Counters, NoFlush: o.NoFlush, Legacy: o.Legacy}
	fam := o.Family
	var rs *rules.Ruleset // already loaded when restoreFamily's IPv4 try is the load
	var diags rules.Diags
	if fam == 0 {
		fam, rs, diags = restoreFamily(data, o, ro)
	}
	if rs == nil {
		rs = emptyRuleset(fam)
		rs.Legacy = o.Legacy
		diags, _ = rs.Restore(bytes.NewReader(data), ro)
	}
	res := &Result{Rules: rs, Sets: ipset.NewRegistry()}
	if len(sets) > 0 {
		res.restoreSets(name, string(sets), 0)
	}
	res.Diags = append(res.Diags, diags...)
	res.Diags = append(res.Diags, rules.TranslateNthGroups(rs)...)
	if o.KeepGoing && diags.HasErrors() {
		// Load what could be loaded, so the analysis still has a model.
		rs2 := emptyRuleset(fam)
		rs2.Legacy = o.Legacy
		rs2.Restore(bytes.NewReader(withoutBadLines(data, diags)), rules.RestoreOptions{File: name, KeepGoing: true, Counters: o.Counters, NoFlush: o.NoFlush, Legacy: o.Legacy})
		res.Rules = rs2
	}
	if !o.LiveSets {
		res.Diags = append(res.Diags, CheckSets(res.Rules, res.Sets)...)
	}
	if fam == ext.IPv6 {
		res.Rules, res.Rules6 = emptyRuleset(ext.IPv4), res.Rules
	}
	return res
}

// restoreFamily decides which tool a restore file is for when the caller
// did not say: ip6tables-save's header comment says IPv6; otherwise a
// file that ip6tables-restore reads without error and iptables-restore
// does not (IPv6 addresses, ip6tables-only extensions) is IPv6, and
// anything else IPv4, whose errors are then reported.
//
// A file read as IPv4 without error is returned loaded, with its
// diagnostics (reading it again would give the same: without an error
// KeepGoing changes nothing), so that the usual file is parsed once: a
// second parse doubled the load of 100,000 rules.
func restoreFamily(data []byte, o Options, ro rules.RestoreOptions) (ext.Family, *rules.Ruleset, rules.Diags) {
	if bytes.Contains(data, []byte("# Generated by ip6tables-save")) {
		return ext.IPv6, nil, nil
	}
	ro.KeepGoing = false
	rs := emptyRuleset(ext.IPv4)
	rs.Legacy = o.Legacy
	if diags, err := rs.Restore(bytes.NewReader(data), ro); err == nil {
		return ext.IPv4, rs, diags
	}
	rs6 := emptyRuleset(ext.IPv6)
	rs6.Legacy = o.Legacy
	if _, err := rs6.Restore(bytes.NewReader(data), ro); err == nil {
		return ext.IPv6, nil, nil
	}
	return ext.IPv4, nil, nil
}

// splitSets takes the ipset save section (create and add lines, and
// comments, before anything else) off the front of a file, leaving blank
// lines in its place so that the rules keep their line numbers.
func splitSets(data []byte) (sets, rest []byte) {
	lines := bytes.SplitAfter(data, []byte("\n"))
	n, last := 0, 0
	for i, l := range lines {
		t := bytes.TrimSpace(l)
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		if !bytes.HasPrefix(t, []byte("create ")) && !bytes.HasPrefix(t, []byte("add ")) {
			break
		}
		n, last = n+1, i+1
	}
	if n == 0 {
		return nil, data
	}
	sets = bytes.Join(lines[:last], nil)
	rest = append(bytes.Repeat([]byte("\n"), last), bytes.Join(lines[last:], nil)...)
	return sets, rest
}

// setsClock is the time at which the sets of a file are read: a file is
// a snapshot, its timeouts count from when it is loaded.
const setsClock = 0

// restoreSets reads ipset restore input into the result's sets; line is
// where the input starts in the file, less one.
func (res *Result) restoreSets(name, text string, line int) {
	var errb bytes.Buffer
	c := &ipset.Cmd{R: res.Sets, Now: func() int64 { return setsClock }, Stdout: &bytes.Buffer{}, Stderr: &errb}
	if err := c.Restore(strings.NewReader(text), false); err != nil {
		res.Diags = append(res.Diags, &rules.Diag{Pos: rules.Pos{File: name, Line: line + ipset.ErrorLine(err), Col: 1}, Msg: "ipset restore: " + err.Error()})
	}
}

// runIpset runs a script's ipset command on the result's sets.
func (res *Result) runIpset(pos rules.Pos, inv script.Invocation, name string) {
	args := make([]string, len(inv.Args))
	for i, a := range inv.Args {
		args[i] = a.Text
	}
	if len(args) > 0 && (args[0] == "restore" || args[0] == "-R") {
		if inv.Stdin != nil && inv.Stdin.Heredoc {
			res.restoreSets(name, inv.Stdin.Text, inv.Stdin.Pos.Line-1)
		} else {
			res.Diags = append(res.Diags, &rules.Diag{Pos: pos, Severity: rules.SevWarning, Word: inv.Cmd.Text,
				Msg: "ipset restore reads a file this script does not contain; put its sets before the rules of the file ipsift reads"})
		}
		return
	}
	var errb bytes.Buffer
	c := &ipset.Cmd{R: res.Sets, Now: func() int64 { return setsClock }, Stdout: &bytes.Buffer{}, Stderr: &errb}
	if c.Run(args) != 0 {
		msg := strings.TrimPrefix(strings.TrimSpace(errb.String()), "ipset "+ipset.Version+": ")
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		sev := rules.SevError
		if len(args) > 0 && (args[0] == "test" || args[0] == "-T") {
			sev = rules.SevWarning // a test's answer, not a failure of the script
		}
		res.Diags = append(res.Diags, &rules.Diag{Pos: pos, Severity: sev, Word: inv.Cmd.Text, Msg: "ipset " + args[0] + ": " + msg})
	}
}

func withoutBadLines(data []byte, diags rules.Diags) []byte {
	bad := map[int]bool{}
	for _, d := range diags {
		if d.Severity == rules.SevError {
			bad[d.Pos.Line] = true
		}
	}
	lines := strings.SplitAfter(string(data), "\n")
	var b strings.Builder
	for i, l := range lines {
		if bad[i+1] && !strings.HasPrefix(strings.TrimSpace(l), "*") && strings.TrimSpace(l) != "COMMIT" {
			b.WriteString("\n")
			continue
		}
		b.WriteString(l)
	}
	return []byte(b.String())
}

// ipv6 returns the IPv6 ruleset, creating it on first use.
func (r *Result) ipv6() *rules.Ruleset {
	if r.Rules6 == nil {
		r.Rules6 = emptyRuleset(ext.IPv6)
	}
	return r.Rules6
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// restoreNoFlush reports whether an iptables-restore command line asks
// for --noflush: -n, --noflush, or n among bundled short options.
func restoreNoFlush(args []script.Word) bool {
	for _, a := range args {
		t := a.Text
		if t == "--noflush" {
			return true
		}
		if len(t) < 2 || t[0] != '-' || t[1] == '-' {
			continue
		}
		for _, c := range t[1:] {
			if c == 'n' {
				return true
			}
			if c == 'M' || c == 'T' || c == 'W' {
				break // the rest of the word is the option's argument
			}
		}
	}
	return false
}

func isRuleTool(tool string) bool {
	switch tool {
	case "iptables", "iptables-legacy", "iptables-nft":
		return true
	}
	return false
}

// backendLegacy tells whether a script's tool is the legacy backend's:
// iptables-legacy and iptables-nft say so, a plain iptables is whatever
// the caller chose.
func backendLegacy(tool string, dflt bool) bool {
	switch {
	case strings.Contains(tool, "-legacy"):
		return true
	case strings.Contains(tool, "-nft"):
		return false
	}
	return dflt
}

func fromScript(name string, data []byte, o Options) *Result {
	rs := rules.New()
	rs.Legacy = o.Legacy
	res := &Result{Rules: rs, Script: true, Sets: ipset.NewRegistry()}
	// Each invocation is applied as the reader comes to it, so that the
	// reader can ask whether it succeeds (if iptables -n -L foo; then
	// ...) and follow the branch the model so far says.
	var (
		prev    *script.Invocation // the invocation before
		failedP bool               // it failed
		ended   *rules.Diag        // set -e ended the script here; its message waits for the count
		after   int                // invocations read after the end
	)
	run := func(inv script.Invocation) (ok, known bool) {
		pos := scriptPos(name, inv.Cmd.Pos)
		if ended == nil && prev != nil && prev.Errexit && failedP {
			// set -e: the shell ended at the previous command.
			ended = &rules.Diag{Pos: scriptPos(name, prev.Cmd.Pos), Severity: rules.SevNote}
			res.Diags = append(res.Diags, ended)
		}
		if ended != nil {
			after++
			if !o.KeepGoing {
				return false, false
			}
		}
		prev = &inv
		before := len(res.Diags)
		failed := func() bool { return res.Diags[before:].HasErrors() }
		failedP = false
		tool := filepath.Base(inv.Tool)
		switch {
		case isRuleTool(tool):
		case tool == "ipset":
			res.runIpset(pos, inv, name)
			return false, false
		case isRuleTool(strings.Replace(tool, "ip6tables", "iptables", 1)):
			// ip6tables commands build the IPv6 ruleset.
		case strings.HasSuffix(tool, "-restore"):
			if inv.Stdin != nil && inv.Stdin.Heredoc {
				target := rs
				if strings.HasPrefix(tool, "ip6tables") {
					target = res.ipv6()
				}
				diags, _ := target.Restore(strings.NewReader(inv.Stdin.Text), rules.RestoreOptions{File: name, KeepGoing: o.KeepGoing, NoFlush: restoreNoFlush(inv.Args), Legacy: backendLegacy(tool, o.Legacy)})
				for _, d := range diags {
					d.Pos.Line += inv.Stdin.Pos.Line - 1
				}
				res.Diags = append(res.Diags, diags...)
				failedP = failed()
				return !failedP, true
			}
			res.Diags = append(res.Diags, &rules.Diag{Pos: pos, Severity: rules.SevWarning, Word: inv.Cmd.Text,
				Msg: fmt.Sprintf("%s reads a file this script does not contain; load that file with ipsift directly", tool)})
			return false, false
		default:
			return false, false // iptables-save and friends change nothing
		}
		words := make([]rules.Word, len(inv.Args))
		for i, a := range inv.Args {
			words[i] = rules.Word{Text: a.Text, Pos: scriptPos(name, a.Pos)}
		}
		co := o
		co.Legacy = backendLegacy(tool, o.Legacy)
		target := rs
		if strings.HasPrefix(tool, "ip6tables") {
			target = res.ipv6()
		}
		ok, known = applyUnknown(target, res, inv, words, pos, co)
		failedP = failed()
		return ok, known
	}
	_, sdiags := script.ReadWith(name, data, script.Options{ReadFile: os.ReadFile, Dir: filepath.Dir(name), Glob: filepath.Glob, Run: run, Args: o.Args, ArgsGiven: o.ArgsGiven})
	if ended != nil {
		ended.Msg = fmt.Sprintf("set -e is in effect: the script ends at this failing command, and the %s after it %s not run", plural(after, "command"), map[bool]string{true: "does", false: "do"}[after == 1])
	}
	// The reader's own findings first, as before the commands' own.
	var own rules.Diags
	for _, d := range sdiags {
		sev := rules.SevError
		switch {
		case d.Note:
			sev = rules.SevNote
		case d.Warn:
			sev = rules.SevWarning
		}
		own = append(own, &rules.Diag{Pos: scriptPos(name, d.Pos), Severity: sev, Msg: d.Msg})
	}
	res.Diags = append(own, res.Diags...)
	res.Diags = append(dedupe(res.Diags), rules.TranslateNthGroups(rs)...)
	if !o.LiveSets {
		res.Diags = append(res.Diags, CheckSets(rs, res.Sets)...)
		if res.Rules6 != nil {
			res.Diags = append(res.Diags, CheckSets(res.Rules6, res.Sets)...)
		}
	}
	return res
}

// applyCommand parses and applies one iptables command. With KeepGoing a
// failing command is read on with each error's fix, so that every
// problem of the line is reported at its own position. A failed command
// changes nothing, as in the kernel; only a certain correction (a
// typographic dash, "-syn" for "--syn", "-J" for "-j", a table only one
// of which has the target) is applied to the model, so that the rest of
// the script is judged as the author meant it. A guess ("did you mean")
// or a stand-in (a placeholder's value, a missing chain) is tried on a
// scratch copy only: later commands never see it.
func applyCommand(rs *rules.Ruleset, res *Result, words []rules.Word, pos rules.Pos, line string, o Options) bool {
	words, pre := fixTypography(words)
	res.Diags = append(res.Diags, pre...)
	if len(pre) > 0 && !o.KeepGoing {
		// iptables refuses the word: the command fails and changes
		// nothing. Only a checker reads on with the correction.
		return false
	}
	failed := len(pre) > 0
	offer := true // every correction so far is a fix, not a stand-in: offer the line
	model := rs   // where the command goes; a scratch copy once a guess is tried
	var last *rules.Diag
	if len(pre) > 0 {
		last = pre[len(pre)-1]
	}
	for attempt := 0; attempt < 12; attempt++ {
		cmd, err := rules.ParseCommand(words, rules.ParseOptions{Legacy: o.Legacy, Family: rs.Family})
		if err == nil {
			// Listings change no rule, but iptables-legacy creates the
			// table they read, and a listed chain must exist.
			err = model.Apply(cmd)
			if err == nil {
				res.Diags = append(res.Diags, cmd.Warnings...)
			}
			if err != nil && (cmd.Kind == rules.CmdList || cmd.Kind == rules.CmdListRules) && isNoSuchChain(err) {
				// -L CHAIN asks whether the chain is there too (the
				// usual "chain exists" test); "no" changes nothing.
				return false
			}
			if err != nil && cmd.Kind == rules.CmdCheck && isNoSuchRule(err) {
				// -C asks whether the rule is there; "no" is its answer
				// (exit 1, nothing changed), the usual guard before an
				// -A, not a failure of the script.
				return false
			}
		}
		if err == nil {
			if failed && offer && last != nil {
				last.FixLine = correctedLine(line, words)
			}
			return !failed
		}
		d, ok := err.(*rules.Diag)
		if !ok {
			d = &rules.Diag{Pos: pos, Msg: err.Error()}
		}
		if d.Pos.Line == 0 {
			d.Pos = pos
		}
		if rest, ok := strings.CutPrefix(d.FixLine, "iptables "); ok {
			// A replacement rule from the parser: in the script's words.
			if f := strings.Fields(line); len(f) > 0 {
				d.FixLine = f[0] + " " + rest
			}
		}
		res.Diags = append(res.Diags, d)
		failed, last = true, d
		if !o.KeepGoing {
			return false
		}
		fix, guess := d.Fix, d.Guess
		if fix == "" {
			fix, guess, offer = d.Assume, true, false
		}
		if fix == "" {
			return false
		}
		if guess && model == rs {
			model = rs.Clone()
		}
		if strings.HasPrefix(fix, "-N ") {
			// A missing chain: read on as if it had been created, so the
			// rest of the line is checked too.
			cw := []rules.Word{{Text: "-t", Pos: d.Pos}, {Text: tableOf(words), Pos: d.Pos}, {Text: "-N", Pos: d.Pos}, {Text: fix[3:], Pos: d.Pos}}
			create, err := rules.ParseCommand(cw, rules.ParseOptions{})
			if err != nil || model.Apply(create) != nil {
				return false
			}
			continue
		}
		next, ok := applyFix(words, d, fix)
		if !ok {
			return false
		}
		words = next
	}
	return false
}

// tableOf returns the table a command's words name with -t, or filter.
func tableOf(words []rules.Word) string {
	for i, w := range words {
		if (w.Text == "-t" || w.Text == "--table") && i+1 < len(words) {
			return words[i+1].Text
		}
	}
	return "filter"
}

// dedupe drops repeated diagnostics (same place, same message), which
// re-reading a corrected command can produce.
func dedupe(ds rules.Diags) rules.Diags {
	seen := map[string]bool{}
	var out rules.Diags
	for _, d := range ds {
		k := d.Pos.String() + "\x00" + d.Msg
		// One placeholder at one place is one problem, however many
		// readings of the line ran into it.
		ph := d.Pos.String() + "\x00placeholder"
		if strings.Contains(d.Msg, "placeholder") {
			if seen[ph] {
				continue
			}
			seen[ph] = true
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

// fixTypography replaces words that start with typographic dashes by
// the hyphens they stand for, reporting each.
func fixTypography(words []rules.Word) ([]rules.Word, rules.Diags) {
	var diags rules.Diags
	out := make([]rules.Word, 0, len(words))
	for _, w := range words {
		msg, fix, ok := rules.DescribeTypographic(w.Text)
		if !ok {
			out = append(out, w)
			continue
		}
		diags = append(diags, &rules.Diag{Pos: w.Pos, Word: w.Text, Fix: fix, Msg: msg})
		for _, part := range strings.Fields(fix) {
			out = append(out, rules.Word{Text: part, Pos: w.Pos})
		}
	}
	return out, diags
}

// applyFix applies a diagnostic's fix to the words: either a word
// replaced at the diagnostic's position, or "-t TABLE" put in front.
func applyFix(words []rules.Word, d *rules.Diag, fix string) ([]rules.Word, bool) {
	if strings.HasPrefix(fix, "-t ") {
		for _, w := range words {
			if w.Text == "-t" || w.Text == "--table" {
				return nil, false
			}
		}
		first := rules.Word{Text: "-t", Pos: words[0].Pos}
		second := rules.Word{Text: strings.TrimPrefix(fix, "-t "), Pos: words[0].Pos}
		return append([]rules.Word{first, second}, words...), true
	}
	at := -1
	for i, w := range words {
		if d.Word != "" && w.Text == d.Word {
			at = i
			break
		}
	}
	for i, w := range words {
		if at < 0 && (w.Pos == d.Pos || d.Word != "" && strings.Contains(w.Text, d.Word)) {
			at = i
		}
	}
	for i, w := range words {
		if i == at {
			if strings.Contains(fix, " ") {
				parts := strings.Fields(fix)
				if len(parts) != 2 {
					return nil, false
				}
				// An option with a placeholder glued on: split it.
				out := append([]rules.Word{}, words[:i]...)
				out = append(out, rules.Word{Text: parts[0], Pos: w.Pos}, rules.Word{Text: parts[1], Pos: w.Pos})
				return append(out, words[i+1:]...), true
			}
			out := append([]rules.Word{}, words...)
			if d.Word != "" && w.Text != d.Word && strings.Contains(w.Text, d.Word) {
				// The bad part is inside the word ("-s MALICIOUS_ADDRESS,x").
				out[i].Text = strings.Replace(w.Text, d.Word, fix, 1)
			} else {
				out[i].Text = fix
			}
			return out, true
		}
	}
	return nil, false
}

// correctedLine rebuilds a script line with the corrected words, for
// "write instead" suggestions: every word keeps its place, quoted if
// needed.
func correctedLine(line string, words []rules.Word) string {
	var parts []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w.Text == "-m" && i+1 < len(words) && words[i+1].Text == "nth" {
			// The legacy match becomes statistic: what iptables takes.
			parts = append(parts, "-m", "statistic", "--mode", "nth")
			i++
			for i+2 < len(words) && (words[i+1].Text == "--counter" || words[i+1].Text == "--every" || words[i+1].Text == "--packet") {
				if words[i+1].Text != "--counter" {
					parts = append(parts, words[i+1].Text, words[i+2].Text)
				}
				i += 2
			}
			continue
		}
		t := w.Text
		if t == "" || strings.ContainsAny(t, " \t\"'$`\\") {
			t = "'" + strings.ReplaceAll(t, "'", `'\''`) + "'"
		}
		parts = append(parts, t)
	}
	cmd := "iptables"
	if f := strings.Fields(line); len(f) > 0 {
		cmd = f[0]
	}
	return cmd + " " + strings.Join(parts, " ")
}

// isNoSuchRule reports the error rules.Apply gives for a -C or -D whose
// rule is not in its chain (a missing chain or table is another error).
// isNoSuchChain tells the error of a command naming a chain that is not
// there.
func isNoSuchChain(err error) bool {
	d, ok := err.(*rules.Diag)
	return ok && strings.HasPrefix(d.Msg, "chain ") && strings.Contains(d.Msg, "does not exist in table")
}

func isNoSuchRule(err error) bool {
	d, ok := err.(*rules.Diag)
	return ok && strings.HasPrefix(d.Msg, "bad rule (does a matching rule exist in that chain?)")
}
