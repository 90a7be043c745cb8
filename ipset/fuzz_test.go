package ipset

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// FuzzRestore feeds arbitrary `ipset restore` input to the parser and the
// set types behind it. Nothing may panic, and whatever was loaded must
// survive a round trip: its `ipset save` output restores into an empty
// registry without error and saves to the same text, as ipset's own
// save/restore pair does.
func FuzzRestore(f *testing.F) {
	for _, seed := range []string{
		"create bl hash:net counters\nadd bl 203.0.113.0/24\nadd bl 203.0.113.0/28 nomatch\n",
		"create svc hash:ip,port timeout 600\nadd svc 198.51.100.1,tcp:22 timeout 30\nadd svc 192.0.2.1,tcp:80-81\n",
		"create lan hash:net,iface\nadd lan 192.0.2.0/24,wlan0\nadd lan 198.51.100.0/25,eth0 nomatch\n",
		"create low bitmap:port range 0-1024\nadd low 22\nadd low 500-510\n",
		"create m bitmap:ip range 192.0.2.0/24 netmask 28\nadd m 192.0.2.16-192.0.2.40\n",
		"create v6 hash:net family inet6 maxelem 10\nadd v6 2001:db8::/48\nadd v6 2001:db8:1::1\n",
		"create a hash:ip\ncreate b hash:ip\ncreate l list:set size 4\nadd l a\nadd l b before a\nswap a b\n",
		"create c hash:ip,port,net comment\nadd c 192.0.2.1,udp:53,198.51.100.0/24 comment \"dns\"\n",
		"create k hash:ip,mark markmask 0xff\nadd k 192.0.2.1,0x10\n",
		"create s hash:ip skbinfo\nadd s 192.0.2.9 skbmark 0x1/0xff skbprio 1:2 skbqueue 3\n",
		"-exist\ncreate x hash:mac\nadd x 02:00:00:00:00:01\nflush x\ndestroy x\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if len(in) > 1<<14 {
			return // ranges are expanded: keep each input's work bounded
		}
		now := func() int64 { return 0 }
		r := NewRegistry()
		c := &Cmd{R: r, Now: now, Stdout: io.Discard, Stderr: io.Discard}
		_ = c.Restore(strings.NewReader(in), false)
		var saved bytes.Buffer
		if err := r.Save(&saved, "", 0); err != nil {
			return
		}
		r2 := NewRegistry()
		c2 := &Cmd{R: r2, Now: now, Stdout: io.Discard, Stderr: io.Discard}
		if err := c2.Restore(bytes.NewReader(saved.Bytes()), false); err != nil {
			t.Fatalf("the save of what loaded does not restore: %v\ninput:\n%s\nsave:\n%s", err, in, saved.String())
		}
		var again bytes.Buffer
		if err := r2.Save(&again, "", 0); err != nil {
			t.Fatalf("saving the restored save: %v", err)
		}
		if again.String() != saved.String() {
			t.Fatalf("save, restore, save differs:\ninput:\n%s\nfirst:\n%s\nsecond:\n%s", in, saved.String(), again.String())
		}
	})
}
