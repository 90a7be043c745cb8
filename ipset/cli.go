package ipset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Version is the ipset version ipsift's command line speaks.
const Version = "v7.17"

// Cmd runs ipset command lines against a registry, as the ipset tool
// does against the kernel.
type Cmd struct {
	R      *Registry
	Now    func() int64 // the clock for timeouts
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// options are ipset's global options, valid anywhere on the line.
type options struct {
	exist, quiet, terse, names bool
	output                     int
	file                       string
}

var cmdNames = map[string]string{
	"create": "create", "n": "create", "-N": "create", "--create": "create",
	"add": "add", "-A": "add", "--add": "add",
	"del": "del", "-D": "del", "--del": "del",
	"test": "test", "-T": "test", "--test": "test",
	"destroy": "destroy", "x": "destroy", "-X": "destroy", "--destroy": "destroy",
	"list": "list", "-L": "list", "--list": "list",
	"save": "save", "-S": "save", "--save": "save",
	"restore": "restore", "-R": "restore", "--restore": "restore",
	"flush": "flush", "-F": "flush", "--flush": "flush",
	"rename": "rename", "e": "rename", "-E": "rename", "--rename": "rename",
	"swap": "swap", "w": "swap", "-W": "swap", "--swap": "swap",
	"new": "create", "quit": "quit",
	"help": "help", "-h": "help", "-H": "help", "--help": "help",
	"version": "version", "-v": "version", "-V": "version", "--version": "version",
}

// cmdOrder is the order in which ipset matches an abbreviated command:
// the first command the word is a prefix of.
var cmdOrder = []string{"create", "add", "del", "test", "destroy", "list", "save", "restore", "flush", "rename", "swap", "help", "version", "quit"}

func lookupCmd(w string) (string, bool) {
	if c, ok := cmdNames[w]; ok {
		return c, true
	}
	if w == "" || w[0] == '-' {
		return "", false
	}
	for _, c := range cmdOrder {
		if strings.HasPrefix(c, w) {
			return c, true
		}
	}
	return "", false
}

// splitOptions takes the global options out of a command line.
func splitOptions(args []string) (rest []string, o options, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "-exist", "--exist", "-!":
			o.exist = true
		case "-quiet", "--quiet", "-q":
			o.quiet = true
		case "-terse", "--terse", "-t":
			o.terse = true
		case "-name", "--name", "-n":
			o.names = true
		case "-resolve", "--resolve", "-r", "-sorted", "--sorted", "-s":
			// ipsift never resolves, and lists sorted anyway
		case "-output", "--output", "-o", "-file", "--file", "-f":
			if i+1 >= len(args) {
				return nil, o, &Error{Msg: "Missing mandatory argument of option `" + a + "'", Usage: true}
			}
			i++
			if strings.TrimLeft(a, "-")[0] == 'f' {
				o.file = args[i]
				continue
			}
			switch args[i] {
			case "plain":
				o.output = OutPlain
			case "save":
				o.output = OutSave
			case "xml":
				o.output = OutXML
			default:
				return nil, o, &Error{Msg: "Syntax error: unknown output mode '" + args[i] + "'", Usage: true}
			}
		default:
			rest = append(rest, a)
		}
	}
	return rest, o, nil
}

// Run runs one ipset command line (the words after "ipset") and returns
// ipset's exit status, writing what ipset writes.
func (c *Cmd) Run(args []string) int {
	rest, o, err := splitOptions(args)
	if err == nil {
		if len(rest) == 0 {
			err = &Error{Msg: "No command specified.", Usage: true}
		} else {
			err = c.exec(rest, o, 0)
		}
	}
	return c.report(err, o, 0)
}

// report prints an error as ipset does and gives the exit status.
func (c *Cmd) report(err error, o options, line int) int {
	if err == nil {
		return 0
	}
	var re *restoreErr
	if errors.As(err, &re) {
		line, err = re.line, re.err
	}
	var t *testResult
	if errors.As(err, &t) {
		if !o.quiet {
			fmt.Fprintln(c.Stderr, t.Error())
		}
		return 1
	}
	prefix := "ipset " + Version + ": "
	if line > 0 {
		prefix += fmt.Sprintf("Error in line %d: ", line)
	}
	var e *Error
	if errors.As(err, &e) && e.Usage {
		fmt.Fprintln(c.Stderr, prefix+e.Msg)
		fmt.Fprintln(c.Stderr, "Try `ipset help' for more information.")
		return 2
	}
	if !o.quiet || line > 0 {
		fmt.Fprintln(c.Stderr, prefix+err.Error())
	}
	return 1
}

// testResult is a test's negative answer, which ipset prints without its
// prefix.
type testResult struct{ msg string }

func (t *testResult) Error() string { return t.msg }

func usage(format string, a ...any) error {
	return &Error{Msg: fmt.Sprintf(format, a...), Usage: true}
}

// exec runs one command (global options already taken out).
func (c *Cmd) exec(args []string, o options, line int) error {
	cmd, ok := lookupCmd(args[0])
	if !ok {
		return usage("No command specified: unknown argument %s", args[0])
	}
	args = args[1:]
	now := c.Now()
	mandatory := func(n int) error {
		if len(args) < n {
			which := []string{"", "Missing mandatory argument to command %s", "Missing second mandatory argument to command %s"}
			return usage(which[min(len(args)+1, 2)], cmd)
		}
		return nil
	}
	maxArgs := func(n int) error {
		if len(args) > n {
			return usage("Unknown argument %s", args[n])
		}
		return nil
	}
	switch cmd {
	case "create":
		if err := mandatory(2); err != nil {
			return err
		}
		return c.R.Create(args[0], args[1], args[2:], o.exist)
	case "add", "del", "test":
		if err := mandatory(2); err != nil {
			return err
		}
		switch cmd {
		case "add":
			return c.R.Add(args[0], args[1], args[2:], o.exist, now)
		case "del":
			return c.R.Del(args[0], args[1], args[2:], o.exist, now)
		}
		in, err := c.R.Test(args[0], args[1], args[2:], now)
		if err != nil {
			return err
		}
		elem := args[1]
		if in {
			if !o.quiet {
				fmt.Fprintf(c.Stderr, "Warning: %s is in set %s.\n", elem, args[0])
			}
			return nil
		}
		return &testResult{fmt.Sprintf("%s is NOT in set %s.", elem, args[0])}
	case "destroy", "flush":
		if err := maxArgs(1); err != nil {
			return err
		}
		name := ""
		if len(args) == 1 {
			name = args[0]
		}
		if cmd == "destroy" {
			return c.R.Destroy(name)
		}
		return c.R.Flush(name)
	case "rename", "swap":
		if err := mandatory(2); err != nil {
			return err
		}
		if err := maxArgs(2); err != nil {
			return err
		}
		if cmd == "rename" {
			return c.R.Rename(args[0], args[1])
		}
		return c.R.Swap(args[0], args[1])
	case "list", "save":
		if err := maxArgs(1); err != nil {
			return err
		}
		name := ""
		if len(args) == 1 {
			name = args[0]
		}
		lo := ListOpts{Format: o.output, Terse: o.terse, Names: o.names}
		if cmd == "save" {
			lo = ListOpts{Format: OutSave, Terse: o.terse}
		}
		w := c.Stdout
		if o.file != "" && line == 0 {
			f, err := os.Create(o.file)
			if err != nil {
				return errf(err.Error())
			}
			defer f.Close()
			bw := bufio.NewWriter(f)
			defer bw.Flush()
			w = bw
		}
		return c.R.List(w, name, lo, now)
	case "restore":
		if line > 0 {
			return errf("Restore command is not allowed in restore mode")
		}
		if err := maxArgs(0); err != nil {
			return err
		}
		in := c.Stdin
		if o.file != "" {
			f, err := os.Open(o.file)
			if err != nil {
				return errf(err.Error())
			}
			defer f.Close()
			in = f
		}
		return c.Restore(in, o.exist)
	case "version":
		fmt.Fprintf(c.Stdout, "ipset %s, protocol version: 7\n", Version)
		return nil
	case "quit":
		return nil
	case "help":
		fmt.Fprintf(c.Stdout, "ipset %s\n\nUsage: ipset [options] COMMAND\n\nCommands: create add del test destroy list save restore flush rename swap help version\n", Version)
		return nil
	}
	return usage("No command specified: unknown argument %s", cmd)
}

// restoreErr carries the line of a restore error.
type restoreErr struct {
	line int
	err  error
}

func (e *restoreErr) Error() string { return e.err.Error() }
func (e *restoreErr) Unwrap() error { return e.err }

// ErrorLine is the line of the input a Restore error is about (0 when
// the error is not a restore's).
func ErrorLine(err error) int {
	var re *restoreErr
	if errors.As(err, &re) {
		return re.line
	}
	return 0
}

// Restore reads ipset restore input. ipset sends consecutive add/del
// lines of one command and set as one batch: a line that does not parse
// discards the batch not yet sent (its earlier lines are lost); an error
// the kernel gives stops at that line, what came before applied. ipsift
// checks a batch line by line as it is read and applies it when the
// batch ends, which gives the same outcomes.
func (c *Cmd) Restore(in io.Reader, exist bool) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	// Lines end at a newline only: ipset reads with fgets, so a carriage
	// return before it is part of the line (bufio.ScanLines drops it).
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	type pending struct {
		line int
		args []string
		o    options
	}
	var batch []pending
	var batchKey string
	flush := func() error {
		b := batch
		batch, batchKey = nil, ""
		for _, p := range b {
			if err := c.exec(p.args, p.o, p.line); err != nil {
				return &restoreErr{p.line, err}
			}
		}
		return nil
	}
	n := 0
	for sc.Scan() {
		n++
		// ipset skips leading isspace() and splits words at blanks, tabs
		// and newlines only: a trailing form feed belongs to the last word.
		text := strings.TrimRight(strings.TrimLeft(sc.Text(), " \t\n\v\f\r"), " \t\n")
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if text == "COMMIT" || text == "quit" {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		words, err := splitWords(text)
		if err != nil {
			return &restoreErr{n, err}
		}
		args, o, err := splitOptions(words)
		if err != nil {
			return &restoreErr{n, err}
		}
		o.exist = o.exist || exist
		if len(args) == 0 {
			continue
		}
		cmd, _ := lookupCmd(args[0])
		// ipset parses a line before it sends the batch before it: a
		// line that does not parse discards the unsent batch
		if err := c.precheck(cmd, args); err != nil {
			return &restoreErr{n, err}
		}
		if (cmd == "add" || cmd == "del") && len(args) >= 3 {
			key := cmd + " " + args[1]
			if batchKey != key {
				if err := flush(); err != nil {
					return err
				}
				batchKey = key
			}
			batch = append(batch, pending{n, args, o})
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if err := c.exec(args, o, n); err != nil {
			return &restoreErr{n, err}
		}
	}
	return flush()
}

// precheck parses a restore line as ipset's userspace does before it
// sends anything: the command and its arguments, a create's options, an
// add/del's set (ipset asks the kernel for its type), element and options.
func (c *Cmd) precheck(cmd string, args []string) error {
	if cmd == "" {
		return usage("No command specified: unknown argument %s", args[0])
	}
	switch cmd {
	case "create":
		if len(args) < 3 {
			return usage("Missing second mandatory argument to command create")
		}
		t := lookupType(args[2])
		if t == nil {
			return errSyntax("unknown settype %s", args[2])
		}
		_, err := parseCreate(t, args[3:])
		return err
	case "add", "del":
		if len(args) < 3 {
			return usage("Missing second mandatory argument to command %s", cmd)
		}
		return c.checkElem(cmd, args[1:])
	}
	return nil
}

// checkElem parses an add/del element and its options.
func (c *Cmd) checkElem(cmd string, args []string) error {
	s := c.R.Get(args[0])
	if s == nil {
		// ipset resolves the set's type from the kernel at parse time
		return errNoSet
	}
	k := cmdAdd
	if cmd == "del" {
		k = cmdDel
	}
	x, err := s.d.parseElemOpts(args[2:], k)
	if err != nil {
		return err
	}
	if s.d.typ.store == listStore {
		return nil
	}
	_, err = s.d.parseElem(args[1], k, x)
	return err
}

// splitWords splits a restore line into words as ipset does: double
// quotes (also written \") group words with spaces, as in comments.
func splitWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == '\\' && i+1 < len(s) && s[i+1] == '"' {
			i++
			ch = '"'
		}
		switch {
		case ch == '"':
			quoted = !quoted
			inWord = true
		case !quoted && (ch == ' ' || ch == '\t'):
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if quoted {
		return nil, errSyntax("missing closing quote")
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
