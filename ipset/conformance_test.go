package ipset

// The conformance runner: ipset's own test vectors
// (../shared/conformance/ipset-t, see its README) run line by line under
// bash, with `ipset` on PATH being this test binary acting as the ipset
// command (its sets kept in a state file between calls), `sleep` moving
// a simulated clock instead of waiting, and the helper scripts the
// vectors call written here from their description in the README.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/internal/testsummary"
)

const (
	envState = "IPSIFT_IPSET_STATE"
	envClock = "IPSIFT_IPSET_CLOCK"
)

// buildVec builds internal/ipsetvec, the stand-in for ipset, iptables,
// ip6tables and sendip that the vectors run (state in files, packets
// through the engine, which package ipset's own tests cannot import).
func buildVec(t *testing.T, dir string) string {
	bin := filepath.Join(dir, "ipsetvec")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/ipsift/ipsift/internal/ipsetvec").CombinedOutput()
	if err != nil {
		t.Fatalf("building internal/ipsetvec: %v\n%s", err, out)
	}
	return bin
}

// helpers are the scripts the vectors call, written from the README's
// description of them.
var helpers = map[string]string{
	"ipset": `#!/bin/bash
exec "$IPSIFT_IPSET_BIN" ipset "$@"
`,
	"iptables": `#!/bin/bash
exec "$IPSIFT_IPSET_BIN" iptables "$@"
`,
	"ip6tables": `#!/bin/bash
exec "$IPSIFT_IPSET_BIN" ip6tables "$@"
`,
	"sendip": `#!/bin/bash
exec "$IPSIFT_IPSET_BIN" sendip "$@"
`,
	// check_sendip_packets -4|-6 DIRS COUNT: COUNT TCP packets through
	// a DROP rule matching set test with DIRS, the rule removed after
	"check_sendip_packets": `#!/bin/bash
set -e
if [ "$1" = -4 ]; then ipt=iptables; p=ipv4; s=10.255.255.64; d=127.0.0.1
else ipt=ip6tables; p=ipv6; s=1002:1002:1002:1002::32; d=::1; fi
$ipt -A INPUT -m set --match-set test $2 -j DROP
for i in $(seq 1 $3); do sendip -p $p -id $d -is $s -p tcp -td 80 -ts 1025 $d; done
$ipt -D INPUT -m set --match-set test $2 -j DROP
`,
	// sendip.sh: remember how long the log is, then send
	"sendip.sh": `#!/bin/bash
touch "$IPSIFT_VEC_KLOG"
wc -l < "$IPSIFT_VEC_KLOG" > .loglines
exec sendip "$@"
`,
	// check_klog.sh ADDR PROTO PORT SET...: since the last sendip.sh,
	// a LOG line "in set SET: " for the packet from ADDR (IPv6 written
	// out in full, as LOG prints it), PROTO, source PORT, for each SET
	"check_klog.sh": `#!/bin/bash
test -f .loglines || exit 1
from=$(( $(cat .loglines) + 1 ))
addr=$1
if [[ $addr == *:* ]]; then addr=$("$IPSIFT_IPSET_BIN" expand "$addr"); fi
proto=${2^^}; port=$3; shift 3
for s in "$@"; do
  tail -n +$from "$IPSIFT_VEC_KLOG" | grep -q -e "in set $s: .* SRC=$addr .* PROTO=$proto SPT=$port " || { echo "no match!"; exit 1; }
done
`,
	// iptables.sh inet|inet6 MODE: the sets and rules each MODE of the
	// match and target vectors starts from (from the README and the
	// vectors' own comments): probes from the test network are added
	// to ipport unless in ip1 or ip2, and LOGged per set that matches.
	"iptables.sh": `#!/bin/bash
set -e
if [ "$1" = inet6 ]; then
  ipt=ip6tables; fam="family inet6"; net=1002:1002:1002:1002::/64; a1=1002:1002:1002:1002::1; a2=1002:1002:1002:1002::32
else
  ipt=iptables; fam=""; net=10.255.255.0/24; a1=10.255.255.1; a2=10.255.255.32
fi
logto() { $ipt -A INPUT -m set --match-set "$1" "$2" $3 -j LOG --log-prefix "in set $4: "; }
flags() {
  ipset n test hash:net $fam 2>/dev/null
  ipset a test 10.0.0.0/16 2>/dev/null
  ipset a test 10.0.0.0/24 nomatch 2>/dev/null
  ipset a test 10.0.0.1 2>/dev/null
  $ipt -A INPUT ! -s 10.0.0.0/16 -j ACCEPT
  if [ "$1" = reversed ]; then logto test src --return-nomatch test-nomatch; logto test src "" test
  else logto test src "" test; logto test src --return-nomatch test-nomatch; fi
  $ipt -A INPUT -s 10.0.0.0/16 -j DROP
  : > "$IPSIFT_VEC_KLOG"
}
case $2 in
start)
  for s in ip1:$a1 ip2:$a2; do ipset n ${s%%:*} hash:ip $fam 2>/dev/null; ipset a ${s%%:*} ${s#*:} 2>/dev/null; done
  ipset n ipport hash:ip,port $fam 2>/dev/null
  ipset n list list:set 2>/dev/null
  ipset a list ipport 2>/dev/null
  ipset a list ip1 2>/dev/null
  $ipt -A INPUT ! -s $net -j ACCEPT
  $ipt -A INPUT -m set ! --match-set ip1 src -m set ! --match-set ip2 src -j SET --add-set ipport src,src
  logto ip1 src "" ip1; logto ip2 src "" ip2; logto ipport src,src "" ipport; logto list src,src "" list
  $ipt -A OUTPUT -d $net -j DROP
  : > "$IPSIFT_VEC_KLOG";;
start_flags) flags;;
start_flags_reversed) flags reversed;;
del) $ipt -F INPUT; $ipt -A INPUT -s $net -j SET --del-set ipport src,src;;
add) ipset n test hash:net $fam 2>/dev/null; $ipt -F INPUT; $ipt -A INPUT -s $net -j SET --add-set test src;;
timeout) ipset n test hash:ip,port timeout 2; $ipt -A INPUT -s $net -j SET --add-set test src,src --timeout 10 --exist;;
mangle)
  ipset n test hash:net $fam skbinfo 2>/dev/null
  ipset a test 10.255.0.0/16 skbmark 0x1234 2>/dev/null
  $ipt -t mangle -A INPUT -j SET --map-set test src --map-mark
  $ipt -t mangle -A INPUT -m mark --mark 0x1234 -j LOG --log-prefix "in set mark: "
  $ipt -t mangle -A INPUT -s 10.255.0.0/16 -j DROP;;
netiface)
  ipset n test hash:net,iface
  ipset a test 0.0.0.0/0,eth0
  $ipt -A OUTPUT -m set --match-set test dst,dst -j LOG --log-prefix "in set netiface: "
  $ipt -A OUTPUT -d 10.255.255.254 -j DROP;;
counter)
  ipset n test hash:ip counters
  ipset a test 10.255.255.64
  $ipt -A OUTPUT -m set --match-set test src --packets-gt 1 ! --update-counters -j DROP
  $ipt -A OUTPUT -m set --match-set test src -j DROP
  for i in 1 2 3; do ./sendip.sh -p ipv4 -id 10.255.255.254 -is 10.255.255.64 -p udp -ud 80 -us 1025 10.255.255.254 >/dev/null 2>&1; done;;
stop)
  for t in filter mangle raw; do $ipt -t $t -F; $ipt -t $t -X; done
  ipset -F 2>/dev/null || true
  ipset -X 2>/dev/null || true;;
*) echo "usage: $0 inet|inet6 MODE"; exit 1;;
esac
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
# the element's line starts with ELEM (a hash:ip,port one goes on ",tcp:80")
ipset list "$1" | grep "^$2" | grep -q "packets $3 bytes $4$"
`,
	"check_extensions": `#!/bin/bash
line=$(ipset list "$1" | grep "^$2") || exit 1
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
	work := t.TempDir()
	bin := buildVec(t, work)
	helperDir := filepath.Join(work, "bin")
	os.Mkdir(helperDir, 0o755)
	for n, s := range helpers {
		if err := os.WriteFile(filepath.Join(helperDir, n), []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.t"))
	var pass, fail, total, missPass, missTotal, engPass, engTotal int
	for _, f := range files {
		name := filepath.Base(f)
		p, n, failures := runVectorFile(t, f, dir, work, helperDir, bin)
		total += n
		pass += p
		fail += n - p
		if missingTypeFile(name) {
			missTotal += n
			missPass += p
		}
		if engineFile(name) {
			engTotal += n
			engPass += p
			t.Logf("%s (through the engine): %d passed of %d", name, p, n)
		}
		for _, fl := range failures {
			t.Logf("%s: %s", name, fl)
		}
	}
	line := fmt.Sprintf("ipset conformance: %d passed, %d failed of %d (%d of %d on the five set types this kernel lacks; %d of %d match/target lines through the engine)\n",
		pass, fail, total, missPass, missTotal, engPass, engTotal)
	fmt.Print(line)
	if err := testsummary.Append(line); err != nil {
		t.Error(err)
	}
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
	for _, f := range []string{"rules", "rules.6", "klog"} {
		os.Remove(filepath.Join(work, f))
	}
	os.WriteFile(clock, []byte("1000000\n"), 0o644)
	env := append(os.Environ(),
		"PATH="+helperDir+":"+os.Getenv("PATH"),
		envState+"="+state, envClock+"="+clock, "IPSIFT_IPSET_BIN="+bin, "LC_ALL=C",
		"IPSIFT_VEC_RULES="+filepath.Join(work, "rules"), "IPSIFT_VEC_KLOG="+filepath.Join(work, "klog"))
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
