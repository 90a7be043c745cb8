package ipset

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// kernelScript is ipset commands over the set types this kernel has,
// with initval pinned so that save and list can be compared byte for
// byte (members sorted: the kernel lists in hash order).
var kernelScript = []string{
	"create a hash:ip family inet hashsize 128 maxelem 1000 timeout 600 counters comment skbinfo initval 0x11111111",
	"add a 192.0.2.3 timeout 500 packets 3 bytes 4 comment \"hi there\" skbmark 0x10/0xff skbprio 1:2 skbqueue 3",
	"add a 192.0.2.10-192.0.2.13",
	"add a 198.51.100.0/30 timeout 0",
	"create b hash:net initval 0x22222222",
	"add b 192.0.2.0/25 nomatch",
	"add b 203.0.113.1-203.0.113.9",
	"add b 198.51.100.7",
	"create c hash:ip,port initval 0x33333333",
	"add c 192.0.2.1,icmp:echo-request",
	"add c 192.0.2.1,udp:53-55",
	"add c 192.0.2.1,icmp:3/13",
	"add c 192.0.2.1,gre:0",
	"add c 192.0.2.2,80",
	"create d hash:net,port family inet hashsize 64 initval 0x44444444",
	"add d 192.0.2.0/24,tcp:22",
	"add d 198.51.100.0/28,sctp:9 nomatch",
	"create e hash:ip,port,ip initval 0x55555555",
	"add e 192.0.2.1,tcp:80,198.51.100.1",
	"create f hash:ip,port,net initval 0x66666666 counters",
	"add f 192.0.2.1,udp:53,198.51.100.0/24 packets 7 bytes 900",
	"create g hash:net,iface initval 0x77777777",
	"add g 192.0.2.0/24,eth0",
	"add g 198.51.100.0/24,physdev:wlan0 nomatch",
	"create h hash:ip family inet6 netmask 64 initval 0x88888888",
	"add h 2001:db8::1",
	"add h 2001:db8:1::5",
	"create i hash:net family inet6 initval 0x99999999",
	"add i 2001:db8::/32",
	"add i 2001:db8:1::1 nomatch",
	"create j bitmap:ip range 192.0.2.0/24 netmask 28 timeout 100",
	"add j 192.0.2.17",
	"create k bitmap:ip,mac range 198.51.100.0-198.51.100.255 comment",
	"add k 198.51.100.8,00:11:22:aa:bb:cc comment \"x\"",
	"add k 198.51.100.9",
	"create l bitmap:port range 0-1024 counters",
	"add l 80",
	"add l tcp:20-22",
	"create m list:set size 4",
	"add m a",
	"add m b before a",
	"create n hash:ip,port family inet hashsize 1024 netmask 24 initval 0xaaaaaaaa",
	"add n 192.0.2.77,tcp:1",
	"create o hash:ip bitmask 255.255.0.255 initval 0xbbbbbbbb",
	"add o 192.0.2.77",
}

var maskTimeout = regexp.MustCompile(`timeout [0-9]+`)

// normalize masks what the kernel decides and ipsift does not reproduce
// (Size in memory) or what moves with time (timeouts remaining), and
// sorts the members of each set.
func normalize(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var out, members []string
	inMembers := false
	flushMembers := func() {
		sort.Strings(members)
		out = append(out, members...)
		members = nil
	}
	for _, l := range lines {
		l = maskTimeout.ReplaceAllString(l, "timeout x")
		switch {
		case strings.HasPrefix(l, "Size in memory"):
			continue
		case l == "Members:":
			inMembers = true
			out = append(out, l)
			continue
		case l == "" || strings.HasPrefix(l, "create "):
			flushMembers()
			inMembers = false
		case strings.HasPrefix(l, "add "), inMembers:
			members = append(members, l)
			continue
		}
		out = append(out, l)
	}
	flushMembers()
	return strings.Join(out, "\n")
}

func TestKernelSaveList(t *testing.T) {
	need := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	if os.Geteuid() != 0 {
		need("needs root")
	}
	if _, err := exec.LookPath("ipset"); err != nil {
		need("needs ipset (apt-get install ipset)")
	}
	ns := fmt.Sprintf("ipsift-t-%d-ipset", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		need("cannot create a namespace: " + string(out))
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	kipset := func(stdin string, args ...string) (string, error) {
		c := exec.Command("ip", append([]string{"netns", "exec", ns, "ipset"}, args...)...)
		c.Stdin = strings.NewReader(stdin)
		var o, e bytes.Buffer
		c.Stdout, c.Stderr = &o, &e
		err := c.Run()
		if err != nil {
			return o.String(), fmt.Errorf("%v: %s", err, e.String())
		}
		return o.String(), nil
	}
	if _, err := kipset(strings.Join(kernelScript, "\n")+"\n", "restore"); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	c := &Cmd{R: NewRegistry(), Now: func() int64 { return 0 }, Stdout: &stdout, Stderr: &stderr}
	if err := c.Restore(strings.NewReader(strings.Join(kernelScript, "\n")), false); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"save"}, {"list"}, {"list", "-t"}, {"list", "-n"}, {"list", "-o", "save"}, {"save", "b"}, {"list", "m"}} {
		want, err := kipset("", args...)
		if err != nil {
			t.Fatal(err)
		}
		stdout.Reset()
		if rc := c.Run(args); rc != 0 {
			t.Fatalf("ipset %v: exit %d: %s", args, rc, stderr.String())
		}
		if g, w := normalize(stdout.String()), normalize(want); g != w {
			t.Errorf("ipset %v differs from the kernel's:\n--- ipsift\n%s\n--- kernel\n%s", args, g, w)
		}
	}
}
