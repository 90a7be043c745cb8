package datapath

import (
	"strings"
	"testing"
)

func TestParseQueues(t *testing.T) {
	for _, c := range []struct {
		spec  string
		count uint
		first uint16
		n     uint16
		err   string
	}{
		{"0", 0, 0, 1, ""},
		{"7", 0, 7, 1, ""},
		{"0:1", 0, 0, 2, ""},
		{"4:7", 0, 4, 4, ""},
		{"3", 2, 3, 2, ""},
		{"65535", 0, 65535, 1, ""},
		{"0:16", 0, 0, 0, "at most 16"},
		{"65535", 2, 0, 0, "up to 65535"},
		{"2:1", 0, 0, 0, "below the first"},
		{"0:1", 2, 0, 0, "not both"},
		{"x", 0, 0, 0, "want a number"},
		{"65536", 0, 0, 0, "want a number"},
		{"1:", 0, 0, 0, "want a number"},
	} {
		first, n, err := ParseQueues(c.spec, c.count)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseQueues(%q, %d) = %d, %d, %v; want an error with %q", c.spec, c.count, first, n, err, c.err)
			}
			continue
		}
		if err != nil || first != c.first || n != c.n {
			t.Errorf("ParseQueues(%q, %d) = %d, %d, %v; want %d, %d", c.spec, c.count, first, n, err, c.first, c.n)
		}
	}
}

// TestKernelRulesQueues: one queue keeps the rules as they were; several
// are balanced (or fanned out by CPU), and each worker's second passes
// come back to its own queue by the worker bits of the mark.
func TestKernelRulesQueues(t *testing.T) {
	one := kernelRules("IPSIFT", queueSpec{first: 3, n: 1}, false, 0, false, offloadOff)
	for _, want := range []string{
		"-A IPSIFT-PRE -j NFQUEUE --queue-num 3\n",
		"-A IPSIFT-OUT -j NFQUEUE --queue-num 3\n",
		"-A IPSIFT-POST -m mark --mark 0xc0000000/0xfc000000 -j NFQUEUE --queue-num 3\n",
	} {
		if !strings.Contains(one, want) {
			t.Errorf("one queue: no %q in\n%s", want, one)
		}
	}
	two := kernelRules("IPSIFT", queueSpec{first: 4, n: 2, cpuFanout: true}, true, 22, false, offloadOff)
	for _, want := range []string{
		"-A IPSIFT-PRE -j NFQUEUE --queue-balance 4:5 --queue-cpu-fanout --queue-bypass\n",
		"-A IPSIFT-OUT -j NFQUEUE --queue-balance 4:5 --queue-cpu-fanout --queue-bypass\n",
		"-A IPSIFT-POST -m mark --mark 0xc0000000/0xfc000000 -j NFQUEUE --queue-num 4 --queue-bypass\n",
		"-A IPSIFT-POST -m mark --mark 0xc4000000/0xfc000000 -j NFQUEUE --queue-num 5 --queue-bypass\n",
	} {
		if !strings.Contains(two, want) {
			t.Errorf("two queues: no %q in\n%s", want, two)
		}
	}
	if strings.Contains(two, "--src-type LOCAL") {
		t.Errorf("local sources queued before the exemption without --one-pass:\n%s", two)
	}
	// --one-pass: a local source from outside is queued (and dropped as
	// a martian) before the exemption could leave it to the kernel.
	op := kernelRules("IPSIFT", queueSpec{first: 0, n: 1}, false, 22, true, offloadOff)
	want := "-A IPSIFT-PRE ! -i lo -m addrtype --src-type LOCAL -j CT --notrack\n-A IPSIFT-PRE ! -i lo -m addrtype --src-type LOCAL -j NFQUEUE --queue-num 0\n-A IPSIFT-PRE -p tcp --dport 22 -m addrtype --dst-type LOCAL -j RETURN\n"
	if !strings.Contains(op, want) {
		t.Errorf("--one-pass with --exempt-port: no\n%s\nin\n%s", want, op)
	}
	// --one-pass with offload: the local source is queued before the
	// segments offload lets through raw to the kernel's conntrack.
	oo := kernelRules("IPSIFT", queueSpec{first: 0, n: 2}, false, 0, true, offloadOn)
	want = "-A IPSIFT-PRE ! -i lo -m addrtype --src-type LOCAL -j CT --notrack\n-A IPSIFT-PRE ! -i lo -m addrtype --src-type LOCAL -j NFQUEUE --queue-balance 0:1\n-A IPSIFT-PRE -p tcp -m tcp --tcp-flags SYN,FIN,RST NONE -j ACCEPT\n"
	if !strings.Contains(oo, want) {
		t.Errorf("--one-pass with offload: no\n%s\nin\n%s", want, oo)
	}
	// Offload's mangle rules queue to every queue.
	if o := offloadRules("IPSIFT", queueTarget(queueSpec{first: 0, n: 2}, true), offloadOn); !strings.Contains(o, "-A IPSIFT-CPRE -m conntrack --ctstate INVALID -j NFQUEUE --queue-balance 0:1 --queue-bypass\n") {
		t.Errorf("offload rules with two queues:\n%s", o)
	}
}
