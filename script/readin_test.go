package script

import (
	"os/exec"
	"strings"
	"testing"
)

// TestReadFromLoopInput runs each script with bash, iptables being a
// function that prints its arguments, and checks that ipsift reads the
// same invocations: the lines a loop's here-document or here-string gives
// its read commands, split as bash splits them.
func TestReadFromLoopInput(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to compare with")
	}
	scripts := map[string]string{
		"fields": "while read -r proto port; do\n  iptables -A INPUT -p \"$proto\" --dport \"$port\" -j ACCEPT\ndone <<EOF\ntcp 22\n  udp\t53  \n\ntcp 80 extra words here\nEOF\n",
		"quoted delimiter, last name takes the rest": "while read -r a b; do iptables -A INPUT -m comment --comment \"$b\" -s \"$a\"; done <<'LIST'\n192.0.2.1 the first  one \n192.0.2.2\nLIST\n",
		"expanding body":  "NET=192.0.2\nwhile read host; do iptables -A INPUT -s $NET.$host -j DROP; done <<EOF\n7\n$((3+5))\nEOF\n",
		"strip tabs":      "while read x; do\n\tiptables -A INPUT -s \"$x\"\ndone <<-EOF\n\t192.0.2.9\n\t\t192.0.2.10\n\tEOF\n",
		"IFS":             "IFS=,\nwhile read -r a b c; do iptables -A INPUT -s \"$a\" -d \"$b\" -m comment --comment \"$c\"; done <<EOF\n192.0.2.1,192.0.2.2,x,y\n192.0.2.3 , 192.0.2.4\nEOF\n",
		"IFS colon space": "IFS=': '\nwhile read -r ip port; do iptables -A INPUT -s \"$ip\" -p tcp --dport \"$port\"; done <<EOF\n192.0.2.1:22\n 192.0.2.2 : 80\nEOF\n",
		"backslashes":     "while read a b; do iptables -A INPUT -m comment --comment \"$a|$b\"; done <<'EOF'\nx\\ y z\nlong \\\nline\nEOF\nwhile read -r a; do iptables -A INPUT -m comment --comment \"$a\"; done <<'EOF'\nx\\ y\nEOF\n",
		"REPLY":           "while read; do iptables -A INPUT -m comment --comment \"[$REPLY]\"; done <<'EOF'\n  spaced  \nEOF\n",
		"here-string":     "read -r a b <<< \"192.0.2.5 8080\"\niptables -A INPUT -s \"$a\" -p tcp --dport \"$b\"\nwhile read -r p; do iptables -A INPUT -p tcp --dport $p; done <<< 443\n",
		"function reads":  "next() { read -r item; }\nwhile next; do iptables -A INPUT -s \"$item\"; done <<EOF\n192.0.2.1\n192.0.2.2\nEOF\n",
		"nested loops":    "while read -r chain; do\n  iptables -N \"$chain\"\n  while read -r port; do iptables -A \"$chain\" -p tcp --dport \"$port\"; done <<P\n22\n80\nP\ndone <<C\nin_a\nin_b\nC\n",
	}
	for name, src := range scripts {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(bash, "-c", "iptables() { local IFS='|'; echo \"iptables|$*\"; }\n"+src).Output()
			if err != nil {
				t.Fatalf("bash: %v", err)
			}
			want := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
			invs, diags := Read("t.sh", []byte(src))
			got := lines(invs)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("bash:\n%s\nipsift:\n%s\n(diagnostics: %v)", strings.Join(want, "\n"), strings.Join(got, "\n"), diags)
			}
			for _, d := range diags {
				t.Errorf("unexpected diagnostic: %v", d)
			}
		})
	}
}

// A read whose input is a pipe, a file or a command stays unknown, also
// inside a loop that reads a here-document, and says so.
func TestReadUnknownInput(t *testing.T) {
	src := "while read -r a; do\n  echo x | while read -r b; do iptables -A INPUT -s \"$b\"; done\n  read -r c < /etc/hosts\n  iptables -A INPUT -d \"$c\"\ndone <<EOF\n192.0.2.1\nEOF\n"
	invs, diags := Read("t.sh", []byte(src))
	got := strings.Join(lines(invs), "\n")
	if strings.Contains(got, "192.0.2.1") {
		t.Errorf("the here-document's line went to a read with other input:\n%s", got)
	}
	var msgs []string
	for _, d := range diags {
		msgs = append(msgs, d.Msg)
	}
	if all := strings.Join(msgs, "\n"); !strings.Contains(all, "$b") || !strings.Contains(all, "$c") {
		t.Errorf("want $b and $c reported as unknown, got:\n%s", all)
	}
}
