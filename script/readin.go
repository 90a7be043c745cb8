package script

import "bytes"

// A loop whose standard input the script spells out, a here-document or
// here-string (`while read -r a b; do ...; done <<EOF`), gives its read
// commands lines that can be known: bash reads them one per pass and the
// loop ends at the end of the text. lineInput is that text, consumed by
// read; a nil entry on the state's input stack stands for an input that
// cannot be known (a file, a pipe), where read stays unknown.
type lineInput struct {
	rest value
}

// loopInput returns the input a loop's redirections give it: known
// text, or nil when its input is redirected from something that cannot
// be known; redirected is false when the loop reads its caller's input.
func (s *state) loopInput(redirs []*redir) (in *lineInput, redirected bool) {
	for _, r := range redirs {
		var f xfield
		switch {
		case r.here != nil:
			if !r.here.done {
				in, redirected = nil, true
				continue
			}
			ex := s.newExpander()
			ex.word(&r.here.body)
			f = ex.joined()
		case r.op == "<<<" && r.target != nil:
			ex := s.newExpander()
			ex.word(r.target)
			f = ex.joined()
		case r.op == "<" || r.op == "<>" || r.op == "<&":
			in, redirected = nil, true
			continue
		default:
			continue
		}
		redirected = true
		if f.unknown() {
			in = nil
			continue
		}
		v := f.value()
		if r.op == "<<<" {
			at := int32(-1)
			if n := len(v.orig); n > 0 {
				at = v.orig[n-1]
			}
			v = value{b: append(v.b, '\n'), orig: append(v.orig, at)}
		}
		in = &lineInput{rest: v}
	}
	return in, redirected
}

// withInput runs fn with in as the standard input of the read commands
// in it.
func (s *state) withInput(in *lineInput, fn func() (status, ctl)) (status, ctl) {
	s.inputs = append(s.inputs, in)
	defer func() { s.inputs = s.inputs[:len(s.inputs)-1] }()
	return fn()
}

// knownInput returns the input a read command takes its line from, when
// that can be known: its own here-document or here-string, else the
// innermost redirected loop's text.
func (s *state) knownInput(c *simpleCmd) *lineInput {
	if in, ok := s.loopInput(c.redirs); ok {
		return in
	}
	if len(s.inputs) == 0 {
		return nil
	}
	return s.inputs[len(s.inputs)-1]
}

// readLine is bash's read NAME... on a known input: one line (with -r
// taken as written, else a backslash quotes the next character and a
// backslash-newline joins the next line), split at $IFS into the names,
// the last one taking the rest of the line; the status is 1 at the end
// of the input, with every name set empty. It reports false for options
// it does not follow (-a, -d, -n, -N, -u), so the caller keeps read
// unknown.
func (s *state) readLine(in *lineInput, args []xfield) (status, bool) {
	raw := false
	var names []string
	for i := 0; i < len(args); i++ {
		if args[i].unknown() {
			return stUnknown, false
		}
		t := string(args[i].b)
		if len(names) == 0 && len(t) > 1 && t[0] == '-' {
			for j := 1; j < len(t); j++ {
				switch t[j] {
				case 'r':
					raw = true
				case 's', 'e':
				case 'p', 't':
					if j == len(t)-1 {
						i++ // the option's value is the next word
					}
					j = len(t)
				default:
					return stUnknown, false
				}
			}
			continue
		}
		if !isName(t) {
			return stUnknown, false
		}
		names = append(names, t)
	}
	line, quoted, ok := in.next(raw)
	if !ok {
		for _, n := range names {
			s.setScalar(n, value{})
		}
		if len(names) == 0 {
			s.setScalar("REPLY", value{})
		}
		return stFail, true
	}
	if len(names) == 0 {
		s.setScalar("REPLY", line)
		return stOK, true
	}
	ifs, _ := s.ifs()
	// A character a backslash quoted never separates.
	sep := func(j int) bool { return !quoted[j] && bytes.IndexByte(ifs, line.b[j]) >= 0 }
	white := func(j int) bool {
		b := line.b[j]
		return (b == ' ' || b == '\t' || b == '\n') && sep(j)
	}
	i := 0
	for i < len(line.b) && white(i) {
		i++
	}
	for k, n := range names {
		if k == len(names)-1 {
			j := len(line.b)
			for j > i && white(j-1) {
				j--
			}
			s.setScalar(n, sub(line, i, j))
			break
		}
		j := i
		for j < len(line.b) && !sep(j) {
			j++
		}
		s.setScalar(n, sub(line, i, j))
		// Past the separator: IFS white space around one other IFS
		// character counts as a single separator.
		for j < len(line.b) && white(j) {
			j++
		}
		if j < len(line.b) && sep(j) && !white(j) {
			j++
			for j < len(line.b) && white(j) {
				j++
			}
		}
		i = j
	}
	return stOK, true
}

// next takes one line off the input, without its newline, and marks the
// characters a backslash quoted; ok is false at the end of the input
// (bash's read also fails on a last line without a newline, which a
// here-document never has).
func (in *lineInput) next(raw bool) (line value, quoted []bool, ok bool) {
	v := in.rest
	i := 0
	for i < len(v.b) {
		b := v.b[i]
		switch {
		case b == '\n':
			in.rest = sub(v, i+1, len(v.b))
			return line, quoted, true
		case b == '\\' && !raw && i+1 < len(v.b):
			if v.b[i+1] != '\n' {
				line.b = append(line.b, v.b[i+1])
				line.orig = append(line.orig, v.orig[i+1])
				quoted = append(quoted, true)
			}
			i += 2
			continue
		}
		line.b = append(line.b, b)
		line.orig = append(line.orig, v.orig[i])
		quoted = append(quoted, false)
		i++
	}
	in.rest = value{}
	return value{}, nil, false
}

func sub(v value, i, j int) value {
	return value{b: append([]byte(nil), v.b[i:j]...), orig: append([]int32(nil), v.orig[i:j]...)}
}
