package ipset

// The conformance runner: ipset's own test vectors
// (../shared/conformance/ipset-t, see its README) run line by line under
// bash, with `ipset` on PATH being this test binary acting as the ipset
// command (its sets kept in a state file between calls), `sleep` moving
// a simulated clock instead of waiting, and the helper scripts the
// vectors call written here from their description in the README.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	envState = "IPSIFT_IPSET_STATE"
	envClock = "IPSIFT_IPSET_CLOCK"
)

func TestMain(m *testing.M) {
	if st := os.Getenv(envState); st != "" {
		os.Exit(cliMain(st, os.Getenv(envClock), os.Args[1:]))
	}
	os.Exit(m.Run())
}

// cliMain is the ipset command for the runner: load the sets, run the
// command, store the sets.
func cliMain(state, clock string, args []string) int {
	now := func() int64 {
		b, _ := os.ReadFile(clock)
		ms, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return ms * int64(time.Millisecond)
	}
	r := NewRegistry()
	saved, savedAt := loadState(state)
	c := &Cmd{R: r, Now: func() int64 { return savedAt }, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	if err := c.Restore(bytes.NewReader(saved), false); err != nil {
		fmt.Fprintln(os.Stderr, "runner: cannot load the state:", err)
		return 99
	}
	c.Now = now
	bw := bufio.NewWriter(os.Stdout)
	c.Stdout = bw
	rc := c.Run(args)
	bw.Flush()
	var out bytes.Buffer
	t := now()
	fmt.Fprintf(&out, "# clock %d\n", t)
	_ = r.Save(&out, "", t)
	if err := os.WriteFile(state, out.Bytes(), 0o644); err != nil {
		return 99
	}
	return rc
}

func loadState(path string) ([]byte, int64) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0
	}
	var t int64
	if line, _, ok := bytes.Cut(b, []byte("\n")); ok && bytes.HasPrefix(line, []byte("# clock ")) {
		t, _ = strconv.ParseInt(string(line[8:]), 10, 64)
	}
	return b, t
}

// helpers are the scripts the vectors call, written from the README's
// description of them.
var helpers = map[string]string{
	"ipset": `#!/bin/bash
exec "$IPSIFT_IPSET_BIN" "$@"
`,
	"sleep": `#!/bin/bash
# moves the simulated clock instead of waiting
t=${1%s}
case $t in .*) t=0$t;; esac
ms=$(awk -v t="$t" 'BEGIN{printf "%d", t*1000}')
c=$(cat "$IPSIFT_IPSET_CLOCK")
echo $((c + ms)) > "$IPSIFT_IPSET_CLOCK"
`,
	"sort.sh": `#!/bin/bash
awk '/^Members:/{print; exit} {print}' "$1" > .foo
awk 'f{print} /^Members:/{f=1}' "$1" | LC_ALL=C sort >> .foo
rm -f "$1"
`,
	"diff.sh": `#!/bin/bash
norm() { grep -v '^Revision:' "$1" | grep -v '^Size in memory' | sed -e 's/timeout [0-9]\+/timeout x/g' -e 's/initval 0x[0-9a-f]\{8\}/initval 0x00000000/g'; }
diff -u <(norm "$1") <(norm "$2")
`,
	"ignore.sh": `#!/bin/bash
grep -v '^Revision:' "$1" | sed -e 's/initval 0x[0-9a-f]\{8\}/initval 0x00000000/g' > .foo
`,
	// resize.sh: resize-test, hash:ip, 32 x 255 addresses added one by
	// one (as one restore of those add lines: the same adds, one process).
	"resize.sh": `#!/bin/bash
ipset destroy resize-test 2>/dev/null
ipset create resize-test hash:ip hashsize 64 || exit 1
for x in $(seq 0 31); do for y in $(seq 1 255); do echo "add resize-test 192.168.$x.$y"; done; done | ipset restore
`,
	"resize-and-list.sh": `#!/bin/bash
ipset destroy resize-test 2>/dev/null
ipset create resize-test hash:ip hashsize 64 || exit 1
for x in $(seq 0 31); do for y in $(seq 1 255); do echo "add resize-test 192.168.$x.$y"; done; done | ipset restore || exit 1
n=$(ipset list resize-test | grep -c '^192.168.')
test "$n" -eq 8160
`,
	// resizet.sh / resizen.sh / resizec.sh FAMILY TYPE: fill a set of the
	// type with timeouts (nomatch flags, comments) so that it grows, and
	// check that every element kept them.
	"resizet.sh": resizeScript("timeout 600", "timeout [0-9]"),
	"resizen.sh": resizeScript("nomatch", "nomatch"),
	"resizec.sh": resizeScript("comment", "comment"),
	"setlist_resize.sh": `#!/bin/bash
for i in $(seq 1 32); do ipset create test-$i hash:ip || exit 1; done
ipset create test list:set size 64 || exit 1
for i in $(seq 1 32); do ipset add test test-$i || exit 1; done
for i in $(seq 1 32); do ipset del test test-$i || exit 1; done
ipset destroy test || exit 1
for i in $(seq 1 32); do ipset destroy test-$i || exit 1; done
`,
	// cidr.sh TYPE: one network of each prefix length /1../32, each
	// starting where the one before ends (0.0.0.0/1, 128.0.0.0/2, ...,
	// 255.255.255.254/32), added, tested at both ends, deleted; net,iface
	// also takes 0.0.0.0/0.
	"cidr.sh": `#!/bin/bash
set -e
ipset n test hash:$1
nets() { local a=0; for c in $(seq 1 32); do echo "$a $c"; a=$(( a + (1 << (32 - c)) )); done; }
dq() { echo "$(( $1 >> 24 & 255 )).$(( $1 >> 16 & 255 )).$(( $1 >> 8 & 255 )).$(( $1 & 255 ))"; }
sfx() { case $1 in net) echo "";; net,port) echo ",$2";; net,iface) echo ",eth$2";; esac; }
[ "$1" = net,iface ] && ipset add test 0.0.0.0/0,eth0
while read a c; do ipset add test $(dq $a)/$c$(sfx $1 $c); done < <(nets)
[ "$1" = net,iface ] && ipset test test 0.0.0.0/0,eth0
while read a c; do
  ipset test test $(dq $a)$(sfx $1 $c) >/dev/null 2>&1 || true
  ipset test test $(dq $(( a + (1 << (32 - c)) - 1 )))$(sfx $1 $c) >/dev/null 2>&1 || true
done < <(nets)
[ "$1" = net,iface ] && ipset del test 0.0.0.0/0,eth0
while read a c; do ipset del test $(dq $a)/$c$(sfx $1 $c); done < <(nets)
ipset x test
`,
	// netnetgen.sh [comment] [timeout]: restore input of a
	// hash:net,net set sized for 87040 elements: each line two ranges,
	// each range two CIDRs (10.0.0.0-10.0.2.255 and 10.X.Y.0-10.X.Y+2.255).
	"netnetgen.sh": `#!/bin/bash
c=""; t=""
for a in "$@"; do case $a in comment) c=" comment";; timeout) t=" timeout 60";; esac; done
echo "n test hash:net,net hashsize 32 maxelem 87040$c$t"
for x in $(seq 0 255); do for y in $(seq 0 3 253); do
  e="10.0.0.0-10.0.2.255,10.$x.$y.0-10.$x.$((y+2)).255"
  if [ -n "$c" ]; then echo "a test $e$c \"text $e\""; else echo "a test $e"; fi
done; done
`,
	"check_counters": `#!/bin/bash
ipset list "$1" | grep -q "^$2 .*packets $3 bytes $4"
`,
	"check_extensions": `#!/bin/bash
line=$(ipset list "$1" | grep "^$2 ") || exit 1
t=$(echo "$line" | sed -n 's/.*timeout \([0-9]*\).*/\1/p')
test -n "$t" && test "$t" -le "$3" && test "$t" -ge $(($3 - 10)) || exit 1
echo "$line" | grep -q "packets $4 bytes $5"
`,
	"check_cidrs.sh": `#!/bin/bash
ipset -! create test hash:net || exit 1
for c in $(seq 1 32); do ipset add test 10.0.0.0/$c || exit 1; done
for c in $(seq 1 32); do ipset del test 10.0.0.0/$c || exit 1; done
ipset add test 10.0.0.0/24 || exit 1
ipset test test 10.0.0.1 >/dev/null 2>&1 || exit 1
ipset destroy test
`,
}

func resizeScript(opt, want string) string {
	return `#!/bin/bash
fam=inet; [ "$1" = -6 ] && fam=inet6
typ=$2
case $typ in
ip) t=hash:ip; e='$ip';;
ipport) t=hash:ip,port; e='$ip,tcp:80';;
ipportip) t=hash:ip,port,ip; e='$ip,tcp:80,$ip';;
ipportnet) t=hash:ip,port,net; e='$ip,tcp:80,$net';;
ipmark) t=hash:ip,mark; e='$ip,0x10';;
netiface) t=hash:net,iface; e='$net,eth0';;
netnet) t=hash:net,net; e='$net,$net';;
net) t=hash:net; e='$net';;
netport) t=hash:net,port; e='$net,tcp:80';;
netportnet) t=hash:net,port,net; e='$net,tcp:80,$net';;
*) exit 1;;
esac
opt="` + opt + `"
copt=""
case $opt in timeout*) copt="timeout 600";; comment) copt="comment"; opt='comment "c"';; esac
ipset destroy resize-test 2>/dev/null
ipset create resize-test $t family $fam hashsize 64 $copt || exit 1
for x in $(seq 0 15); do for y in $(seq 1 64); do
  if [ $fam = inet ]; then ip=192.168.$x.$y; net=10.$x.$y.0/24; else ip=1::$x:$y; net=1:$x:$y::/64; fi
  eval "echo add resize-test $e $opt"
done; done | ipset restore || exit 1
n=$(ipset save resize-test | grep -c '^add')
m=$(ipset save resize-test | grep '^add' | grep -c '` + want + `')
ipset destroy resize-test
test "$n" -eq 1024 && test "$m" -eq 1024
`
}

// missingTypeFiles are the vectors of the five types this kernel lacks.
func missingTypeFile(name string) bool {
	for _, p := range []string{"hash:mac", "hash:ip,mac", "hash:net,net", "hash:net6,net6", "hash:ip,mark", "hash:ip6,mark", "ipmarkhash", "machash", "hash:net,port,net", "hash:net6,port,net6"} {
		if strings.HasPrefix(name, p+".t") {
			return true
		}
	}
	return false
}

// engineFile: the match and target vectors need packets through the
// engine (see the README).
func engineFile(name string) bool {
	return name == "match_target.t" || name == "match_flags.t" || name == "match_target6.t"
}

func TestConformance(t *testing.T) {
	dir, err := filepath.Abs("../../shared/conformance/ipset-t")
	if err == nil {
		if _, e := os.Stat(dir); e != nil {
			dir, err = "/work/shared/conformance/ipset-t", nil
		}
	}
	if _, e := os.Stat(dir); e != nil {
		t.Skip("no ipset-t vectors")
	}
	if _, e := exec.LookPath("bash"); e != nil {
		t.Skip("no bash")
	}
	bin, _ := os.Executable()
	work := t.TempDir()
	helperDir := filepath.Join(work, "bin")
	os.Mkdir(helperDir, 0o755)
	for n, s := range helpers {
		if err := os.WriteFile(filepath.Join(helperDir, n), []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.t"))
	var pass, fail, total, missPass, missTotal, skipped int
	for _, f := range files {
		name := filepath.Base(f)
		if engineFile(name) {
			n := countTests(f)
			skipped += n
			total += n
			fail += n
			continue
		}
		p, n, failures := runVectorFile(t, f, dir, work, helperDir, bin)
		total += n
		pass += p
		fail += n - p
		if missingTypeFile(name) {
			missTotal += n
			missPass += p
		}
		for _, fl := range failures {
			t.Logf("%s: %s", name, fl)
		}
	}
	fmt.Printf("ipset conformance: %d passed, %d failed of %d (%d of %d on the five set types this kernel lacks; %d match/target lines need the engine)\n",
		pass, fail, total, missPass, missTotal, skipped)
}

func countTests(f string) int {
	b, _ := os.ReadFile(f)
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if len(l) > 2 && (l[0] >= '0' && l[0] <= '9') && l[1] == ' ' {
			n++
		}
	}
	return n
}

// runVectorFile runs one .t file in a fresh state: each test line under
// bash, in a copy of the vector directory (the lines write .foo files).
func runVectorFile(t *testing.T, f, dir, work, helperDir, bin string) (pass, n int, failures []string) {
	cwd := filepath.Join(work, "run-"+filepath.Base(f))
	os.RemoveAll(cwd)
	if err := os.CopyFS(cwd, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	for n := range helpers {
		os.Symlink(filepath.Join(helperDir, n), filepath.Join(cwd, n))
	}
	state := filepath.Join(work, "state")
	clock := filepath.Join(work, "clock")
	os.Remove(state)
	os.WriteFile(clock, []byte("1000000\n"), 0o644)
	env := append(os.Environ(),
		"PATH="+helperDir+":"+os.Getenv("PATH"),
		envState+"="+state, envClock+"="+clock, "IPSIFT_IPSET_BIN="+bin, "LC_ALL=C")
	b, _ := os.ReadFile(f)
	desc := ""
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "#") {
			desc = strings.TrimSpace(strings.TrimPrefix(l, "#"))
			continue
		}
		if len(l) < 3 || l[1] != ' ' || l[0] < '0' || l[0] > '9' {
			continue
		}
		want, _ := strconv.Atoi(l[:1])
		cmdline := l[2:]
		n++
		c := exec.Command("bash", "-c", cmdline)
		c.Dir = cwd
		c.Env = env
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		_ = c.Run()
		got := c.ProcessState.ExitCode()
		if got == want {
			pass++
		} else {
			msg := out.String()
			if len(msg) > 400 {
				msg = msg[:400]
			}
			failures = append(failures, fmt.Sprintf("%s: want %d got %d: %s\n%s", desc, want, got, cmdline, msg))
		}
	}
	return pass, n, failures
}
