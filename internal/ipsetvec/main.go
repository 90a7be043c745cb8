// Command ipsetvec is the stand-in for the commands ipset's own test
// vectors call (../shared/conformance/ipset-t, run by package ipset's
// TestConformance): ipset, iptables and ip6tables acting on state
// files instead of the kernel, and sendip sending a packet through the
// engine with those rules and sets, the LOG target's lines going to a
// file in place of the kernel log. Time is a simulated clock (the
// vectors' sleep moves it).
//
//	ipsetvec ipset ARGS...        the ipset command
//	ipsetvec iptables ARGS...     one iptables command (ip6tables too)
//	ipsetvec sendip ARGS...       sendip's options used by the vectors
//	ipsetvec expand ADDR          an IPv6 address written out in full
//
// State, named by the environment: IPSIFT_IPSET_STATE (the sets, as
// ipset save prints them after a "# clock MS" line), IPSIFT_IPSET_CLOCK
// (the clock in milliseconds), IPSIFT_VEC_RULES (the IPv4 rules,
// iptables-save; the IPv6 rules in the same name with ".6"),
// IPSIFT_VEC_KLOG (the log).
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ipsift/ipsift/engine"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/host"
	"github.com/ipsift/ipsift/ipset"
	"github.com/ipsift/ipsift/load"
	"github.com/ipsift/ipsift/packet"
	"github.com/ipsift/ipsift/rules"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ipsetvec ipset|iptables|ip6tables|sendip ARGS...")
		os.Exit(2)
	}
	args := os.Args[2:]
	var rc int
	switch os.Args[1] {
	case "ipset":
		rc = ipsetCmd(args)
	case "iptables":
		rc = iptablesCmd(ext.IPv4, args)
	case "ip6tables":
		rc = iptablesCmd(ext.IPv6, args)
	case "sendip":
		rc = sendip(args)
	case "expand":
		// an IPv6 address written out in full, as LOG prints it
		a, err := netip.ParseAddr(strings.Join(args, ""))
		if err != nil {
			rc = 2
			break
		}
		fmt.Println(a.StringExpanded())
	default:
		fmt.Fprintln(os.Stderr, "ipsetvec: unknown command", os.Args[1])
		rc = 2
	}
	os.Exit(rc)
}

// now is the simulated clock, in engine nanoseconds.
func now() int64 {
	b, _ := os.ReadFile(os.Getenv("IPSIFT_IPSET_CLOCK"))
	ms, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return ms * int64(time.Millisecond)
}

// loadSets reads the sets as they were saved, at the clock of the save,
// with the references the rules hold.
func loadSets() (*ipset.Registry, error) {
	r := ipset.NewRegistry()
	b, _ := os.ReadFile(os.Getenv("IPSIFT_IPSET_STATE"))
	var at int64
	if line, _, ok := bytes.Cut(b, []byte("\n")); ok && bytes.HasPrefix(line, []byte("# clock ")) {
		at, _ = strconv.ParseInt(string(line[8:]), 10, 64)
	}
	c := &ipset.Cmd{R: r, Now: func() int64 { return at }, Stdout: io.Discard, Stderr: io.Discard}
	if err := c.Restore(bytes.NewReader(b), false); err != nil {
		return nil, fmt.Errorf("cannot load the sets: %v", err)
	}
	for _, fam := range []ext.Family{ext.IPv4, ext.IPv6} {
		if rs, err := loadRules(fam); err == nil {
			load.RefSets(rs, r, 1)
		}
	}
	return r, nil
}

func saveSets(r *ipset.Registry) error {
	var out bytes.Buffer
	t := now()
	fmt.Fprintf(&out, "# clock %d\n", t)
	if err := r.Save(&out, "", t); err != nil {
		return err
	}
	return os.WriteFile(os.Getenv("IPSIFT_IPSET_STATE"), out.Bytes(), 0o644)
}

func rulesPath(fam ext.Family) string {
	p := os.Getenv("IPSIFT_VEC_RULES")
	if fam == ext.IPv6 {
		p += ".6"
	}
	return p
}

func loadRules(fam ext.Family) (*rules.Ruleset, error) {
	rs := rules.New()
	rs.Family = fam
	b, err := os.ReadFile(rulesPath(fam))
	if os.IsNotExist(err) {
		return rs, nil
	}
	if err != nil {
		return nil, err
	}
	if d, err := rs.Restore(bytes.NewReader(b), rules.RestoreOptions{File: rulesPath(fam)}); err != nil || d.HasErrors() {
		return nil, fmt.Errorf("cannot load the rules: %v %v", err, d)
	}
	return rs, nil
}

func ipsetCmd(args []string) int {
	r, err := loadSets()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipsetvec:", err)
		return 99
	}
	bw := bufio.NewWriter(os.Stdout)
	c := &ipset.Cmd{R: r, Now: now, Stdin: os.Stdin, Stdout: bw, Stderr: os.Stderr}
	rc := c.Run(args)
	bw.Flush()
	if err := saveSets(r); err != nil {
		fmt.Fprintln(os.Stderr, "ipsetvec:", err)
		return 99
	}
	return rc
}

// iptablesCmd applies one command as iptables does: a bad command line
// exits 2, a rule the kernel refuses (a set that does not exist) 1.
func iptablesCmd(fam ext.Family, args []string) int {
	tool := "iptables"
	if fam == ext.IPv6 {
		tool = "ip6tables"
	}
	rs, err := loadRules(fam)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipsetvec:", err)
		return 99
	}
	sets, err := loadSets()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipsetvec:", err)
		return 99
	}
	cmd, err := rules.ParseCommand(rules.Words(args), rules.ParseOptions{Family: fam})
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", tool, err)
		return 2
	}
	if err := rs.Apply(cmd); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", tool, err)
		return 1
	}
	if d := load.CheckSets(rs, sets); d.HasErrors() {
		fmt.Fprintf(os.Stderr, "%s: %v\n", tool, d.Err())
		return 1
	}
	var b bytes.Buffer
	if err := rs.Save(&b, rules.SaveOptions{}); err != nil {
		return 99
	}
	if err := os.WriteFile(rulesPath(fam), b.Bytes(), 0o644); err != nil {
		return 99
	}
	return 0
}

// The host the vectors' packets are sent on: loopback, and an eth0 on
// whose link 10.255.255.0/24 and 1002:1002:1002:1002::/64 lie.
const hostText = `iface lo 127.0.0.1/8 ::1/128
iface eth0 192.0.2.1/24 2001:db8::1/64 mac 02:00:00:00:00:01 peer 02:00:00:00:01:01
route 10.255.255.0/24 dev eth0
route 1002:1002:1002:1002::/64 dev eth0
`

// sendip sends one packet from this host as the vectors' sendip lines
// describe it (-p ipv4|ipv6, -is/-id or -6s/-6d, -p tcp|udp|icmp with
// -ts/-td, -us/-ud, -ct/-cd, -d rN for N bytes of data, the destination
// last) through the engine, with the rules and sets of the state; the
// sets' changes are kept and the LOG lines appended to the log.
func sendip(args []string) int {
	var d packet.Desc
	fam := ext.IPv4
	six := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		val := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch a {
		case "-p":
			switch v := val(); v {
			case "ipv4":
			case "ipv6":
				fam, six = ext.IPv6, true
			case "tcp":
				d.Proto = packet.ProtoTCP
			case "udp":
				d.Proto = packet.ProtoUDP
			case "icmp":
				d.Proto = packet.ProtoICMP
				if six {
					d.Proto = packet.ProtoICMPv6
				}
			default:
				fmt.Fprintln(os.Stderr, "sendip: unknown protocol", v)
				return 2
			}
		case "-is", "-6s":
			d.Src, _ = netip.ParseAddr(val())
		case "-id", "-6d":
			d.Dst, _ = netip.ParseAddr(val())
		case "-ts", "-us":
			p, _ := strconv.Atoi(val())
			d.Sport = uint16(p)
		case "-td", "-ud":
			p, _ := strconv.Atoi(val())
			d.Dport = uint16(p)
		case "-ct":
			t, _ := strconv.Atoi(val())
			d.Type = uint8(t)
		case "-cd":
			c, _ := strconv.Atoi(val())
			d.Code = uint8(c)
		case "-d":
			n, _ := strconv.Atoi(strings.TrimPrefix(val(), "r"))
			d.Len = n
		default:
			if strings.HasPrefix(a, "-") {
				fmt.Fprintln(os.Stderr, "sendip: unknown option", a)
				return 2
			}
			// the destination the packet is sent to
		}
	}
	d.Local = true
	data, err := d.Build(0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sendip:", err)
		return 2
	}
	rs, err := loadRules(fam)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipsetvec:", err)
		return 99
	}
	sets, err := loadSets()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipsetvec:", err)
		return 99
	}
	h, err := host.Parse(strings.NewReader(hostText), "vector host")
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipsetvec:", err)
		return 99
	}
	e, err := engine.New(rs, h, engine.Config{Sets: sets})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ipsetvec: the engine refuses the rules:", err)
		return 99
	}
	var log bytes.Buffer
	e.Log = &log
	e.Process(engine.NewState(), &engine.Input{Data: data, Local: true, Now: now()})
	if f, err := os.OpenFile(os.Getenv("IPSIFT_VEC_KLOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		f.Write(log.Bytes())
		f.Close()
	}
	if err := saveSets(sets); err != nil {
		fmt.Fprintln(os.Stderr, "ipsetvec:", err)
		return 99
	}
	return 0
}
