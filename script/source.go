package script

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// This file follows . FILE and source FILE: the file is read (through
// Options.ReadFile), parsed once, and run where the script sources it, as
// bash runs it: in the same shell, with the caller's variables and
// functions, its own positional parameters when arguments are given, and
// return ending the file. Its places are its own (Pos.File).

// Limits on sourcing, beside the others in read.go.
const (
	maxSourceDepth = 32      // files sourcing files
	maxSourceBytes = 2 << 20 // bytes read from sourced files, in all
)

// sfile is a file read for . or source.
type sfile struct {
	prog []*andOr
	err  *synErr
}

// source runs ". FILE [ARGS]" (name is "." or "source").
func (s *state) source(name string, c *simpleCmd, ex *expander, args []xfield) (status, ctl) {
	if len(args) == 0 {
		s.diag(c.pos, fmt.Sprintf("`%s' needs a file name: bash fails here", name), true)
		return stFail, ctl{}
	}
	a := args[0]
	what := shorten(string(a.b), 60)
	switch {
	case a.unknown():
		s.reportUnknowns(ex, args[:1])
		s.diag(c.pos, fmt.Sprintf("cannot follow `%s %s': which file it reads cannot be known without running the script; the commands in it are not read", name, what), true)
		return stUnknown, ctl{}
	case s.opts.ReadFile == nil:
		s.diag(c.pos, fmt.Sprintf("cannot follow `%s %s': it reads commands from another file", name, what), true)
		return stUnknown, ctl{}
	}
	file, text, tried, err := s.findSourced(string(a.b))
	if err != nil {
		s.diag(a.c[0].off(), fmt.Sprintf("cannot follow `%s %s': %s; the commands in it are not read (bash would fail here if the file is missing when the script runs)", name, what, describeMiss(tried, err)), true)
		return stUnknown, ctl{}
	}
	for _, f := range append([]string{filepath.Clean(s.name)}, s.sourcing...) {
		if f == file {
			s.diag(c.pos, fmt.Sprintf("`%s %s' reads a file that is already being read (%s sources itself, directly or through others): bash would loop until it runs out of memory; read once here", name, what, file), true)
			return stUnknown, ctl{}
		}
	}
	if len(s.sourcing) >= maxSourceDepth {
		return stUnknown, s.stop(c.pos, fmt.Sprintf("sourced files nest deeper than %d", maxSourceDepth))
	}
	sf := s.sourced[file]
	if sf == nil {
		if s.sourceBytes += len(text); s.sourceBytes > maxSourceBytes {
			return stUnknown, s.stop(c.pos, fmt.Sprintf("sourced files hold more than %d bytes in all", maxSourceBytes))
		}
		g := s.src.add(file, text)
		sf = &sfile{}
		sf.prog, sf.err = parseProgram(s.src, g.base, &s.diags)
		if sf.err != nil {
			s.diag(sf.err.off, sf.err.msg, false)
		}
		if s.sourced == nil {
			s.sourced = map[string]*sfile{}
		}
		s.sourced[file] = sf
	}

	// Arguments replace the positional parameters while the file runs.
	saved := s.params[len(s.params)-1]
	if len(args) > 1 {
		pf := &params{}
		for _, b := range args[1:] {
			v := b.value()
			if b.unknown() {
				v.why = fmt.Sprintf("it is passed to %s at %s as %s", file, s.src.lineRef(c.pos), b.subject(ex))
			}
			pf.vals = append(pf.vals, v)
		}
		s.params[len(s.params)-1] = pf
	}
	s.sourcing = append(s.sourcing, file)
	s.pushNote(fmt.Sprintf("in %s, sourced at %s", file, s.src.lineRef(c.pos)))
	st := stOK
	var cc ctl
	for _, item := range sf.prog {
		st, cc = s.andOr(item)
		if cc.kind != ctlNone {
			break
		}
	}
	s.popNote()
	s.sourcing = s.sourcing[:len(s.sourcing)-1]
	if len(args) > 1 {
		s.params[len(s.params)-1] = saved
	}
	switch cc.kind {
	case ctlReturn:
		st, cc = status(cc.n), ctl{}
	case ctlBreak, ctlContinue:
		cc = ctl{}
	}
	if sf.err != nil && cc.kind == ctlNone {
		// bash stops reading the file at a syntax error, which fails.
		st = stFail
	}
	return st, cc
}

// findSourced finds the file named p: an absolute path as it is, a
// relative one first in Options.Dir (the script's directory), then as
// written (the working directory). bash looks only in the working
// directory (and, for a name without '/', first in PATH); the script's
// directory is where such a file usually is, and where it is when the
// script is run from there.
func (s *state) findSourced(p string) (file string, text []byte, tried []string, err error) {
	cands := []string{p}
	if !filepath.IsAbs(p) && s.opts.Dir != "" {
		if d := filepath.Join(s.opts.Dir, p); d != filepath.Clean(p) {
			cands = []string{d, p}
		}
	}
	for _, f := range cands {
		tried = append(tried, f)
		b, e := s.opts.ReadFile(f)
		if e == nil {
			return filepath.Clean(f), b, tried, nil
		}
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			err = e
		}
	}
	return "", nil, tried, err
}

func describeMiss(tried []string, err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		if len(tried) == 1 {
			return "there is no file " + tried[0]
		}
		return fmt.Sprintf("there is no file %s (next to the script) nor %s (in the working directory)", tried[0], tried[1])
	}
	return err.Error()
}
