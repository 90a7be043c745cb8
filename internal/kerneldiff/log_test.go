package kerneldiff

import "testing"

// TestOwnPacket: only the outer IP ID of the kernel's own ICMP errors is
// left out of the comparison, and only where ipsift wrote 0.
func TestOwnPacket(t *testing.T) {
	for _, c := range []struct{ theirs, ours, want string }{
		{"p: IN= OUT=eth0 SRC=1.2.3.4 DST=5.6.7.8 LEN=72 TOS=0x00 PREC=0xC0 TTL=64 ID=39352 PROTO=ICMP TYPE=3 CODE=2 [SRC=5.6.7.8 DST=1.2.3.4 LEN=44 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=47 ]",
			"p: IN= OUT=eth0 SRC=1.2.3.4 DST=5.6.7.8 LEN=72 TOS=0x00 PREC=0xC0 TTL=64 ID=0 PROTO=ICMP TYPE=3 CODE=2 [SRC=5.6.7.8 DST=1.2.3.4 LEN=44 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=47 ]",
			"p: IN= OUT=eth0 SRC=1.2.3.4 DST=5.6.7.8 LEN=72 TOS=0x00 PREC=0xC0 TTL=64 ID=0 PROTO=ICMP TYPE=3 CODE=2 [SRC=5.6.7.8 DST=1.2.3.4 LEN=44 TOS=0x00 PREC=0x00 TTL=64 ID=1 PROTO=47 ]"},
		// A TCP packet's ID is compared.
		{"p: IN= OUT=eth0 SRC=1.2.3.4 DST=5.6.7.8 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=7 PROTO=TCP SPT=1 DPT=2 ",
			"p: IN= OUT=eth0 SRC=1.2.3.4 DST=5.6.7.8 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=0 PROTO=TCP SPT=1 DPT=2 ",
			"p: IN= OUT=eth0 SRC=1.2.3.4 DST=5.6.7.8 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=7 PROTO=TCP SPT=1 DPT=2 "},
		// An IPv6 line is compared whole: the host makes no automatic
		// flow labels.
		{"p: IN= OUT=eth0 SRC=a DST=b LEN=60 TC=0 HOPLIMIT=64 FLOWLBL=813 PROTO=TCP ",
			"p: IN= OUT=eth0 SRC=a DST=b LEN=60 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=TCP ",
			"p: IN= OUT=eth0 SRC=a DST=b LEN=60 TC=0 HOPLIMIT=64 FLOWLBL=813 PROTO=TCP "},
	} {
		if got := ownPacket(c.theirs, c.ours); got != c.want {
			t.Errorf("ownPacket(%q)\n = %q\nwant %q", c.theirs, got, c.want)
		}
	}
}
