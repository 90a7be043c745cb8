package conntrack

import "time"

// Timeouts are the conntrack timeouts, the kernel's sysctls
// net.netfilter.nf_conntrack_*_timeout*. A zero field means the kernel's
// default (given in brackets).
type Timeouts struct {
	TCPSynSent     time.Duration // tcp_timeout_syn_sent [120 s]
	TCPSynRecv     time.Duration // tcp_timeout_syn_recv [60 s]
	TCPEstablished time.Duration // tcp_timeout_established [5 days]
	TCPFinWait     time.Duration // tcp_timeout_fin_wait [120 s]
	TCPCloseWait   time.Duration // tcp_timeout_close_wait [60 s]
	TCPLastAck     time.Duration // tcp_timeout_last_ack [30 s]
	TCPTimeWait    time.Duration // tcp_timeout_time_wait [120 s]
	TCPClose       time.Duration // tcp_timeout_close [10 s]
	TCPSynSent2    time.Duration // SYN_SENT2 (simultaneous open), no sysctl [120 s]
	TCPMaxRetrans  time.Duration // tcp_timeout_max_retrans [300 s]
	TCPUnack       time.Duration // tcp_timeout_unacknowledged [300 s]
	UDP            time.Duration // udp_timeout [30 s]
	UDPStream      time.Duration // udp_timeout_stream [120 s]
	ICMP           time.Duration // icmp_timeout [30 s]
	ICMPv6         time.Duration // icmpv6_timeout [30 s]
	GRE            time.Duration // gre_timeout [30 s]
	GREStream      time.Duration // gre_timeout_stream [180 s]
	Generic        time.Duration // generic_timeout [600 s]
}

// DefaultTimeouts returns the kernel's default timeouts.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		TCPSynSent:     120 * time.Second,
		TCPSynRecv:     60 * time.Second,
		TCPEstablished: 5 * 24 * time.Hour,
		TCPFinWait:     120 * time.Second,
		TCPCloseWait:   60 * time.Second,
		TCPLastAck:     30 * time.Second,
		TCPTimeWait:    120 * time.Second,
		TCPClose:       10 * time.Second,
		TCPSynSent2:    120 * time.Second,
		TCPMaxRetrans:  300 * time.Second,
		TCPUnack:       300 * time.Second,
		UDP:            30 * time.Second,
		UDPStream:      120 * time.Second,
		ICMP:           30 * time.Second,
		ICMPv6:         30 * time.Second,
		GRE:            30 * time.Second,
		GREStream:      180 * time.Second,
		Generic:        600 * time.Second,
	}
}

// DefaultMax is the table bound the kernel computes for the reference
// machine: nf_conntrack_init_start sizes the hash table at 262144
// buckets on any 64-bit machine with more than 4 GiB of memory (the
// reference has 24 GiB) and sets nf_conntrack_max to the same number.
const DefaultMax = 262144

// DefaultHZ is the reference kernel's tick rate (CONFIG_HZ=250). The
// kernel keeps timeouts in jiffies, so they expire on tick boundaries.
const DefaultHZ = 250

// Config configures a Table. Use DefaultConfig for the kernel's
// defaults; New fills in zero Max, HZ and Timeouts fields, but takes the
// booleans and MaxRetrans as given.
type Config struct {
	// Max bounds the number of connections (nf_conntrack_max), counting
	// unconfirmed ones as the kernel does. 0 means DefaultMax.
	Max int
	// HZ is the kernel tick rate timeouts are counted in; 0 means
	// DefaultHZ.
	HZ int
	// Loose is nf_conntrack_tcp_loose: pick up TCP connections from a
	// packet other than a SYN (default true).
	Loose bool
	// Liberal is nf_conntrack_tcp_be_liberal: only out-of-window RSTs are
	// INVALID (default false).
	Liberal bool
	// MaxRetrans is nf_conntrack_tcp_max_retrans (default 3).
	MaxRetrans int
	// Checksum is nf_conntrack_checksum: verify TCP, UDP and ICMP
	// checksums of packets that come in (Track), calling a packet with a
	// bad one INVALID (default true).
	Checksum bool
	// Timeouts; zero fields are the kernel's defaults.
	Timeouts Timeouts
	// Seed makes the choices the kernel makes at random reproducible:
	// the NAT port when the original one is taken (and --random).
	Seed uint64
}

// DefaultConfig returns the kernel's defaults: nf_conntrack_max 262144,
// HZ 250, tcp_loose 1, tcp_be_liberal 0, tcp_max_retrans 3, checksum 1,
// the default timeouts, seed 0.
func DefaultConfig() Config {
	return Config{
		Max:        DefaultMax,
		HZ:         DefaultHZ,
		Loose:      true,
		MaxRetrans: 3,
		Checksum:   true,
		Timeouts:   DefaultTimeouts(),
	}
}

// fill returns c with zero Max, HZ and timeouts replaced by defaults.
func (c Config) fill() Config {
	if c.Max <= 0 {
		c.Max = DefaultMax
	}
	if c.HZ <= 0 {
		c.HZ = DefaultHZ
	}
	d := DefaultTimeouts()
	t := &c.Timeouts
	for _, f := range []struct {
		v *time.Duration
		d time.Duration
	}{
		{&t.TCPSynSent, d.TCPSynSent}, {&t.TCPSynRecv, d.TCPSynRecv},
		{&t.TCPEstablished, d.TCPEstablished}, {&t.TCPFinWait, d.TCPFinWait},
		{&t.TCPCloseWait, d.TCPCloseWait}, {&t.TCPLastAck, d.TCPLastAck},
		{&t.TCPTimeWait, d.TCPTimeWait}, {&t.TCPClose, d.TCPClose},
		{&t.TCPSynSent2, d.TCPSynSent2}, {&t.TCPMaxRetrans, d.TCPMaxRetrans},
		{&t.TCPUnack, d.TCPUnack}, {&t.UDP, d.UDP}, {&t.UDPStream, d.UDPStream},
		{&t.ICMP, d.ICMP}, {&t.ICMPv6, d.ICMPv6}, {&t.GRE, d.GRE}, {&t.GREStream, d.GREStream},
		{&t.Generic, d.Generic},
	} {
		if *f.v <= 0 {
			*f.v = f.d
		}
	}
	return c
}

// jiffiesOf converts a timeout to jiffies as the kernel's sysctl does
// (seconds times HZ; finer durations are truncated to whole ticks).
func jiffiesOf(d time.Duration, hz int) int64 {
	return int64(d/time.Second)*int64(hz) + int64(d%time.Second)*int64(hz)/int64(time.Second)
}
