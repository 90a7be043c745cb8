package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/datapath"
	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/rules"
)

// defaultControl is where ipsift run listens for ipsift ctl.
const defaultControl = "/run/ipsift.sock"

// The control protocol: the client sends one line (a command and its
// arguments), the server answers "ok" or "error" on the first line, then
// the output, and closes the connection.

func init() {
	fs := newFlags("ctl")
	path := fs.String("control", defaultControl, "control socket of the running ipsift run")
	count := fs.Int("count", 100, "trace: stop after this many packets (0: no limit)")
	seconds := fs.Int("seconds", 60, "trace: stop after this many seconds (0: no limit)")
	quiet := fs.Bool("quiet", false, "trace: leave out the rules that did not match")
	exact := fs.Bool("x", false, "list: exact counters, without K, M, G (as iptables -x)")
	register(&command{
		name: "ctl", args: "list|conntrack|stats|reload [FILE]|trace [FILTER]|ipset ARGS...",
		summary: "Ask a running 'ipsift run': list (counters, as iptables -L -v -n), conntrack (as conntrack -L),\nstats (packets, verdicts, queue drops, engine time), reload [FILE] (atomic; a bad file is refused, the old rules stay;\nsets keep their contents), " +
			"trace [FILTER] (live traces of matching packets, as ipsift trace prints them; --count, --seconds, --quiet),\n" +
			"ipset ARGS... (the ipset command on the running sets: list, add, del, test, create, flush, save, ...).\n" +
			"FILTER: terms that must all hold: IFACE, local, tcp|udp|icmp, proto N, host|src|dst ADDR[/LEN], port|sport|dport N.",
		example: "  ipsift ctl list\n  ipsift ctl list -x\n  ipsift ctl reload /etc/ipsift/rules\n  ipsift ctl trace eth0 tcp port 80 --count 5\n  ipsift ctl ipset add blocklist 203.0.113.7\n  ipsift ctl ipset list blocklist",
		run: func(args []string, stdout, stderr io.Writer) int {
			// what follows ipset is ipset's (-exist, -file, ...), not ours
			var ipsetArgs []string
			if i := indexOf(args, "ipset"); i >= 0 {
				args, ipsetArgs = args[:i+1], args[i+1:]
			}
			pos, err := parseInterspersed(fs, args)
			if err != nil || len(pos) < 1 {
				return usageError(stderr, "ctl", orErr(err, "give a command: list, conntrack, stats, reload [FILE], trace [FILTER], ipset ARGS..."))
			}
			deadline := time.Now().Add(30 * time.Second)
			if pos[0] == "trace" {
				if *count < 0 || *seconds < 0 {
					return usageError(stderr, "ctl", errors.New("--count and --seconds must not be negative"))
				}
				if _, err := datapath.ParseFilter(strings.Join(pos[1:], " ")); err != nil {
					return usageError(stderr, "ctl", err)
				}
				opts := []string{"trace", "--count", fmt.Sprint(*count), "--seconds", fmt.Sprint(*seconds)}
				if *quiet {
					opts = append(opts, "--quiet")
				}
				pos = append(opts, pos[1:]...)
				deadline = time.Time{} // the server bounds it
			}
			if pos[0] == "list" && *exact {
				pos = append(pos, "-x")
			}
			if pos[0] == "ipset" {
				// ipset's arguments travel quoted, so a comment with
				// blanks stays one argument
				q := []string{"ipset"}
				for _, a := range ipsetArgs {
					q = append(q, strconv.Quote(a))
				}
				pos = q
			}
			if pos[0] == "reload" && len(pos) == 2 {
				// The daemon may run elsewhere in the file system's view
				// (another working directory): send an absolute path.
				if abs, err := filepath.Abs(pos[1]); err == nil {
					pos[1] = abs
				}
			}
			c, err := net.DialTimeout("unix", *path, 5*time.Second)
			if err != nil {
				fmt.Fprintf(stderr, "ipsift ctl: %v (is ipsift run running?)\n", err)
				return exitUsage
			}
			defer c.Close()
			c.SetDeadline(deadline)
			fmt.Fprintln(c, strings.Join(pos, " "))
			br := bufio.NewReader(c)
			status, err := br.ReadString('\n')
			if err != nil {
				fmt.Fprintf(stderr, "ipsift ctl: %v\n", err)
				return exitProblems
			}
			if strings.TrimSpace(status) != "ok" {
				io.Copy(stderr, br)
				return exitProblems
			}
			io.Copy(stdout, br)
			return exitOK
		},
	})
}

// serveControl listens on a unix socket (mode 0600: root only) and
// answers ipsift ctl until ctx is done or the returned stop is called.
func serveControl(ctx context.Context, path string, r *datapath.Runner, log *slog.Logger) (func(), error) {
	os.Remove(path) // a socket left by a crashed run
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handleControl(ctx, c, r, log)
		}
	}()
	stop := func() { l.Close(); os.Remove(path) }
	context.AfterFunc(ctx, stop)
	return stop, nil
}

func handleControl(ctx context.Context, c net.Conn, r *datapath.Runner, log *slog.Logger) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		fmt.Fprintln(c, "error\nempty command")
		return
	}
	log.Info("control", "command", f[0])
	w := bufio.NewWriter(c)
	defer w.Flush()
	switch {
	case f[0] == "list":
		fmt.Fprintln(w, "ok")
		// Both families, IPv6 after IPv4 when it has rules (as
		// ip6tables -L -v -n lists them).
		r.Settle() // the kernel's counts of the connections it carries
		prog := r.E.Program()
		for _, rs := range []*rules.Ruleset{prog.Ruleset(), prog.IPv6().Ruleset()} {
			fam := ""
			if rs.Family == ext.IPv6 {
				fam = " (IPv6)"
			}
			for _, t := range rs.Tables {
				fmt.Fprintf(w, "# table %s%s\n", t.Name, fam)
				rs.List(w, rules.ListOptions{Table: t.Name, Verbose: true, Numeric: true, Exact: len(f) > 1 && f[1] == "-x"})
			}
		}
	case f[0] == "conntrack":
		fmt.Fprintln(w, "ok")
		n := 0
		r.E.CT.Each(func(e *conntrack.Entry) {
			if r.Offloaded(e) {
				fmt.Fprintln(w, e.String()+" [OFFLOAD]")
				n++
				return
			}
			fmt.Fprintln(w, e.String())
			n++
		})
		fmt.Fprintf(w, "# %d flow entries\n", n)
	case f[0] == "stats":
		fmt.Fprintln(w, "ok")
		s := &r.Stats
		pk := s.Packets.Load()
		fmt.Fprintf(w, "packets %d\naccepted %d\ndropped %d\nrejected %d\nrewritten %d\nsecond_pass %d\nbatch_verdicts %d\nerrors %d\nconntrack_entries %d\n",
			pk, s.Accepted.Load(), s.Dropped.Load(), s.Rejected.Load(), s.Rewritten.Load(), s.SecondPass.Load(), s.Batches.Load(), s.Errors.Load(), r.E.CT.Len())
		if qs, ok := r.QueueStats(); ok {
			fmt.Fprintf(w, "queue_waiting %d\nqueue_dropped %d\nqueue_user_dropped %d\n", qs.Waiting, qs.Dropped, qs.UserDropped)
		}
		fmt.Fprintf(w, "reloads %d\nreloads_failed %d\nicmp_rate_limited %d\n", s.Reloads.Load(), s.ReloadsFailed.Load(), s.ICMPLimited.Load())
		r.Settle()
		o := &r.OStats
		fmt.Fprintf(w, "offload_active %d\noffloaded %d\noffload_returned %d\noffload_refused %d\nkernel_packets %d\nkernel_bytes %d\n",
			o.Active.Load(), o.Offloaded.Load(), o.Returned.Load(), o.Refused.Load(), o.KernelPackets.Load(), o.KernelBytes.Load())
		if n := s.EngineRuns.Load(); n > 0 {
			fmt.Fprintf(w, "engine_ns_per_packet %d\n", s.EngineNanos.Load()/n)
		}
	case f[0] == "reload" && len(f) <= 2:
		path := ""
		if len(f) == 2 {
			path = f[1]
		}
		if err := r.Reload(path); err != nil {
			fmt.Fprintf(w, "error\n%v\n", err)
			return
		}
		fmt.Fprintln(w, "ok\nreloaded")
	case f[0] == "trace":
		serveTrace(ctx, c, w, r, f[1:], log)
	case f[0] == "ipset":
		args, err := unquoteArgs(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "ipset")))
		if err != nil {
			fmt.Fprintf(w, "error\n%v\n", err)
			return
		}
		var out, errb strings.Builder
		if rc := r.Ipset(args, strings.NewReader(""), &out, &errb); rc != 0 {
			fmt.Fprintf(w, "error\n%s%s", out.String(), errb.String())
			return
		}
		fmt.Fprintf(w, "ok\n%s%s", out.String(), errb.String())
	default:
		fmt.Fprintf(w, "error\nunknown command %q: list, conntrack, stats, reload [FILE], trace [FILTER], ipset ARGS...\n", f[0])
	}
}

// unquoteArgs reads the arguments ipsift ctl ipset sends: Go-quoted
// strings separated by blanks.
func unquoteArgs(s string) ([]string, error) {
	var args []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return nil, fmt.Errorf("ipset: bad argument %q", s)
		}
		a, _ := strconv.Unquote(q)
		args = append(args, a)
		s = s[len(q):]
	}
	return args, nil
}

// indexOf is the position of word in args, or -1.
func indexOf(args []string, word string) int {
	for i, a := range args {
		if a == word {
			return i
		}
	}
	return -1
}

// serveTrace answers "trace [--count N] [--seconds S] [--quiet] FILTER":
// "ok", then the trace of each live packet matching FILTER, a blank
// line between packets, until count packets, the seconds, the client
// hanging up or ipsift stopping. Packets the client was too slow for
// are left out and counted ("(N packets not shown)").
func serveTrace(ctx context.Context, c net.Conn, w *bufio.Writer, r *datapath.Runner, args []string, log *slog.Logger) {
	count, seconds, quiet := 100, 60, false
	for len(args) > 0 && strings.HasPrefix(args[0], "--") {
		switch {
		case args[0] == "--quiet":
			quiet, args = true, args[1:]
			continue
		case (args[0] == "--count" || args[0] == "--seconds") && len(args) > 1:
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 {
				fmt.Fprintf(w, "error\n%s %q: want a number >= 0\n", args[0], args[1])
				return
			}
			if args[0] == "--count" {
				count = n
			} else {
				seconds = n
			}
			args = args[2:]
			continue
		}
		fmt.Fprintf(w, "error\ntrace: unknown option %q\n", args[0])
		return
	}
	filter, err := datapath.ParseFilter(strings.Join(args, " "))
	if err != nil {
		fmt.Fprintf(w, "error\n%v\n", err)
		return
	}
	c.SetDeadline(time.Time{})
	fmt.Fprintln(w, "ok")
	if err := w.Flush(); err != nil {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if seconds > 0 {
		ctx, cancel = context.WithTimeout(ctx, time.Duration(seconds)*time.Second)
		defer cancel()
	}
	go func() {
		// The client sends nothing more: a read ends when it hangs up.
		io.Copy(io.Discard, c)
		cancel()
	}()
	sub := r.Trace(filter, 64, quiet)
	defer sub.Close()
	log.Info("trace started", "filter", filter.String(), "count", count, "seconds", seconds)
	n := 0
loop:
	for count == 0 || n < count {
		select {
		case <-ctx.Done():
			break loop
		case text := <-sub.C():
			if n > 0 {
				w.WriteString("\n")
			}
			w.WriteString(text)
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := w.Flush(); err != nil {
				log.Info("trace ended", "filter", filter.String(), "packets", n, "err", err)
				return
			}
			n++
		}
	}
	sub.Close()
	if lost := sub.NotShown(); lost > 0 {
		fmt.Fprintf(w, "\n%s\n", datapath.NotShownLine(lost))
	}
	log.Info("trace ended", "filter", filter.String(), "packets", n)
}
