package datapath_test

import (
	"crypto/sha256"
	"os/exec"
	"testing"
)

func (tp *topology) fwOut(args ...string) string {
	out, _ := exec.Command("ip", append([]string{"netns", "exec", tp.fw}, args...)...).CombinedOutput()
	return string(out)
}

func TestOffloadDebug(t *testing.T) {
	tp := newTopologyNamed(t, "ofl")
	rules := gatewayRules(t, t.TempDir())
	p := tp.runIpsift(t, rules)
	defer func() {
		t.Logf("ipsift log:\n%s", p.log.String())
		t.Logf("conntrack:\n%s", tp.fwOut("conntrack", "-L"))
		t.Logf("iptables:\n%s", tp.fwOut("iptables-save", "-c"))
		out, _ := p.ctlCmd(t, "stats")
		t.Logf("stats:\n%s", out)
		out, _ = p.ctlCmd(t, "conntrack")
		t.Logf("ctl conntrack:\n%s", out)
	}()
	body, err := tp.get("203.0.113.7", "198.51.100.1:80", "who")
	t.Logf("who: %q %v", body, err)
	body, err = tp.get("203.0.113.7", "198.51.100.1:80", "big")
	if err != nil || sha256.Sum256(body) != tp.bigSum {
		t.Errorf("big: %d bytes, %v", len(body), err)
	}
}
