package ipset

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// kernelNS makes a network namespace for the test (removed at its end)
// and returns a function running ipset there; it skips (fails in CI)
// without root or ipset.
func kernelNS(t *testing.T, tag string) func(stdin string, args ...string) (string, error) {
	t.Helper()
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
	ns := fmt.Sprintf("ipsift-t-%d-%s", os.Getpid(), tag)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		need("cannot create a namespace: " + string(out))
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	return func(stdin string, args ...string) (string, error) {
		c := exec.Command("ip", append([]string{"netns", "exec", ns, "ipset"}, args...)...)
		c.Stdin = strings.NewReader(stdin)
		var o, e bytes.Buffer
		c.Stdout, c.Stderr = &o, &e
		if err := c.Run(); err != nil {
			return o.String(), fmt.Errorf("%v: %s", err, e.String())
		}
		return o.String(), nil
	}
}

// orderScript is sets of every hash type this kernel has, initval
// pinned and small tables with small buckets, so that elements collide,
// buckets grow and shrink and tables double; with deletions between the
// adds. Generated from a fixed seed.
func orderScript() string {
	rng := rand.New(rand.NewSource(11))
	var b strings.Builder
	v4 := func() string { return fmt.Sprintf("192.0.2.%d", rng.Intn(256)) }
	v4b := func() string { return fmt.Sprintf("198.51.100.%d", rng.Intn(256)) }
	v6 := func() string { return fmt.Sprintf("2001:db8::%x:%x", rng.Intn(4), rng.Intn(65536)) }
	port := func() string {
		return []string{"tcp", "udp", "sctp"}[rng.Intn(3)] + fmt.Sprintf(":%d", 1+rng.Intn(2000))
	}
	gen := map[string]func() string{
		"hash:ip/inet":           v4,
		"hash:ip/inet6":          v6,
		"hash:net/inet":          func() string { return fmt.Sprintf("%s/%d", v4(), 20+rng.Intn(13)) },
		"hash:net/inet6":         func() string { return fmt.Sprintf("%s/%d", v6(), 64+rng.Intn(65)) },
		"hash:ip,port/inet":      func() string { return v4() + "," + port() },
		"hash:ip,port/inet6":     func() string { return v6() + "," + port() },
		"hash:net,port/inet":     func() string { return fmt.Sprintf("%s/%d,%s", v4(), 24+rng.Intn(9), port()) },
		"hash:ip,port,ip/inet":   func() string { return v4() + "," + port() + "," + v4b() },
		"hash:ip,port,net/inet":  func() string { return fmt.Sprintf("%s,%s,%s/%d", v4(), port(), v4b(), 24+rng.Intn(9)) },
		"hash:ip,port,net/inet6": func() string { return fmt.Sprintf("%s,%s,%s/%d", v6(), port(), v6(), 100+rng.Intn(29)) },
		"hash:net,iface/inet": func() string {
			return fmt.Sprintf("%s/%d,%seth%d", v4(), 28+rng.Intn(5), []string{"", "physdev:"}[rng.Intn(2)], rng.Intn(40))
		},
	}
	names := []string{"hash:ip/inet", "hash:ip/inet6", "hash:net/inet", "hash:net/inet6", "hash:ip,port/inet", "hash:ip,port/inet6",
		"hash:net,port/inet", "hash:ip,port,ip/inet", "hash:ip,port,net/inet", "hash:ip,port,net/inet6", "hash:net,iface/inet"}
	for i, n := range names {
		typ, fam, _ := strings.Cut(n, "/")
		fmt.Fprintf(&b, "create s%d %s family %s hashsize 64 bucketsize 4 initval 0x%08x\n", i, typ, fam, rng.Uint32())
		var added []string
		for j := 0; j < 300; j++ {
			if len(added) > 0 && rng.Intn(4) == 0 {
				k := rng.Intn(len(added))
				fmt.Fprintf(&b, "del s%d %s\n", i, added[k])
				added = append(added[:k], added[k+1:]...)
				continue
			}
			e := gen[n]()
			added = append(added, e)
			fmt.Fprintf(&b, "add s%d %s\n", i, e)
		}
	}
	return b.String()
}

// The kernel lists a hash set's members in its buckets' order, which
// ipsift reproduces for a pinned initval: save compared byte for byte,
// members unsorted, with tables that grew (hashsize printed) and
// buckets that were compacted by deletions.
func TestKernelHashOrder(t *testing.T) {
	kipset := kernelNS(t, "order")
	script := orderScript()
	if _, err := kipset(script, "-exist", "restore"); err != nil {
		t.Fatal(err)
	}
	want, err := kipset("", "save")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	c := &Cmd{R: NewRegistry(), Now: func() int64 { return 0 }, Stdout: &stdout, Stderr: &stderr}
	if err := c.Restore(strings.NewReader(script), true); err != nil {
		t.Fatal(err)
	}
	if rc := c.Run([]string{"save"}); rc != 0 {
		t.Fatal(stderr.String())
	}
	diffSets(t, stdout.String(), want)
}

// diffSets reports the first difference between two saves, set by set.
func diffSets(t *testing.T, got, want string) {
	t.Helper()
	if got == want {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			t.Fatalf("save differs from the kernel's at line %d:\nipsift: %s\nkernel: %s", i+1, gl, wl)
		}
	}
}

// forceadd evicts from the new element's own bucket: the first element
// there, and an add whose bucket is empty fails ("Hash is full") though
// the set has forceadd. Which adds fail and what remains depend on
// initval; both are compared with the kernel's, add by add.
func TestKernelForceadd(t *testing.T) {
	kipset := kernelNS(t, "force")
	create := "create f hash:ip hashsize 64 maxelem 40 forceadd initval 0x1234abcd"
	if _, err := kipset("", strings.Fields(create)...); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	c := &Cmd{R: NewRegistry(), Now: func() int64 { return 0 }, Stdout: &stdout, Stderr: &stderr}
	if rc := c.Run(strings.Fields(create)); rc != 0 {
		t.Fatal(stderr.String())
	}
	fails := 0
	for i := 0; i < 120; i++ {
		args := []string{"add", "f", fmt.Sprintf("192.0.2.%d", i+1)}
		_, kerr := kipset("", args...)
		stderr.Reset()
		rc := c.Run(args)
		if (kerr != nil) != (rc != 0) {
			t.Fatalf("ipset %v: kernel %v, ipsift exit %d %s", args, kerr, rc, stderr.String())
		}
		if kerr != nil {
			fails++
		}
	}
	if fails == 0 {
		t.Fatal("no add found its bucket empty: the test does not test that case")
	}
	want, err := kipset("", "save")
	if err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	c.Run([]string{"save"})
	diffSets(t, stdout.String(), want)
}

// A set of many regions (hashsize 32768: 32 of them) filled by one
// big CIDR stops at maxelem exactly, as the kernel's does, though a
// region below its share could take more.
func TestKernelMaxelemRegions(t *testing.T) {
	kipset := kernelNS(t, "maxelem")
	cmds := []string{"create c hash:ip hashsize 32768 maxelem 65536 initval 0x1596e450", "add c 10.0.0.0/15"}
	c := &Cmd{R: NewRegistry(), Now: func() int64 { return 0 }, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	for _, l := range cmds {
		_, kerr := kipset("", strings.Fields(l)...)
		if rc := c.Run(strings.Fields(l)); (rc == 0) != (kerr == nil) {
			t.Fatalf("%s: kernel %v, ipsift exit %d", l, kerr, rc)
		}
	}
	out, err := kipset("", "list", "-t", "c")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("Number of entries: %d", c.R.Get("c").d.t.live)
	if !strings.Contains(out, want) {
		t.Errorf("kernel:\n%s\nipsift: %s", out, want)
	}
}
