package ext

import (
	"bytes"
	"testing"

	"github.com/ipsift/ipsift/packet"
)

func logLine(t *testing.T, opts string, c *Ctx) string {
	t.Helper()
	a := compileTarget(t, parseTarget(t, "LOG", opts, "filter", "INPUT", 0))
	var out bytes.Buffer
	c.Log = &out
	if v := a.Do(c); v != Continue {
		t.Fatalf("verdict %v", v)
	}
	return out.String()
}

func TestLogParse(t *testing.T) {
	for _, tc := range []struct{ in, save, print, printN string }{
		{"", "", " LOG level warn", " LOG flags 0 level 4"},
		{`--log-prefix "fw: " --log-level alert --log-uid`, ` --log-prefix "fw: " --log-level 1 --log-uid`, ` LOG level alert uid prefix "fw: "`, ` LOG flags 8 level 1 prefix "fw: "`},
		{"--log-level 7 --log-tcp-options --log-tcp-sequence --log-ip-options --log-macdecode", " --log-level 7 --log-tcp-sequence --log-tcp-options --log-ip-options --log-macdecode", " LOG level debug tcp-sequence tcp-options ip-options macdecode", " LOG flags 39 level 7"},
		{"--log-prefix 0123456789012345678901234567890123", " --log-prefix 01234567890123456789012345678", "", ""},
		{"--log-level error", " --log-level 3", " LOG level err", ""},
	} {
		tg, err := newTarget("LOG", tc.in, "filter", "INPUT", 0)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := saveTarget(tg); got != tc.save {
			t.Errorf("%q: save %q, want %q", tc.in, got, tc.save)
		}
		if got := printTarget(tg, false); tc.print != "" && got != tc.print {
			t.Errorf("%q: print %q, want %q", tc.in, got, tc.print)
		}
		if got := printTarget(tg, true); tc.printN != "" && got != tc.printN {
			t.Errorf("%q: print -n %q, want %q", tc.in, got, tc.printN)
		}
	}
	for _, bad := range []string{"--log-level 8", "--log-level bad", "--log-level Alert", `--log-prefix ""`} {
		if _, err := newTarget("LOG", bad, "filter", "INPUT", 0); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLogLine(t *testing.T) {
	eth0 := &Iface{Name: "eth0", MAC: [6]byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}}
	syn := mkTCP("198.51.100.7", "192.0.2.1", ipOpts{id: 4321, frag: 0x4000, tos: 0x10},
		tcpOpts{sport: 40000, dport: 22, seq: 7, flags: packet.TCPSyn, win: 64240, opts: []byte{2, 4, 5, 0xb4}})
	c := &Ctx{Pkt: syn, In: eth0, HasMAC: true, SrcMAC: [6]byte{2, 0, 0, 0, 0, 1}, UID: -1}
	want := "IN=eth0 OUT= MAC=52:54:00:12:34:56:02:00:00:00:00:01:08:00 SRC=198.51.100.7 DST=192.0.2.1 LEN=44 TOS=0x10 PREC=0x00 TTL=64 ID=4321 DF PROTO=TCP SPT=40000 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0 \n"
	if got := logLine(t, "", c); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	c.Mark = 0x2a
	want = `fw: IN=eth0 OUT= MACSRC=02:00:00:00:00:01 MACDST=52:54:00:12:34:56 MACPROTO=0800 SRC=198.51.100.7 DST=192.0.2.1 LEN=44 TOS=0x10 PREC=0x00 TTL=64 ID=4321 DF PROTO=TCP SPT=40000 DPT=22 SEQ=7 ACK=0 WINDOW=64240 RES=0x00 SYN URGP=0 OPT (020405B4) MARK=0x2a ` + "\n"
	if got := logLine(t, `--log-prefix "fw: " --log-tcp-sequence --log-tcp-options --log-macdecode`, c); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}

	// OUTPUT: no MAC, UID when the socket is known; UDP.
	u := mkUDP("192.0.2.1", "203.0.113.9", 5353, 53, []byte("q"))
	c = &Ctx{Pkt: u, Out: &Iface{Name: "eth1"}, UID: 1000, GID: 100}
	want = "IN= OUT=eth1 SRC=192.0.2.1 DST=203.0.113.9 LEN=29 TOS=0x00 PREC=0x00 TTL=64 ID=0 PROTO=UDP SPT=5353 DPT=53 LEN=9 UID=1000 GID=100 \n"
	if got := logLine(t, "--log-uid", c); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}

	// An ICMP error quotes the packet, dumped once inside [ ].
	inner := mkUDP("192.0.2.1", "203.0.113.9", 5353, 53, nil)
	e := mkICMP("203.0.113.9", "192.0.2.1", 3, 3, append([]byte{0, 0, 0, 0}, inner.Data...))
	c = &Ctx{Pkt: e, In: &Iface{Name: "tun0"}, UID: -1}
	want = "IN=tun0 OUT= MAC= SRC=203.0.113.9 DST=192.0.2.1 LEN=56 TOS=0x00 PREC=0x00 TTL=64 ID=0 PROTO=ICMP TYPE=3 CODE=3 [SRC=192.0.2.1 DST=203.0.113.9 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=0 PROTO=UDP SPT=5353 DPT=53 LEN=8 ] \n"
	if got := logLine(t, "", c); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}

	// A later fragment stops after PROTO; a short TCP header ends the line.
	frag := mkTCP("198.51.100.7", "192.0.2.1", ipOpts{frag: 0x2000 | 185}, tcpOpts{})
	c = &Ctx{Pkt: frag, UID: -1, Mark: 1}
	want = "IN= OUT= SRC=198.51.100.7 DST=192.0.2.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=0 MF FRAG:185 PROTO=TCP MARK=0x1 \n"
	if got := logLine(t, "", c); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	short := mkIPv4("198.51.100.7", "192.0.2.1", ipOpts{proto: 6}, []byte{1, 2, 3})
	c = &Ctx{Pkt: short, UID: -1, Mark: 1}
	want = "IN= OUT= SRC=198.51.100.7 DST=192.0.2.1 LEN=23 TOS=0x00 PREC=0x00 TTL=64 ID=0 PROTO=TCP INCOMPLETE [3 bytes] \n"
	if got := logLine(t, "", c); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	echo := mkICMP("198.51.100.7", "192.0.2.1", 8, 0, []byte{0, 7, 0, 1})
	c = &Ctx{Pkt: echo, UID: -1}
	want = "IN= OUT= SRC=198.51.100.7 DST=192.0.2.1 LEN=28 TOS=0x00 PREC=0x00 TTL=64 ID=0 PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1 \n"
	if got := logLine(t, "", c); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

func TestLogNoAlloc(t *testing.T) {
	syn := mkTCP("198.51.100.7", "192.0.2.1", ipOpts{}, tcpOpts{flags: packet.TCPSyn})
	a := compileTarget(t, parseTarget(t, "LOG", "--log-prefix x", "filter", "INPUT", 0))
	c := &Ctx{Pkt: syn, Log: discard{}, In: &Iface{Name: "eth0"}, UID: -1}
	a.Do(c)
	if n := testing.AllocsPerRun(100, func() { a.Do(c) }); n != 0 {
		t.Errorf("%v allocations per packet", n)
	}
}
