package script

import (
	"bytes"
	"strings"
)

// errexit tracks the shell's -e option: with it on, a command that fails
// where its status is not tested ends the script. The reader cannot know
// which commands fail (the caller judges each iptables invocation), so
// it marks the invocations whose failure would end the script
// (Invocation.Errexit) and the caller stops there.
type errexit struct {
	on bool
	// tested counts the enclosing contexts where bash ignores -e: an if,
	// while or until condition, a pipeline before && or ||, a pipeline
	// negated with !.
	tested int
}

// active reports whether a failing command here would end the script.
func (e *errexit) active() bool { return e.on && e.tested == 0 }

// setOptions applies the -e / +e and -o errexit / +o errexit options of
// a set command's words (the first words that start with - or +).
func (e *errexit) setOptions(args []xfield) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a.unknown() {
			return
		}
		t := string(a.b)
		if len(t) < 2 || t[0] != '-' && t[0] != '+' || t == "--" {
			return
		}
		on := t[0] == '-'
		if t[1:] == "o" {
			if i+1 < len(args) && !args[i+1].unknown() && string(args[i+1].b) == "errexit" {
				e.on = on
			}
			i++
			continue
		}
		if strings.ContainsRune(t[1:], 'e') {
			e.on = on
		}
	}
}

// shebangErrexit reports whether the script's #! line passes -e to its
// shell ("#!/bin/sh -e", "#!/bin/bash -ex").
func shebangErrexit(b []byte) bool {
	if !bytes.HasPrefix(b, []byte("#!")) {
		return false
	}
	line := b
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		line = b[:i]
	}
	f := strings.Fields(string(line[2:]))
	for _, w := range f[min(1, len(f)):] {
		if len(w) > 1 && w[0] == '-' && w[1] != '-' && strings.ContainsRune(w, 'e') {
			return true
		}
	}
	return false
}
