package rules

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
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

// Restore reads an iptables-restore file into rs. Either every table of
// the input is applied or, on any error, rs is left as it was: the
// returned Diags say what is wrong, each with its line and column.
func (rs *Ruleset) Restore(r io.Reader, o RestoreOptions) (Diags, error) {
	if o.Family == 0 {
		o.Family = rs.Family
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	work := rs.Clone()
	var diags Diags
	report := func(d *Diag) bool {
		diags = append(diags, d)
		return o.KeepGoing
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	var table *Table
	tableLine := 0
	lineNo := 0
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
					return diags, diags
				}
			}
			name := trimmed[1:]
			if BuiltinChains(name) == nil {
				d := &Diag{Pos: pos, Word: trimmed, Msg: fmt.Sprintf("table %q does not exist (tables: %s)", name, strings.Join(TableNames, ", "))}
				if s := suggest(name, TableNames); s != "" {
					d.Fix = "*" + s
				}
				if !report(d) {
					return diags, diags
				}
				table = nil
				continue
			}
			if !o.NoFlush {
				if old := work.Table(name); old != nil {
					for i, t := range work.Tables {
						if t == old {
							work.Tables = append(work.Tables[:i:i], work.Tables[i+1:]...)
							break
						}
					}
				}
			}
			table = work.EnsureTable(name)
			tableLine = lineNo
		case trimmed == "COMMIT":
			if table == nil {
				if !report(&Diag{Pos: pos, Word: "COMMIT", Msg: "COMMIT outside a table: no *table line before it"}) {
					return diags, diags
				}
				continue
			}
			if err := work.Validate(table.Name); err != nil {
				d := err.(*Diag)
				if d.Pos.Line == 0 {
					d.Pos = pos
				}
				if !report(d) {
					return diags, diags
				}
			}
			table = nil
		case strings.HasPrefix(trimmed, ":"):
			if table == nil {
				if !report(&Diag{Pos: pos, Word: trimmed, Msg: "chain declaration outside a table: put a *table line before it"}) {
					return diags, diags
				}
				continue
			}
			if d := declareChain(table, trimmed, pos, o); d != nil {
				if !report(d) {
					return diags, diags
				}
			}
		default:
			if table == nil {
				if !report(&Diag{Pos: pos, Word: firstWord(trimmed), Msg: "rule outside a table: put a *table line (e.g. *filter) before it"}) {
					return diags, diags
				}
				continue
			}
			words := SplitLine(o.File, lineNo, line)
			var counters *Counters
			if len(words) > 0 && strings.HasPrefix(words[0].Text, "[") {
				c, err := parseCounterPair(words[0].Text)
				if err != nil {
					if !report(&Diag{Pos: words[0].Pos, Word: words[0].Text, Msg: err.Error()}) {
						return diags, diags
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
					return diags, diags
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
		return diags, diags
	}
	rs.Tables = work.Tables
	return diags, nil
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
		ch.Policy = policy
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
	t.Chains = append(t.Chains, &Chain{Name: name, Pos: pos})
	return nil
}
