package script

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// line renders an invocation as "tool|arg|arg|...", for compact tables.
func line(inv Invocation) string {
	parts := []string{inv.Tool}
	for _, a := range inv.Args {
		parts = append(parts, a.Text)
	}
	return strings.Join(parts, "|")
}

func lines(invs []Invocation) []string {
	var out []string
	for _, inv := range invs {
		out = append(out, line(inv))
	}
	return out
}

// TestConstructs checks, for each shell construct a firewall script uses,
// which invocations come out and which diagnostics are given.
func TestConstructs(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		want  []string // invocations, as line() renders them
		diags []string // substrings each of which some Diag must contain
		clean bool     // no Diag at all
	}{
		{
			name:  "plain",
			src:   "iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n",
			want:  []string{"iptables|-A|INPUT|-p|tcp|--dport|22|-j|ACCEPT"},
			clean: true,
		},
		{
			name:  "shebang, comments, set -e, other commands ignored",
			src:   "#!/bin/sh\n# firewall\nset -e\nmodprobe ip_conntrack\necho 1 > /proc/sys/net/ipv4/ip_forward\nsysctl -w net.ipv4.ip_forward=1\nip route add default via 10.0.0.1\niptables -P INPUT DROP # policy\n",
			want:  []string{"iptables|-P|INPUT|DROP"},
			clean: true,
		},
		{
			name:  "command lists",
			src:   "iptables -F; iptables -X\niptables -Z && ip6tables -F || true\niptables -S | grep -q X\n",
			want:  []string{"iptables|-F", "iptables|-X", "iptables|-Z", "ip6tables|-F", "iptables|-S"},
			clean: true,
		},
		{
			name:  "tool names and paths",
			src:   "/sbin/iptables -L\n/usr/sbin/ip6tables -L\niptables-legacy -L\niptables-nft -L\nip6tables-nft -L\niptables-save\n/usr/sbin/iptables-legacy-save\nnotiptables -L\niptablesx -L\n",
			want:  []string{"iptables|-L", "ip6tables|-L", "iptables-legacy|-L", "iptables-nft|-L", "ip6tables-nft|-L", "iptables-save", "iptables-legacy-save"},
			clean: true,
		},
		{
			name:  "variables",
			src:   "IPT=/sbin/iptables\nWAN=eth0\n$IPT -A INPUT -i $WAN -j ACCEPT\n${IPT} -A INPUT -i ${WAN}+ -j DROP\n",
			want:  []string{"iptables|-A|INPUT|-i|eth0|-j|ACCEPT", "iptables|-A|INPUT|-i|eth0+|-j|DROP"},
			clean: true,
		},
		{
			name:  "export, readonly, local",
			src:   "export IPT=iptables\nreadonly WAN=eth0\nf() { local p=$1 q; $IPT -A INPUT -i $WAN --dport $p; }\nf 22\n",
			want:  []string{"iptables|-A|INPUT|-i|eth0|--dport|22"},
			clean: true,
		},
		{
			name:  "defaults",
			src:   "LAN=${LAN:-eth1}\niptables -A INPUT -i $LAN -o ${WAN:-eth0} -s ${NET-10.0.0.0/8} -j ${T:=ACCEPT}\niptables -A X -j $T\n",
			want:  []string{"iptables|-A|INPUT|-i|eth1|-o|eth0|-s|10.0.0.0/8|-j|ACCEPT", "iptables|-A|X|-j|ACCEPT"},
			clean: true,
		},
		{
			name:  "field splitting of unquoted expansions, none of quoted",
			src:   "OPTS=\"-p tcp  --syn\"\niptables -A INPUT $OPTS -j DROP\niptables -A INPUT -m comment --comment \"$OPTS\"\n",
			want:  []string{"iptables|-A|INPUT|-p|tcp|--syn|-j|DROP", "iptables|-A|INPUT|-m|comment|--comment|-p tcp  --syn"},
			clean: true,
		},
		{
			name:  "empty expansions vanish unless quoted",
			src:   "E=\niptables -A INPUT $E -j DROP\niptables -A INPUT \"$E\" ''\n",
			want:  []string{"iptables|-A|INPUT|-j|DROP", "iptables|-A|INPUT||"},
			clean: true,
		},
		{
			name:  "IFS",
			src:   "IFS=,\nL=a,b\niptables -A $L\n",
			want:  []string{"iptables|-A|a|b"},
			clean: true,
		},
		{
			name:  "for loop",
			src:   "for p in 22 80 443; do iptables -A INPUT -p tcp --dport $p -j ACCEPT; done\n",
			want:  []string{"iptables|-A|INPUT|-p|tcp|--dport|22|-j|ACCEPT", "iptables|-A|INPUT|-p|tcp|--dport|80|-j|ACCEPT", "iptables|-A|INPUT|-p|tcp|--dport|443|-j|ACCEPT"},
			clean: true,
		},
		{
			name:  "for loop over a variable, nested, break and continue",
			src:   "PORTS=\"22 80\"\nfor i in eth0 eth1; do\n  for p in $PORTS; do\n    [ $p = 80 ] && continue\n    iptables -A INPUT -i $i --dport $p\n  done\n  [ $i = eth0 ] && break\ndone\n",
			want:  []string{"iptables|-A|INPUT|-i|eth0|--dport|22"},
			clean: true,
		},
		{
			name:  "for over positional parameters",
			src:   "f() { for x; do iptables -A $x; done; }\nf A B\n",
			want:  []string{"iptables|-A|A", "iptables|-A|B"},
			clean: true,
		},
		{
			name: "functions with $1 and \"$@\"",
			src:  "allow() { iptables -A INPUT -p tcp --dport \"$1\" -j ACCEPT; }\nipt() {\n  iptables \"$@\"\n  ip6tables \"$@\"\n}\nallow 22\nipt -A INPUT -m comment --comment \"a b\" -j DROP\nfunction deny { iptables -A INPUT -s $1 -j DROP; return; iptables -A NEVER; }\ndeny 10.0.0.1\n",
			want: []string{
				"iptables|-A|INPUT|-p|tcp|--dport|22|-j|ACCEPT",
				"iptables|-A|INPUT|-m|comment|--comment|a b|-j|DROP",
				"ip6tables|-A|INPUT|-m|comment|--comment|a b|-j|DROP",
				"iptables|-A|INPUT|-s|10.0.0.1|-j|DROP",
			},
			clean: true,
		},
		{
			name:  "$# and shift",
			src:   "f() { while [ $# -gt 0 ]; do iptables -A $1; shift; done; }\nf X Y\n",
			want:  []string{"iptables|-A|X", "iptables|-A|Y"},
			clean: true,
		},
		{
			// Checked with bash 5.2 (TestBashAgrees runs it).
			name: "set without -- sets the positional parameters",
			src:  "set 80 10.0.0.1 8080\niptables -A I --dport $1 -d $2 $#\nL=a,b,c\nIFS=,; set $L\niptables -A X \"$#\" \"$*\" \"$@\"\nIFS=' '\nset -e\niptables -A E $#\nset -e -x a b\niptables -A EX $# $@\nset -eo pipefail e\niptables -A EO $# $@\nE=\nset $E\niptables -A EMPTY $# $@\nset - f g\niptables -A DASH $@\nset --\niptables -A DD $#\nset -- -x y\nshift\niptables -A SH $# $@\n",
			want: []string{"iptables|-A|I|--dport|80|-d|10.0.0.1|3", "iptables|-A|X|3|a,b,c|a|b|c", "iptables|-A|E|3", "iptables|-A|EX|2|a|b",
				"iptables|-A|EO|1|e", "iptables|-A|EMPTY|1|e", "iptables|-A|DASH|f|g", "iptables|-A|DD|0", "iptables|-A|SH|1|y"},
			clean: true,
		},
		{
			name:  "set with a value that cannot be known",
			src:   "set -- \"$(hostname)\" b\niptables -A X $# $2 $1\nset $(cat /etc/ports)\niptables -A Y $#\n",
			want:  []string{"iptables|-A|X|2|b|$1", "iptables|-A|Y|$#"},
			diags: []string{"cannot know $# without running the script: they are set at line 3 from `$(cat /etc/ports)`", "cannot know $1 without running the script: it is set by set at line 1 from `$(hostname)`"},
		},
		{
			name:  "dispatch on the script's argument follows start, as the case does",
			src:   "start() { iptables -A INPUT -j ACCEPT; }\nstop() { iptables -F; }\n\"$@\"\n",
			want:  []string{"iptables|-A|INPUT|-j|ACCEPT"},
			diags: []string{"cannot know the command $@: it is the script's argument; following function start, as for `fw.sh start`"},
		},
		{
			name:  "main \"$@\" passes the script's arguments on, their number unknown",
			src:   "start() { iptables -A INPUT -j ACCEPT; }\nmain() {\n  [ $# -eq 0 ] && { echo usage; exit 1; }\n  \"$@\"\n}\nmain \"$@\"\n",
			want:  []string{"iptables|-A|INPUT|-j|ACCEPT"},
			diags: []string{"this exit is reached only on a branch taken without knowing its condition", "following function start"},
		},
		{
			name:  "dispatch without a start function says what is not read",
			src:   "up() { iptables -A INPUT -j ACCEPT; }\ndown() { iptables -F; }\n$1\n",
			diags: []string{"cannot know the command $1: it is the script's argument; what it would run (the script's functions: down, up) is not followed"},
		},
		{
			name:  "known dispatch through a variable and \"$@\"",
			src:   "run() { \"$@\"; }\nh() { iptables -A H \"$@\"; }\ng() { func=$1; shift; \"$func\" \"$@\"; }\nrun iptables -A R\ng h -j ACCEPT\n",
			want:  []string{"iptables|-A|R", "iptables|-A|H|-j|ACCEPT"},
			clean: true,
		},
		{
			name:  "conditions bash decides: functions, and variables never set",
			src:   "h() { :; }\nif declare -f nosuch >/dev/null; then iptables -A WRONG; fi\ndeclare -F h && iptables -A H\ntype h && iptables -A TYPE\nif [ \"x$UNSET\" == \"xyes\" ]; then iptables -A WRONG2; else iptables -A ELSE; fi\nN=$((UNSET + 1)); iptables -A N$N\n",
			want:  []string{"iptables|-A|H", "iptables|-A|TYPE", "iptables|-A|ELSE", "iptables|-A|N1"},
			diags: []string{"$UNSET is never set in the script, so its value would come from the environment: in a condition it is taken as empty (as bash has it when the environment does not set UNSET), elsewhere as unknown, kept as written; said once, here"},
		},
		{
			name:  "a guard on a variable from the environment does not end the reading",
			src:   "if [ -z \"$WAN\" ]; then echo 'set WAN'; exit 1; fi\n[ -n \"$LAN\" ] || exit 2\niptables -A INPUT -i $WAN -j ACCEPT\n",
			want:  []string{"iptables|-A|INPUT|-i|$WAN|-j|ACCEPT"},
			diags: []string{"this exit is reached only on a branch taken with $WAN empty, which the script never sets; reading on after that branch", "this exit is reached only on a branch taken with $LAN empty"},
		},
		{
			name:  "a program on the host cannot be known",
			src:   "if command -v nft >/dev/null; then iptables -A SET; fi\n",
			want:  []string{"iptables|-A|SET"},
			diags: []string{"cannot decide `command -v nft >/dev/null' without running the script; following its then-branch"},
		},
		{
			name:  "line continuations",
			src:   "iptables -A INPUT \\\n  -p tcp \\\n  --dport 22 \\\n  -j ACCEPT\nipt\\\nables -L\n",
			want:  []string{"iptables|-A|INPUT|-p|tcp|--dport|22|-j|ACCEPT", "iptables|-L"},
			clean: true,
		},
		{
			name:  "quoting and escapes",
			src:   "iptables -A INPUT -m comment --comment 'it'\\''s \"ok\"' -j ACCEPT\niptables -A INPUT --log-prefix \"x: \\$y \\\"z\\\" \\a\" -j LOG\niptables -A a\\ b $'t\\tu'\n",
			want:  []string{"iptables|-A|INPUT|-m|comment|--comment|it's \"ok\"|-j|ACCEPT", "iptables|-A|INPUT|--log-prefix|x: $y \"z\" \\a|-j|LOG", "iptables|-A|a b|t\tu"},
			clean: true,
		},
		{
			// The words are not the text at their places: they must be
			// marked quoted (checkPositions checks it).
			name:  "empty quotes and empty expansions inside a word",
			src:   "E=\nip''tables -A IN''PUT -j AC${E}CEPT\nipt\"\"a$''bles -A X \\\n  -j D''R\\\nOP\n",
			want:  []string{"iptables|-A|INPUT|-j|ACCEPT", "iptables|-A|X|-j|DROP"},
			clean: true,
		},
		{
			name:  "typographic dashes pass through",
			src:   "iptables -A INPUT -p tcp \u2013syn \u2014dport 22 \u2212j DROP\n",
			want:  []string{"iptables|-A|INPUT|-p|tcp|\u2013syn|\u2014dport|22|\u2212j|DROP"},
			clean: true,
		},
		{
			name:  "if decided",
			src:   "MODE=strict\nif [ \"$MODE\" = strict ]; then iptables -P INPUT DROP; elif [ -n \"$MODE\" ]; then iptables -P INPUT REJECT; else iptables -P INPUT ACCEPT; fi\nif [ -z \"$MODE\" ]; then iptables -A NO; else iptables -A YES; fi\nif [ 3 -lt 10 -a x != y ]; then iptables -A NUM; fi\n",
			want:  []string{"iptables|-P|INPUT|DROP", "iptables|-A|YES", "iptables|-A|NUM"},
			clean: true,
		},
		{
			name:  "if undecidable takes the then-branch and warns",
			src:   "if [ -x /sbin/iptables ]; then\n  IPT=/sbin/iptables\nelse\n  IPT=/usr/sbin/iptables\nfi\n$IPT -A INPUT -j ACCEPT\n",
			want:  []string{"iptables|-A|INPUT|-j|ACCEPT"},
			diags: []string{"cannot decide `[ -x /sbin/iptables ]'"},
		},
		{
			name:  "exit under an undecidable test does not end the reading",
			src:   "[ -x /sbin/iptables ] || { echo missing; exit 1; }\nif ! command -v iptables >/dev/null; then exit 1; fi\niptables -A INPUT\nexit 0\niptables -A NEVER\n",
			want:  []string{"iptables|-A|INPUT"},
			diags: []string{"this exit is reached only on a branch taken without knowing its condition"},
		},
		{
			name:  "case decided",
			src:   "X=restart\ncase $X in\n  start) iptables -A START ;;\n  stop|restart) iptables -F ;;\n  *) iptables -A OTHER ;;\nesac\ncase eth0 in (eth*) iptables -A ETH;; esac\n",
			want:  []string{"iptables|-F", "iptables|-A|ETH"},
			clean: true,
		},
		{
			name:  "case on the script's argument follows start",
			src:   "case \"$1\" in\n  stop) iptables -F ;;\n  start) iptables -A INPUT -j ACCEPT ;;\nesac\n",
			want:  []string{"iptables|-A|INPUT|-j|ACCEPT"},
			diags: []string{"following the case arm start)"},
		},
		{
			name:  "while loop with arithmetic",
			src:   "i=0\nwhile [ $i -lt 3 ]; do iptables -A X -m comment --comment \"n$i\"; i=$((i + 1)); done\nfor ((k = 10; k < 12; k++)); do iptables -A K$k; done\nuntil [ $i -eq 0 ]; do i=$((i-1)); done; iptables -A I$i\n",
			want:  []string{"iptables|-A|X|-m|comment|--comment|n0", "iptables|-A|X|-m|comment|--comment|n1", "iptables|-A|X|-m|comment|--comment|n2", "iptables|-A|K10", "iptables|-A|K11", "iptables|-A|I0"},
			clean: true,
		},
		{
			name:  "while read: one pass, unknown variable",
			src:   "while read net; do\n  iptables -A INPUT -s \"$net\" -j DROP\ndone < /etc/blocklist\n",
			want:  []string{"iptables|-A|INPUT|-s|$net|-j|DROP"},
			diags: []string{"cannot decide `read net'", "cannot know $net without running the script: it is set by read at line 1"},
		},
		{
			name:  "command substitution and backticks are kept as written",
			src:   "iptables -A INPUT -s $(cat /etc/admin) -j ACCEPT\niptables -A INPUT -s `cat /etc/admin` -j ACCEPT\n",
			want:  []string{"iptables|-A|INPUT|-s|$(cat /etc/admin)|-j|ACCEPT", "iptables|-A|INPUT|-s|`cat /etc/admin`|-j|ACCEPT"},
			diags: []string{"cannot follow `$(cat /etc/admin)` without running the script", "cannot follow ``cat /etc/admin`` without running the script"},
		},
		{
			name:  "variable from command substitution",
			src:   "WANIP=$(ip -4 addr show eth0 | awk '{print $2}')\niptables -t nat -A POSTROUTING -j SNAT --to-source $WANIP\n",
			want:  []string{"iptables|-t|nat|-A|POSTROUTING|-j|SNAT|--to-source|$WANIP"},
			diags: []string{"cannot know $WANIP without running the script: it is set at line 1 from `$(ip -4 addr show eth0"},
		},
		{
			name:  "loop over a command substitution",
			src:   "for ip in $(cat /etc/bad); do iptables -A INPUT -s $ip -j DROP; done\n",
			want:  []string{"iptables|-A|INPUT|-s|$ip|-j|DROP"},
			diags: []string{"cannot know $ip without running the script: it takes its values from `$(cat /etc/bad)` at line 1"},
		},
		{
			name:  "unset variable",
			src:   "iptables -A INPUT -i $WAN -j ACCEPT\n",
			want:  []string{"iptables|-A|INPUT|-i|$WAN|-j|ACCEPT"},
			diags: []string{"$WAN is never set in the script, so its value would come from the environment"},
		},
		{
			name:  "script arguments",
			src:   "iptables -A INPUT -s \"$1\"\n",
			want:  []string{"iptables|-A|INPUT|-s|$1"},
			diags: []string{"cannot know $1 without running the script: it is an argument to the script"},
		},
		{
			name:  "command word that cannot be known",
			src:   "IPT=$(which iptables)\n$IPT -A INPUT -j ACCEPT\n$IPTABLES -F\nIP6T=$(command -v ip6tables)\n$IP6T -F\n$OTHER -F\n",
			want:  []string{"iptables|-A|INPUT|-j|ACCEPT", "iptables|-F", "ip6tables|-F"},
			diags: []string{"taking it to be iptables", "taking it to be ip6tables"},
		},
		{
			name:  "sudo, command, env and exec prefixes",
			src:   "sudo iptables -A A\nsudo -u root iptables -A B\ncommand iptables -A C\ncommand -v iptables\nenv LC_ALL=C iptables -A D\nLC_ALL=C iptables -A E\nexec iptables -A F\niptables -A NEVER\n",
			want:  []string{"iptables|-A|A", "iptables|-A|B", "iptables|-A|C", "iptables|-A|D", "iptables|-A|E", "iptables|-A|F"},
			clean: true,
		},
		{
			name:  "a function may wrap iptables",
			src:   "iptables() { command iptables -w \"$@\"; }\niptables -A INPUT\n",
			want:  []string{"iptables|-w|-A|INPUT"},
			clean: true,
		},
		{
			name:  "echo and printf are not runs",
			src:   "echo iptables -A INPUT\nprintf '%s\\n' \"iptables -F\"\n",
			clean: true,
		},
		{
			name:  "iptables-restore from a file is not followed",
			src:   "iptables-restore < /etc/iptables/rules.v4\ncat rules | ip6tables-restore -n\n",
			want:  []string{"iptables-restore", "ip6tables-restore|-n"},
			diags: []string{"cannot follow iptables-restore < /etc/iptables/rules.v4", "cannot follow ip6tables-restore reading from a pipe"},
		},
		{
			name:  "here-documents are not commands",
			src:   "cat > /etc/x.rules <<'EOF'\niptables -A INPUT -j DROP\nEOF\niptables -A AFTER\n",
			want:  []string{"iptables|-A|AFTER"},
			clean: true,
		},
		{
			name:  "subshells and groups",
			src:   "X=a\n( X=b; iptables -A $X; exit 0 )\niptables -A $X\n{ X=c; iptables -A $X; } > /dev/null\niptables -A $X\n",
			want:  []string{"iptables|-A|b", "iptables|-A|a", "iptables|-A|c", "iptables|-A|c"},
			clean: true,
		},
		{
			name:  "bash arrays and [[ ]]",
			src:   "PORTS=(22 \"80 8080\" 443)\nfor p in \"${PORTS[@]}\"; do iptables -A I --dport \"$p\"; done\niptables -A N${#PORTS[@]} ${PORTS[2]}\nif [[ ${PORTS[0]} == 2* && -n x ]]; then iptables -A Y; fi\n",
			want:  []string{"iptables|-A|I|--dport|22", "iptables|-A|I|--dport|80 8080", "iptables|-A|I|--dport|443", "iptables|-A|N3|443", "iptables|-A|Y"},
			clean: true,
		},
		{
			name:  "parameter operators",
			src:   "F=/usr/sbin/iptables.sh\niptables -A ${F##*/} ${F%.sh} ${#F} ${F/sbin/bin} ${F:5:4} ${F^^}\n",
			want:  []string{"iptables|-A|iptables.sh|/usr/sbin/iptables|21|/usr/bin/iptables.sh|sbin|/USR/SBIN/IPTABLES.SH"},
			clean: true,
		},
		{
			name:  "syntax error keeps the commands before it",
			src:   "iptables -A OK\necho \"unterminated\niptables -A NEVER\n",
			want:  []string{"iptables|-A|OK"},
			diags: []string{"unterminated quote"},
		},
		{
			name:  "eval and source are not followed",
			src:   ". /etc/default/firewall\neval \"iptables -A X\"\n",
			diags: []string{"cannot follow `. /etc/default/firewall'", "cannot follow eval"},
		},
		{
			name:  "iptables-restore with a file argument",
			src:   "iptables-restore -n /etc/iptables.rules\niptables-restore -T filter\n",
			want:  []string{"iptables-restore|-n|/etc/iptables.rules", "iptables-restore|-T|filter"},
			diags: []string{"cannot follow iptables-restore /etc/iptables.rules", "reads its rules from standard input"},
		},
		{
			name:  "closing brace needs a separator",
			src:   "f() { iptables -A X }\n",
			diags: []string{"a } closes a group only after a ;"},
		},
		{
			name:  "aliases are not followed",
			src:   "alias ipt='iptables -w'\nipt -A X\n",
			diags: []string{"aliases are not followed"},
		},
		{
			name:  "byte-order mark",
			src:   "\ufeffiptables -F\n",
			want:  []string{"iptables|-F"},
			diags: []string{"byte-order mark"},
		},
		{
			name:  "Windows line ends",
			src:   "iptables -A INPUT -j ACCEPT\r\niptables -F\r\n",
			want:  []string{"iptables|-A|INPUT|-j|ACCEPT", "iptables|-F"},
			diags: []string{"Windows line end"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			invs, diags := Read("fw.sh", []byte(tc.src))
			got := lines(invs)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("invocations:\n got %q\nwant %q", got, tc.want)
			}
			for _, want := range tc.diags {
				found := false
				for _, d := range diags {
					found = found || strings.Contains(d.Msg, want)
				}
				if !found {
					t.Errorf("no diagnostic contains %q; got %+v", want, diags)
				}
			}
			if tc.clean && len(diags) > 0 {
				t.Errorf("unexpected diagnostics: %+v", diags)
			}
			checkPositions(t, tc.src, invs, diags)
		})
	}
}

// checkPositions verifies that every Line and Col agrees with Offset.
func checkPositions(t *testing.T, src string, invs []Invocation, diags []Diag) {
	t.Helper()
	checkPositionsIn(t, map[string]string{"": src}, invs, diags)
}

// checkPositionsIn is checkPositions for a script (file "") and the files
// it sources.
func checkPositionsIn(t *testing.T, files map[string]string, invs []Invocation, diags []Diag) {
	t.Helper()
	check := func(what string, p Pos) {
		src, ok := files[p.File]
		if !ok {
			t.Errorf("%s: in file %q, which was not read", what, p.File)
			return
		}
		if !p.IsValid() {
			t.Errorf("%s: no position", what)
			return
		}
		if p.Offset < 0 || p.Offset > len(src) {
			t.Errorf("%s: offset %d outside the script", what, p.Offset)
			return
		}
		before := src[:p.Offset]
		ln := strings.Count(before, "\n") + 1
		col := utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
		if p.Line != ln || p.Col != col {
			t.Errorf("%s: position %d:%d, but offset %d is %d:%d", what, p.Line, p.Col, p.Offset, ln, col)
		}
	}
	// A word neither quoted nor expanded is the text at its offset,
	// line continuations aside.
	literal := func(w Word) {
		src := files[w.File]
		if w.Quoted || w.Unknown || w.Offset > len(src) {
			return
		}
		var b strings.Builder
		for i := w.Offset; i < len(src) && b.Len() < len(w.Text); i++ {
			if strings.HasPrefix(src[i:], "\\\n") {
				i++
				continue
			}
			if strings.HasPrefix(src[i:], "\\\r\n") {
				i += 2
				continue
			}
			b.WriteByte(src[i])
		}
		if b.String() != w.Text {
			t.Errorf("unquoted word %q at offset %d, but the script has %q there", w.Text, w.Offset, b.String())
		}
	}
	for _, inv := range invs {
		check("command "+inv.Cmd.Text, inv.Cmd.Pos)
		literal(inv.Cmd)
		if inv.Line != inv.Cmd.Line {
			t.Errorf("invocation line %d, command word at line %d", inv.Line, inv.Cmd.Line)
		}
		for _, a := range inv.Args {
			check("word "+a.Text, a.Pos)
			literal(a)
			if a.Origin.IsValid() {
				check("origin of "+a.Text, a.Origin)
			}
		}
	}
	for _, d := range diags {
		check("diagnostic "+d.Msg, d.Pos)
	}
}

// at finds the argument with text txt in invocation i.
func at(t *testing.T, invs []Invocation, i int, txt string) Word {
	t.Helper()
	if i >= len(invs) {
		t.Fatalf("only %d invocations", len(invs))
	}
	for _, a := range invs[i].Args {
		if a.Text == txt {
			return a
		}
	}
	t.Fatalf("invocation %d (%s) has no word %q", i, line(invs[i]), txt)
	return Word{}
}

func wantPos(t *testing.T, w Word, line, col int) {
	t.Helper()
	if w.Line != line || w.Col != col {
		t.Errorf("%q at %d:%d, want %d:%d", w.Text, w.Line, w.Col, line, col)
	}
}

func TestPositions(t *testing.T) {
	src := "IPT=/sbin/iptables\n" + // line 1
		"OPTS=\"-p tcp\"\n" + // 2
		"allow() {\n" + // 3
		"  $IPT -A INPUT $OPTS --dport \"$1\" -m comment --comment \"port $1\" -j ACCEPT\n" + // 4
		"}\n" + // 5
		"allow 22\n" + // 6
		"iptables -A INPUT \u2013syn \\\n" + // 7
		"   -j DROP\n" // 8
	invs, _ := Read("fw.sh", []byte(src))
	if len(invs) != 2 {
		t.Fatalf("got %d invocations: %q", len(invs), lines(invs))
	}
	inv := invs[0]
	wantPos(t, inv.Cmd, 4, 3)
	if inv.Cmd.Text != "/sbin/iptables" || inv.Cmd.FromVar != "IPT" || inv.Cmd.Origin.Line != 1 || inv.Cmd.Origin.Col != 5 {
		t.Errorf("command word %+v", inv.Cmd)
	}
	// Both words of $OPTS are at its '$', and remember where they were written.
	p := at(t, invs, 0, "-p")
	wantPos(t, p, 4, 17)
	if p.FromVar != "OPTS" || !p.Quoted || p.Origin.Line != 2 || p.Origin.Col != 7 {
		t.Errorf("-p from $OPTS: %+v", p)
	}
	tcp := at(t, invs, 0, "tcp")
	wantPos(t, tcp, 4, 17)
	if tcp.Origin.Col != 10 {
		t.Errorf("tcp origin %+v", tcp.Origin)
	}
	// "$1": at the '$' inside the quotes; its origin is the caller's 22.
	port := at(t, invs, 0, "22")
	wantPos(t, port, 4, 32)
	if port.FromVar != "1" || port.Origin.Line != 6 || port.Origin.Col != 7 {
		t.Errorf("$1: %+v", port)
	}
	// A quoted word starts at its first character, inside the quotes.
	wantPos(t, at(t, invs, 0, "port 22"), 4, 58)
	dash := at(t, invs, 1, "\u2013syn")
	wantPos(t, dash, 7, 19)
	if dash.Quoted || dash.FromVar != "" || dash.Unknown {
		t.Errorf("literal word flags: %+v", dash)
	}
	wantPos(t, at(t, invs, 1, "-j"), 8, 4)
	// Columns count runes, offsets bytes: DROP comes after a 3-byte dash.
	drop := at(t, invs, 1, "DROP")
	if src[drop.Offset:drop.Offset+4] != "DROP" {
		t.Errorf("DROP offset %d", drop.Offset)
	}
	if invs[0].Note != "in function allow, called at line 6" || invs[1].Note != "" {
		t.Errorf("notes %q, %q", invs[0].Note, invs[1].Note)
	}
}

func TestUnknownWords(t *testing.T) {
	src := "for ip in $(cat /etc/blocklist); do\n  iptables -A INPUT -s \"$ip\" -j DROP\ndone\niptables -A INPUT -s 10.0.0.$(date +%d)/32\n"
	invs, diags := Read("fw.sh", []byte(src))
	if len(invs) != 2 {
		t.Fatalf("got %q", lines(invs))
	}
	ip := at(t, invs, 0, "$ip")
	if !ip.Unknown || ip.FromVar != "ip" {
		t.Errorf("$ip: %+v", ip)
	}
	wantPos(t, ip, 2, 25)
	if !strings.HasPrefix(invs[0].Note, "inside for loop ip=?") {
		t.Errorf("note %q", invs[0].Note)
	}
	// Known parts expand, the unknown part is kept as written.
	w := at(t, invs, 1, "10.0.0.$(date +%d)/32")
	if !w.Unknown {
		t.Errorf("not marked unknown: %+v", w)
	}
	wantPos(t, w, 4, 22)
	var found bool
	for _, d := range diags {
		if d.Line == 4 && d.Col == 29 && strings.Contains(d.Msg, "cannot follow `$(date +%d)` without running the script") && d.Warn {
			found = true
		}
	}
	if !found {
		t.Errorf("no diagnostic at the $( on line 4: %+v", diags)
	}
}

// TestUnknownOnce: a variable the script never sets is said once, at its
// first use, however many commands use it.
func TestUnknownOnce(t *testing.T) {
	src := "$IPTABLES -F\n$IPTABLES -A INPUT -i $WAN_IF -j ACCEPT\n$IPTABLES -A INPUT -i $WAN_IF -s $ADMIN -j ACCEPT\nfor p in 22 80; do $IPTABLES -A INPUT -s $ADMIN --dport $p -j ACCEPT; done\n" +
		"IPT=$(which iptables)\n$IPT -A X\n$IPT -A Y -s $(cat /etc/admin)\n$IPT -A Z -s $(cat /etc/admin)\n"
	invs, diags := Read("fw.sh", []byte(src))
	if len(invs) != 8 {
		t.Fatalf("got %q", lines(invs))
	}
	want := []string{
		"1:1 note $IPTABLES is never set in the script (its value would come from the environment): taking it to be iptables",
		"2:23 note $WAN_IF is never set in the script, so its value would come from the environment",
		"3:34 note $ADMIN is never set in the script, so its value would come from the environment",
		"6:1 warning cannot know the command $IPT without running the script (it is set at line 5 from `$(which iptables)`): taking it to be iptables",
		"7:14 warning cannot follow `$(cat /etc/admin)` without running the script",
		"8:14 warning cannot follow `$(cat /etc/admin)` without running the script",
	}
	if len(diags) != len(want) {
		t.Errorf("%d diagnostics, want %d: %+v", len(diags), len(want), diags)
	}
	for i, d := range diags {
		kind := "warning"
		if d.Note {
			kind = "note"
		}
		got := fmt.Sprintf("%d:%d %s %s", d.Line, d.Col, kind, d.Msg)
		if i < len(want) && !strings.HasPrefix(got, want[i]) {
			t.Errorf("diagnostic %d:\n got %s\nwant %s...", i, got, want[i])
		}
	}
}

// TestSourceUnknownOnce: a file name from the environment is one note,
// with the warning that the file is not read, and no file is read when
// a test on it fails for certain ([ -r "" ]).
func TestSourceUnknownOnce(t *testing.T) {
	src := "[ -r \"$CONF\" ] && . \"$CONF\"\n. \"$CONF\"\niptables -A X -m comment --comment \"$CONF\"\n"
	read := func(string) ([]byte, error) { return []byte("iptables -A READ\n"), nil }
	invs, diags := ReadWith("fw.sh", []byte(src), Options{ReadFile: read})
	if got := lines(invs); len(got) != 1 || got[0] != "iptables|-A|X|-m|comment|--comment|$CONF" {
		t.Errorf("invocations %q", got)
	}
	if len(diags) != 2 || !diags[0].Note || diags[0].Line != 1 || !strings.Contains(diags[1].Msg, "cannot follow `. $CONF'") || diags[1].Line != 2 {
		t.Errorf("diagnostics: %+v", diags)
	}
}

func TestUndecidableNotes(t *testing.T) {
	src := "if iptables -C INPUT -j LOG 2>/dev/null; then :; else iptables -A INPUT -j LOG; fi\n" +
		"iptables -N X 2>/dev/null || iptables -F X\n" +
		"if ! iptables -C INPUT -j DROP; then iptables -A INPUT -j DROP; fi\n"
	invs, diags := Read("fw.sh", []byte(src))
	want := []string{"iptables|-C|INPUT|-j|LOG", "iptables|-N|X", "iptables|-F|X", "iptables|-C|INPUT|-j|DROP", "iptables|-A|INPUT|-j|DROP"}
	if strings.Join(lines(invs), "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %q", lines(invs))
	}
	if !strings.Contains(invs[2].Note, "after ||") || !strings.Contains(invs[4].Note, "then-branch of the if at line 3") {
		t.Errorf("notes: %q / %q", invs[2].Note, invs[4].Note)
	}
	n := 0
	for _, d := range diags {
		if strings.Contains(d.Msg, "following its then-branch") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("want 2 then-branch warnings, got %+v", diags)
	}
}

func TestStdin(t *testing.T) {
	src := "WAN=eth0\niptables-restore -n <<EOF\n*filter\n-A INPUT -i $WAN -j ACCEPT\nCOMMIT\nEOF\n" +
		"ip6tables-restore <<-'END'\n\t*filter\n\t-A INPUT -i $WAN\n\tCOMMIT\n\tEND\n" +
		"iptables-restore < \"/etc/$WAN.rules\"\n"
	invs, diags := Read("fw.sh", []byte(src))
	if len(invs) != 3 {
		t.Fatalf("got %q", lines(invs))
	}
	in := invs[0].Stdin
	if in == nil || !in.Heredoc || in.Text != "*filter\n-A INPUT -i eth0 -j ACCEPT\nCOMMIT\n" || in.Line != 3 {
		t.Errorf("heredoc: %+v", in)
	}
	in = invs[1].Stdin
	if in == nil || in.Text != "*filter\n-A INPUT -i $WAN\nCOMMIT\n" || in.Line != 8 {
		t.Errorf("quoted heredoc with tabs: %+v", in)
	}
	in = invs[2].Stdin
	if in == nil || in.File == nil || in.File.Text != "/etc/eth0.rules" || in.File.Line != 12 {
		t.Errorf("file: %+v", in)
	}
	if len(diags) != 1 || diags[0].Line != 12 {
		t.Errorf("diags: %+v", diags)
	}
}

func TestLimits(t *testing.T) {
	invs, diags := Read("fw.sh", []byte("while :; do iptables -A X; done\niptables -A AFTER\n"))
	if len(invs) != maxLoopPasses {
		t.Errorf("got %d invocations", len(invs))
	}
	if len(diags) != 1 || !strings.Contains(diags[0].Msg, "more than 10000 passes") {
		t.Errorf("diags %+v", diags)
	}
	_, diags = Read("fw.sh", []byte("f() { f; f; }\nf\n"))
	if len(diags) != 1 || !strings.Contains(diags[0].Msg, "nest deeper") {
		t.Errorf("diags %+v", diags)
	}
	_, diags = Read("fw.sh", []byte("X=ab\nwhile :; do X=$X$X; done\n"))
	if len(diags) != 1 || !strings.Contains(diags[0].Msg, "passes") {
		t.Errorf("diags %+v", diags)
	}
	_, diags = Read("fw.sh", []byte(strings.Repeat("(", 1000)))
	if len(diags) != 1 || diags[0].Warn {
		t.Errorf("diags %+v", diags)
	}
}

// TestArticle reads the how-to as printed: 22 iptables lines, with the
// typographic dashes kept and columns counted in characters.
func TestArticle(t *testing.T) {
	src, err := os.ReadFile("../../shared/examples/article-as-printed.sh")
	if err != nil {
		t.Skip(err)
	}
	if !LooksLikeScript(src) {
		t.Error("the article does not look like a script")
	}
	invs, diags := Read("article-as-printed.sh", src)
	if len(diags) != 0 {
		t.Errorf("diags: %+v", diags)
	}
	if len(invs) != 22 {
		t.Fatalf("got %d invocations, want 22", len(invs))
	}
	checkPositions(t, string(src), invs, nil)
	// Line 10: iptables -A INPUT -p tcp –syn –destination-port 22 -j ACCEPT
	if invs[1].Line != 10 {
		t.Fatalf("second invocation on line %d", invs[1].Line)
	}
	syn := at(t, invs, 1, "\u2013syn")
	wantPos(t, syn, 10, 26)
	if string(src[syn.Offset:syn.Offset+len("\u2013syn")]) != "\u2013syn" {
		t.Errorf("offset %d does not hold the word", syn.Offset)
	}
	// After two 3-byte dashes, columns and byte offsets part ways.
	acc := at(t, invs, 1, "ACCEPT")
	wantPos(t, acc, 10, 55)
	lineStart := strings.Index(string(src), "iptables -A INPUT -p tcp \u2013syn")
	if acc.Offset-lineStart != 58 {
		t.Errorf("ACCEPT at byte %d of its line, want 58", acc.Offset-lineStart)
	}
	if invs[2].Cmd.Text != "/sbin/iptables" || invs[2].Tool != "iptables" {
		t.Errorf("line 12: %+v", invs[2].Cmd)
	}
	wantPos(t, at(t, invs, 2, "\u2013state"), 12, 34)
	wantPos(t, at(t, invs, 0, "-syn"), 8, 26)
	if w := at(t, invs, 4, "-J"); w.Line != 15 || w.Col != 21 {
		t.Errorf("-J at %d:%d", w.Line, w.Col)
	}
}

func TestLooksLikeScript(t *testing.T) {
	for src, want := range map[string]bool{
		"#!/bin/sh\niptables -F\n":                                   true,
		"iptables -A INPUT -j ACCEPT\n":                              true,
		"# comment\n\nIPT=iptables\n":                                true,
		": ${IPT:=iptables}\n":                                       true,
		"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n": false,
		"# Generated by iptables-save\n*nat\nCOMMIT\n":               false,
		":INPUT DROP [0:0]\n":                                        false,
		"-A INPUT -j DROP\n":                                         false,
		"COMMIT\n":                                                   false,
		"iptables-restore <<EOF\n*filter\nCOMMIT\nEOF\n":             true,
	} {
		if got := LooksLikeScript([]byte(src)); got != want {
			t.Errorf("LooksLikeScript(%q) = %v", src, got)
		}
	}
}

// TestErrexit: invocations are marked when set -e (or #! ... -e) is in
// effect and their status is not tested.
func TestErrexit(t *testing.T) {
	src := "#!/bin/sh\niptables -A INPUT\nset -e\niptables -A INPUT\nif iptables -C INPUT; then :; fi\niptables -C INPUT || iptables -A INPUT\n! iptables -A INPUT\nset +e\niptables -A INPUT\nset -o errexit\niptables -A INPUT\nset +o errexit\niptables -A INPUT\nset -eu\niptables -A INPUT\n"
	invs, _ := Read("t.sh", []byte(src))
	want := map[int]bool{2: false, 4: true, 5: false, 6: true, 7: false, 9: false, 11: true, 13: false, 15: true}
	got := map[int]bool{}
	for _, inv := range invs {
		if inv.Errexit {
			got[inv.Line] = true
		}
	}
	for line, w := range want {
		if got[line] != w {
			t.Errorf("line %d: errexit %v, want %v", line, got[line], w)
		}
	}
	// "iptables -C INPUT || ..." : the left side is tested, the right not.
	for _, inv := range invs {
		if inv.Line == 6 && len(inv.Args) > 0 && inv.Args[0].Text == "-C" && inv.Errexit {
			t.Errorf("the left side of || is marked")
		}
	}
	invs, _ = Read("t.sh", []byte("#!/bin/bash -e\niptables -A INPUT\n"))
	if len(invs) != 1 || !invs[0].Errexit {
		t.Errorf("#!/bin/bash -e does not set errexit")
	}
}
