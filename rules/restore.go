package rules

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/ext"
)

// RestoreOptions controls Restore.
type RestoreOptions struct {
	File string // name used in positions
	// NoFlush is iptables-restore --noflush: tables named in the input
	// keep their rules.
	NoFlush bool
	// Counters is iptables-restore -c: "[p:b]" prefixes and chain
	// counters are loaded; without it they are ignored, as in iptables.
	Counters bool
	// KeepGoing reports every bad line instead of stopping at the first
	// (for ipsift check); a bad line is skipped, and the result is still
	// an error.
	KeepGoing bool
	Family    ext.Family
	// Legacy reads the file as iptables-legacy-restore does (see
	// ParseOptions.Legacy).
	Legacy bool
}

// Restore reads an iptables-restore file into rs as iptables-restore
// loads it into the kernel: each table's COMMIT is all or nothing, and
// the first error stops the load, so the tables committed before it stay
// applied while the failing table and everything after it are not (with
// a note naming them, when an earlier table stays). The returned Diags
// say what is wrong, each with its line and column.
func (rs *Ruleset) Restore(r io.Reader, o RestoreOptions) (Diags, error) {
	if o.Family == 0 {
		o.Family = rs.Family
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	work := rs.Clone()
	good := rs.Clone()     // the tables as committed before the first error
	var committed []string // the tables committed before the first error
	var diags Diags
	var table *Table
	stopped := false
	report := func(d *Diag) bool {
		diags = append(diags, d)
		if d.Severity == SevError && !stopped {
			stopped = true
			if table != nil && good.Legacy {
				// iptables-legacy-restore created the table at its
				// header, before the error.
				good.EnsureTable(table.Name)
			}
			if len(committed) > 0 {
				what := "the rest of the file is"
				if table != nil {
					what = fmt.Sprintf("table %s and the rest of the file are", table.Name)
				}
				diags = append(diags, &Diag{Pos: d.Pos, Severity: SevNote,
					Msg: fmt.Sprintf("iptables-restore stops at this error: %s not loaded; %s, committed before, %s loaded", what, strings.Join(committed, ", "), map[bool]string{true: "stays", false: "stay"}[len(committed) == 1])})
			}
		}
		return o.KeepGoing
	}
	// fail ends the load: the kernel keeps what was committed.
	fail := func() (Diags, error) {
		rs.Tables = good.Tables
		return diags, diags
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	tableLine := 0
	lineNo := 0
	var wordBuf []Word
	// existed: the current section's table was there before its header;
	// used: the section has a chain or rule line.
	existed, used := false, false
	opened := map[string]int{} // table name -> line of its first header in this input
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		pos := Pos{File: o.File, Line: lineNo, Col: 1 + len([]rune(line)) - len([]rune(strings.TrimLeft(line, " \t")))}
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		case strings.HasPrefix(trimmed, "*"):
			if table != nil {
				if !report(&Diag{Pos: pos, Word: trimmed, Msg: fmt.Sprintf("table %s opened at line %d has no COMMIT before this new table", table.Name, tableLine)}) {
					return fail()
				}
			}
			name := trimmed[1:]
			if BuiltinChains(name) == nil {
				d := &Diag{Pos: pos, Word: trimmed, Msg: fmt.Sprintf("table %q does not exist (tables: %s)", name, strings.Join(TableNames, ", "))}
				if s := suggest(name, TableNames); s != "" {
					d.Fix, d.Guess = "*"+s, true
				}
				if !report(d) {
					return fail()
				}
				table = nil
				continue
			}
			if first, ok := opened[name]; ok && !o.NoFlush {
				if d := replacedSection(work.Table(name), first, pos, trimmed); d != nil {
					diags = append(diags, d)
				}
			} else if !ok {
				opened[name] = lineNo
			}
			existed, used = work.Table(name) != nil, false
			if existed {
				// The section replaces the table's contents; the table
				// keeps its place (legacy lists tables by first use).
				// With --noflush it adds to them, in a copy: good may
				// hold this table as committed (see COMMIT).
				for i, t := range work.Tables {
					if t.Name == name {
						if o.NoFlush {
							work.Tables[i] = t.clone()
						} else {
							work.Tables[i] = New().EnsureTable(name)
						}
					}
				}
			}
			table = work.EnsureTable(name)
			tableLine = lineNo
		case trimmed == "COMMIT":
			if table == nil {
				if !report(&Diag{Pos: pos, Word: "COMMIT", Msg: "COMMIT outside a table: no *table line before it"}) {
					return fail()
				}
				continue
			}
			if err := work.Validate(table.Name); err != nil {
				d := err.(*Diag)
				if d.Pos.Line == 0 {
					d.Pos = pos
				}
				if !report(d) {
					return fail()
				}
			}
			if !work.Legacy && !used && !(existed && o.NoFlush) {
				// nf_tables: an empty section creates no table, and
				// without --noflush deletes the one there was.
				work.removeTable(table.Name)
			}
			if !stopped {
				// The tables as they are now, shared with work: a table
				// committed is never changed in place afterwards (a
				// later section of it starts from a new table or a
				// copy), so no deep copy is needed (copying 100,000
				// rules took a tenth of the load's time).
				good = &Ruleset{Family: work.Family, Legacy: work.Legacy, Tables: slices.Clone(work.Tables)}
				committed = append(committed, table.Name)
			}
			table = nil
		case strings.HasPrefix(trimmed, ":"):
			if table == nil {
				if !report(&Diag{Pos: pos, Word: trimmed, Msg: "chain declaration outside a table: put a *table line before it"}) {
					return fail()
				}
				continue
			}
			used = true
			if d := declareChain(table, trimmed, pos, o); d != nil {
				if !report(d) {
					return fail()
				}
			}
		default:
			if table == nil {
				if !report(&Diag{Pos: pos, Word: firstWord(trimmed), Msg: "rule outside a table: put a *table line (e.g. *filter) before it"}) {
					return fail()
				}
				continue
			}
			used = true
			// ParseCommand keeps no word slice, only copies of words:
			// the array serves every line.
			words := splitLineInto(wordBuf, o.File, lineNo, line)
			wordBuf = words
			var counters *Counters
			if len(words) > 0 && strings.HasPrefix(words[0].Text, "[") {
				c, err := parseCounterPair(words[0].Text)
				if err != nil {
					if !report(&Diag{Pos: words[0].Pos, Word: words[0].Text, Msg: err.Error()}) {
						return fail()
					}
					continue
				}
				counters = &c
				words = words[1:]
			}
			cmd, err := ParseCommand(words, ParseOptions{Family: o.Family, Table: table.Name, Restore: true, Legacy: o.Legacy})
			if err == nil {
				if o.Counters && counters != nil {
					for _, r := range cmd.Rules {
						r.Counters = *counters
					}
				}
				err = work.applyInTable(cmd)
			}
			if err != nil {
				if !report(asDiag(err, pos)) {
					return fail()
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return diags, err
	}
	if table != nil {
		report(&Diag{Pos: Pos{File: o.File, Line: lineNo + 1, Col: 1}, Msg: fmt.Sprintf("COMMIT expected: table %s (line %d) is never committed", table.Name, tableLine), Fix: "COMMIT"})
	}
	if diags.HasErrors() {
		return fail()
	}
	rs.Tables = work.Tables
	return diags, nil
}

// removeTable deletes the named table, if there is one.
func (rs *Ruleset) removeTable(name string) {
	for i, t := range rs.Tables {
		if t.Name == name {
			rs.Tables = append(rs.Tables[:i:i], rs.Tables[i+1:]...)
			return
		}
	}
}

// replacedSection is the warning for a second "*table" section of one
// input: iptables-restore without --noflush flushes the table again at
// the header, so every rule the earlier section loaded is lost. nil when
// the earlier section left no rules and no user chains.
func replacedSection(old *Table, first int, pos Pos, word string) *Diag {
	if old == nil {
		return nil
	}
	var lost []string
	n, chains := 0, 0
	for _, ch := range old.Chains {
		if !ch.Builtin {
			chains++
		}
		for _, r := range ch.Rules {
			n++
			if len(lost) < 3 {
				lost = append(lost, fmt.Sprintf("line %d: -A %s %s", r.Pos.Line, ch.Name, r.Spec()))
			}
		}
	}
	if n == 0 && chains == 0 {
		return nil
	}
	what := fmt.Sprintf("its %d rules are lost (%s", n, strings.Join(lost, "; "))
	if n > len(lost) {
		what += fmt.Sprintf("; and %d more", n-len(lost))
	}
	what += ")"
	if n == 0 {
		what = fmt.Sprintf("its %d user chains are lost", chains)
	}
	return &Diag{Pos: pos, Severity: SevWarning, Word: word, Fails: true,
		Msg: fmt.Sprintf("%s again: iptables-restore replaces the %s table loaded at line %d, and %s; merge the two sections, or load the file with iptables-restore --noflush (ipsift --noflush) to keep both", word, old.Name, first, what)}
}

// applyInTable applies a restore-file command; unlike Apply it does not
// validate the table (COMMIT does) and works in place, since the whole
// restore works on a copy.
func (rs *Ruleset) applyInTable(c *Command) error {
	if c.Skipped {
		return nil
	}
	switch c.Kind {
	case CmdList, CmdListRules:
		return &Diag{Pos: c.Pos, Msg: "listing commands (-L, -S) do nothing in a restore file"}
	}
	return rs.apply(c)
}

func asDiag(err error, pos Pos) *Diag {
	if d, ok := err.(*Diag); ok {
		if d.Pos.Line == 0 {
			d.Pos = pos
		}
		return d
	}
	return &Diag{Pos: pos, Msg: err.Error()}
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}

func parseCounterPair(s string) (Counters, error) {
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return Counters{}, fmt.Errorf("bad counters %q: write [PACKETS:BYTES]", s)
	}
	p, b, ok := strings.Cut(s[1:len(s)-1], ":")
	pk, err1 := strconv.ParseUint(p, 10, 64)
	by, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return Counters{}, fmt.Errorf("bad counters %q: write [PACKETS:BYTES]", s)
	}
	return Counters{Packets: pk, Bytes: by}, nil
}

// declareChain handles ":CHAIN POLICY [p:b]".
func declareChain(t *Table, line string, pos Pos, o RestoreOptions) *Diag {
	f := strings.Fields(line[1:])
	if len(f) == 0 {
		return &Diag{Pos: pos, Word: line, Msg: "chain declaration without a name"}
	}
	name := f[0]
	policy := ""
	if len(f) > 1 {
		policy = f[1]
	}
	var counters Counters
	if len(f) > 2 {
		c, err := parseCounterPair(f[2])
		if err != nil {
			return &Diag{Pos: pos, Word: f[2], Msg: err.Error()}
		}
		counters = c
	}
	if ch := t.Chain(name); ch != nil && ch.Builtin {
		if policy == "" || policy == "-" {
			return &Diag{Pos: pos, Word: line, Msg: fmt.Sprintf("built-in chain %s needs a policy: ACCEPT or DROP", name)}
		}
		if policy != "ACCEPT" && policy != "DROP" {
			return &Diag{Pos: pos, Word: policy, Msg: fmt.Sprintf("bad policy %q for %s: ACCEPT or DROP", policy, name)}
		}
		if t.Name == "nat" && policy == "DROP" {
			return &Diag{Pos: pos, Word: policy, Msg: "the nat table is not intended for filtering: its policies must be ACCEPT"}
		}
		ch.Policy, ch.PolicyPos = policy, pos
		if o.Counters {
			ch.Counters = counters
		}
		return nil
	}
	if isBuiltinOfAny(name) && !isBuiltinOf(t.Name, name) {
		// A built-in chain name of another table, e.g. PREROUTING in filter.
		var in []string
		for _, tn := range TableNames {
			if isBuiltinOf(tn, name) {
				in = append(in, tn)
			}
		}
		return &Diag{Pos: pos, Word: name, Msg: fmt.Sprintf("%s is a built-in chain of %s, not of %s; a user chain cannot take its name", name, strings.Join(in, "/"), t.Name)}
	}
	if err := validChainName(Word{Text: name, Pos: pos}, name); err != nil {
		return err.(*Diag)
	}
	if policy != "" && policy != "-" {
		return &Diag{Pos: pos, Word: policy, Msg: fmt.Sprintf("user chain %s cannot have a policy: write :%s - [0:0]", name, name)}
	}
	if ch := t.Chain(name); ch != nil {
		ch.Rules = nil // redeclaring a chain flushes it
		return nil
	}
	t.addChain(&Chain{Name: name, Pos: pos})
	return nil
}
