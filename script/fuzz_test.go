package script

import (
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FuzzRead checks that any input ends quickly without a panic, and that
// every position reported agrees with itself (line and column match the
// byte offset).
func FuzzRead(f *testing.F) {
	seeds := []string{
		"iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n",
		"IPT=/sbin/iptables\nfor p in 22 80; do $IPT -A INPUT --dport $p; done\n",
		"allow() { iptables -A INPUT --dport \"$1\" -j ACCEPT; }\nallow 22\n",
		"if [ -x /sbin/iptables ]; then exit 1; fi\ncase $1 in start) iptables -F;; esac\n",
		"cat <<EOF | iptables-restore\n*filter\nCOMMIT\nEOF\n",
		"X=${Y:-${Z:=a b}} ; echo ${X##*/} ${X//a/b} ${X:1:2} $((1+2*3)) `ls` $(ls)\n",
		"A=(1 2 3); [[ ${A[1]} == 2 && -n $x ]] && iptables -A ${A[@]}\n",
		"while read l; do iptables -A X -s \"$l\"; done < f\n",
		"f() { f; }; f\n",
		"i=0; while [ $i -lt 5 ]; do i=$((i+1)); done; for ((;;)); do :; done\n",
		"iptables -A INPUT \u2013syn \\\n -j DROP\r\n",
		"$'\\x41' \"a\\\"b\" 'c' \\d\n",
		"X=ab; while :; do X=$X$X; iptables -A $X ${X%%*b} ${X//a/c}; done\n",
		"set -e 80 \"$(hostname)\"; IFS=,; set -- $L; shift; iptables -A X $# \"$@\" $*\n",
		"[ -n \"$N\" ] && return; N=1\n. ./self.sh a b\niptables -A I $N \"$1\"\nstart() { $IPTABLES -A S -i $WAN; }\n\"$@\"\n",
		"declare -f f || type g && command -v h; case $U in '') iptables -A E;; esac; echo $((U+1))\n",
	}
	if b, err := os.ReadFile("../../shared/examples/article-as-printed.sh"); err == nil {
		seeds = append(seeds, string(b))
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		// The time the reading takes on its own thread, not the wall
		// clock: on a shared, loaded machine the wall clock measures
		// the neighbours (the worst seed takes about a second of CPU and
		// six of wall time under a load of 14 on 2 cores).
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		start := threadCPU()
		// Every file the input sources is the input itself: sourcing,
		// its loop guard and positions in several files are fuzzed too.
		self := func(string) ([]byte, error) { return src, nil }
		// Every pattern matches two names, one of them hidden.
		glob := func(p string) ([]string, error) { return []string{p + "1", "d/.h"}, nil }
		invs, diags := ReadWith("fuzz.sh", src, Options{ReadFile: self, Dir: "d", Glob: glob})
		if d := threadCPU() - start; d > 5*time.Second {
			t.Errorf("took %v of CPU", d)
		}
		files := map[string]string{"": string(src)}
		for _, inv := range invs {
			files[inv.Cmd.File] = string(src)
			for _, a := range inv.Args {
				files[a.File] = string(src)
				files[a.Origin.File] = string(src)
			}
		}
		for _, d := range diags {
			files[d.File] = string(src)
		}
		checkPositionsIn(t, files, invs, diags)
		if len(invs) > maxInvs || len(diags) > maxDiags {
			t.Errorf("%d invocations, %d diagnostics", len(invs), len(diags))
		}
		LooksLikeScript(src)
	})
}

// threadCPU is the CPU time used so far by the calling thread.
func threadCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_THREAD, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
