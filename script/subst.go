package script

import (
	"path/filepath"
	"sort"
	"strings"
)

// pureSubst works out a command substitution whose command is a pure
// function of its known arguments, as coreutils computes it: dirname
// PATH and basename PATH [SUFFIX], so that the common
// . "$(dirname "$0")/fw.conf" finds the file. Anything else (or an
// option) is not run: ok is false.
func (s *state) pureSubst(p *part) (string, bool) {
	from, to := p.pos+2, p.end-1 // $( ... )
	if s.src.b[p.pos] == '`' {
		if strings.ContainsRune(p.raw, '\\') {
			return "", false // backslashes inside `...` are read differently
		}
		from = p.pos + 1
	}
	if from >= to {
		return "", false
	}
	prog, err := parseRange(s.src, from, to, &diagList{src: s.src})
	if err != nil || len(prog) != 1 || len(prog[0].pipes) != 1 {
		return "", false
	}
	pl := prog[0].pipes[0]
	c, ok := pl.cmds[0].(*simpleCmd)
	if pl.bang || len(pl.cmds) != 1 || !ok || len(c.assigns) > 0 || len(c.redirs) > 0 || len(c.words) < 2 {
		return "", false
	}
	name, _ := c.words[0].lit()
	if fn, _ := s.funcs.get(name); fn != nil {
		return "", false // the script's own function of that name
	}
	ex := s.newExpander()
	for _, w := range c.words[1:] {
		ex.word(w)
	}
	var args []string
	for _, f := range ex.fields() {
		if f.unknown() {
			return "", false
		}
		args = append(args, string(f.b))
	}
	if len(args) > 0 && strings.HasPrefix(args[0], "-") {
		return "", false
	}
	switch {
	case name == "dirname" && len(args) == 1:
		return dirname(args[0]), true
	case name == "basename" && len(args) == 1:
		return basename(args[0], ""), true
	case name == "basename" && len(args) == 2:
		return basename(args[0], args[1]), true
	}
	return "", false
}

// dirname is coreutils' dirname of one path.
func dirname(p string) string {
	t := strings.TrimRight(p, "/")
	switch {
	case t == "" && p != "":
		return "/"
	case !strings.Contains(t, "/"):
		return "."
	}
	t = strings.TrimRight(t[:strings.LastIndexByte(t, '/')], "/")
	if t == "" {
		return "/"
	}
	return t
}

// basename is coreutils' basename of one path, less suffix (unless the
// suffix is all of it).
func basename(p, suffix string) string {
	t := strings.TrimRight(p, "/")
	if t == "" {
		if p == "" {
			return ""
		}
		return "/"
	}
	t = t[strings.LastIndexByte(t, '/')+1:]
	if suffix != "" && t != suffix && strings.HasSuffix(t, suffix) {
		t = t[:len(t)-len(suffix)]
	}
	return t
}

// globFields does bash's pathname expansion of each field that has an
// unquoted * ? or [: the names it matches, sorted, hidden ones only for
// a pattern that starts with a dot; a pattern that matches nothing stays
// as written (bash without nullglob).
func (s *state) globFields(fs []xfield) []xfield {
	var out []xfield
	for _, f := range fs {
		pat, ok := globPattern(f)
		if !ok {
			out = append(out, f)
			continue
		}
		names, err := s.opts.Glob(pat)
		var kept []string
		for _, n := range names {
			if strings.HasPrefix(filepath.Base(n), ".") && !strings.HasPrefix(filepath.Base(pat), ".") {
				continue
			}
			kept = append(kept, n)
		}
		if err != nil || len(kept) == 0 {
			out = append(out, f)
			continue
		}
		sort.Strings(kept)
		at := xc{at: int32(f.start), orig: -1, fl: fExp | fQuoted}
		if len(f.c) > 0 {
			at.at = f.c[0].at
		}
		for _, n := range kept {
			g := xfield{b: []byte(n), c: make([]xc, len(n)), start: f.start}
			for i := range g.c {
				g.c[i] = at
			}
			out = append(out, g)
		}
	}
	return out
}

// globPattern turns a field into a pattern for Options.Glob, quoted
// characters escaped; ok is false when the field has no unquoted glob
// character (or cannot be known).
func globPattern(f xfield) (string, bool) {
	if f.unknown() {
		return "", false
	}
	var b strings.Builder
	glob := false
	for i, c := range f.b {
		quoted := f.c[i].fl&fQuoted != 0
		switch {
		case strings.IndexByte("*?[", c) >= 0 && !quoted:
			glob = true
			b.WriteByte(c)
		case strings.IndexByte("*?[]\\", c) >= 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), glob
}
