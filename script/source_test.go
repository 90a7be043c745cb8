package script

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// memFiles is a ReadFile over files held in memory.
func memFiles(files map[string]string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		if t, ok := files[filepath.Clean(p)]; ok {
			return []byte(t), nil
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
}

func TestSource(t *testing.T) {
	files := map[string]string{
		"/fw/conf.sh":   "WAN=eth0\nPORTS=\"22 80\"\nallow() { iptables -A INPUT -i $WAN -p tcp --dport $1 -j ACCEPT; }\n",
		"/fw/rules.sh":  "for p in $PORTS; do allow $p; done\nreturn\niptables -A NEVER\n",
		"/fw/args.sh":   "iptables -A ARGS $# \"$@\"\n",
		"/fw/loop.sh":   "iptables -A LOOP\n. /fw/loop.sh\n",
		"/etc/fw.d/x":   "iptables -A ABS\n",
		"/fw/bad.sh":    "iptables -A BEFORE\necho \"unterminated\n",
		"/fw/sub/in.sh": "iptables -A SUB\n",
	}
	src := "#!/bin/sh\n. ./conf.sh\nsource rules.sh\n. args.sh a 'b c'\niptables -A AFTER $#\n. /fw/loop.sh\n. /etc/fw.d/x\n. ./missing.sh\n. bad.sh || iptables -A BADFAILED\n. sub/in.sh\n. \"$CONF\"\n. ./fw.sh\n"
	files["/fw/fw.sh"] = src
	invs, diags := ReadWith("/fw/fw.sh", []byte(src), Options{ReadFile: memFiles(files), Dir: "/fw"})
	want := []string{
		"iptables|-A|INPUT|-i|eth0|-p|tcp|--dport|22|-j|ACCEPT",
		"iptables|-A|INPUT|-i|eth0|-p|tcp|--dport|80|-j|ACCEPT",
		"iptables|-A|ARGS|2|a|b c",
		"iptables|-A|AFTER|$#",
		"iptables|-A|LOOP",
		"iptables|-A|ABS",
		"iptables|-A|BEFORE",
		"iptables|-A|BADFAILED",
		"iptables|-A|SUB",
	}
	if got := lines(invs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("invocations:\n got %q\nwant %q", got, want)
	}
	// The rule from the function defined in conf.sh is at its place there,
	// the port at rules.sh's $p.
	if len(invs) > 0 {
		inv := invs[0]
		if inv.Cmd.File != "/fw/conf.sh" || inv.Cmd.Line != 3 || inv.Cmd.Col != 11 {
			t.Errorf("command word at %+v", inv.Cmd.Pos)
		}
		if w := at(t, invs, 0, "22"); w.File != "/fw/conf.sh" || w.Line != 3 || w.Origin.File != "/fw/conf.sh" || w.Origin.Line != 2 {
			t.Errorf("port at %+v from %+v", w.Pos, w.Origin)
		}
		if !strings.Contains(inv.Note, "in /fw/rules.sh, sourced at line 3") {
			t.Errorf("note %q", inv.Note)
		}
	}
	wantDiags := []string{
		"cannot know $# without running the script",
		"reads a file that is already being read (/fw/loop.sh sources itself",
		"reads a file that is already being read (/fw/fw.sh sources itself",
		"cannot follow `. ./missing.sh': there is no file /fw/missing.sh (next to the script) nor ./missing.sh (in the working directory)",
		"unterminated quote",
		"cannot follow `. $CONF'",
	}
	for _, w := range wantDiags {
		found := false
		for _, d := range diags {
			found = found || strings.Contains(d.Msg, w)
		}
		if !found {
			t.Errorf("no diagnostic contains %q; got %+v", w, diags)
		}
	}
	for _, d := range diags {
		if strings.Contains(d.Msg, "unterminated quote") && (d.File != "/fw/bad.sh" || d.Line != 2) {
			t.Errorf("syntax error of bad.sh at %+v", d.Pos)
		}
	}
	all := map[string]string{"": src}
	for k, v := range files {
		all[k] = v
	}
	checkPositionsIn(t, all, invs, diags)

	// Without a ReadFile nothing is read, as before.
	invs, diags = Read("/fw/fw.sh", []byte(". ./conf.sh\niptables -A X\n"))
	if len(invs) != 1 || len(diags) != 1 || !strings.Contains(diags[0].Msg, "it reads commands from another file") {
		t.Errorf("Read: %q %+v", lines(invs), diags)
	}
}
