package script

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBashAgrees runs scripts with bash, iptables and ip6tables replaced
// by stubs that print their arguments, and checks that the reader finds
// the same invocations: bash is the reference for the shell. The scripts
// call the tools by their bare names only (the stubs come first in PATH),
// never by a path, so nothing here touches the host's firewall.
func TestBashAgrees(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to compare with")
	}
	stubs := t.TempDir()
	for _, tool := range []string{"iptables", "ip6tables"} {
		stub := "#!/bin/sh\nprintf '%s' " + tool + "\nfor a; do printf '|%s' \"$a\"; done\necho\n"
		if err := os.WriteFile(filepath.Join(stubs, tool), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		script string
		files  map[string]string // sourced files, relative to the script's directory
	}{
		{name: "set", script: "set 80 10.0.0.1 8080\niptables -A I --dport $1 -d $2 $#\nL=a,b,c\nIFS=,; set $L\niptables -A X \"$#\" \"$*\" \"$@\"\nIFS=' '\nset -e\niptables -A E $#\nset -e -x a b\nset +x\niptables -A EX $# $@\nset -o pipefail c d\niptables -A O $# \"$@\"\nset -eo pipefail e\niptables -A EO $# $@\nE=\nset $E\niptables -A EMPTY $# $@\nset - f g\niptables -A DASH $@\nset --\niptables -A DD $#\nset -- -x y\nshift\niptables -A SH $# $@\nf() { set -- in f; iptables -A F $# \"$@\"; }\nf a b c\niptables -A AFTERF \"$@\"\n"},
		{name: "source", script: ". \"$(dirname \"$0\")/conf.sh\"\niptables -A B $(basename \"$0\" .sh) `dirname a/b/`\nsource rules.sh\n. args.sh a 'b c'\nset -- x\n. args.sh\niptables -A AFTER $# \"$@\"\nSUBN=\n. sub/in.sh\n. sub/in.sh\n",
			files: map[string]string{
				"conf.sh":   "WAN=eth0\nPORTS=\"22 80\"\nallow() { iptables -A INPUT -i $WAN -p tcp --dport $1 -j ACCEPT; }\n",
				"rules.sh":  "for p in $PORTS; do allow $p; done\nreturn\niptables -A NEVER\n",
				"args.sh":   "iptables -A ARGS $# \"$@\"\nshift\n",
				"sub/in.sh": "iptables -A SUB \"$SUBN\"\nSUBN=$((SUBN+1))\n",
			}},
		{name: "glob", script: "for f in $(dirname \"$0\")/parts/??_*.sh; do [ -r \"$f\" ] || continue; . \"$f\"; done\nfor g in nomatch/*.x; do iptables -A LIT \"$g\"; done\n",
			files: map[string]string{
				"parts/10_base.sh": "iptables -P INPUT DROP\n",
				"parts/20_ssh.sh":  "iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n",
				"parts/.05_hid.sh": "iptables -A HIDDEN\n",
				"parts/3_short.sh": "iptables -A SHORT\n",
				"parts/15_web.sh":  "iptables -A INPUT -p tcp --dport 80 -j ACCEPT\n",
			}},
		{name: "conditions", script: "h() { :; }\n" +
			"if declare -f nosuch >/dev/null; then iptables -A DECLARED; else iptables -A NOTDECLARED; fi\n" +
			"if declare -F h >/dev/null; then iptables -A HDECL; fi\n" +
			"declare -f h nosuch >/dev/null || iptables -A ONEMISSING\n" +
			"if type h >/dev/null 2>&1; then iptables -A TYPEH; fi\n" +
			"if command -v h >/dev/null; then iptables -A CMDVH; fi\n" +
			"unset -f h\ndeclare -f h >/dev/null || iptables -A UNSETF\n" +
			"if [ \"x$SCRIPT_UNSET_VAR\" == \"xyes\" ]; then iptables -A THEN; else iptables -A ELSE; fi\n" +
			"[ -z \"$SCRIPT_UNSET_VAR\" ] && iptables -A EMPTY\n" +
			"case \"$SCRIPT_UNSET_VAR\" in '') iptables -A CASEEMPTY;; *) iptables -A CASEOTHER;; esac\n" +
			"[[ -n $SCRIPT_UNSET_VAR ]] || iptables -A DBL\n" +
			"[ -r \"$SCRIPT_UNSET_VAR\" ] && . \"$SCRIPT_UNSET_VAR\"\n[ -f \"\" ] || iptables -A NOFILE\n"},
		{name: "dispatch", script: "run() { \"$@\"; }\nrun iptables -A RUN\ng() { func=$1; shift; \"$func\" \"$@\"; }\nh() { iptables -A H \"$@\"; }\ng h -j ACCEPT\nfor f in h g; do $f x; done\nset -- h y\n$1 z\n\"$@\"\nT=ip6tables\n$T -A SIX\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range tc.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			script := filepath.Join(dir, "fw.sh")
			if err := os.WriteFile(script, []byte(tc.script), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bash, "fw.sh")
			cmd.Dir = dir
			cmd.Env = []string{"PATH=" + stubs + ":/usr/bin:/bin", "LC_ALL=C"}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("bash: %v\n%s", err, out)
			}
			var want []string // the stubs' lines (a bare set prints the variables)
			for _, l := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(l, "iptables|") || strings.HasPrefix(l, "ip6tables|") {
					want = append(want, l)
				}
			}
			invs, diags := ReadWith(script, []byte(tc.script), Options{ReadFile: os.ReadFile, Dir: dir, Glob: filepath.Glob})
			got := lines(invs)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("bash ran:\n  %s\nthe reader found:\n  %s\ndiagnostics: %+v", strings.Join(want, "\n  "), strings.Join(got, "\n  "), diags)
			}
			for _, d := range diags {
				t.Logf("%+v", d)
			}
		})
	}
}

// TestDirnameBasename compares dirname and basename with coreutils'.
func TestDirnameBasename(t *testing.T) {
	if _, err := exec.LookPath("dirname"); err != nil {
		t.Skip("no dirname to compare with")
	}
	for _, p := range []string{"", "/", "//", "a", "a/", "/a", "/a/", "a/b", "a/b/", "a//b//", "/a/b/c.sh", "./fw.sh", "../x/", "a/./b", "///a"} {
		out, err := exec.Command("dirname", "--", p).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := dirname(p), strings.TrimSuffix(string(out), "\n"); got != want {
			t.Errorf("dirname %q = %q, coreutils says %q", p, got, want)
		}
		for _, suf := range []string{"", ".sh", "c.sh"} {
			args := []string{"--", p}
			if suf != "" {
				args = append(args, suf)
			}
			out, err := exec.Command("basename", args...).Output()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := basename(p, suf), strings.TrimSuffix(string(out), "\n"); got != want {
				t.Errorf("basename %q %q = %q, coreutils says %q", p, suf, got, want)
			}
		}
	}
}
