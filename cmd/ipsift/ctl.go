package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipsift/ipsift/conntrack"
	"github.com/ipsift/ipsift/datapath"
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
	register(&command{
		name: "ctl", args: "list|conntrack|stats|reload [FILE]",
		summary: "Ask a running 'ipsift run': list (counters, as iptables -L -v -n), conntrack (as conntrack -L),\nstats (packets, verdicts, engine time), reload [FILE] (atomic; a bad file is refused, the old rules stay).",
		example: "  ipsift ctl list\n  ipsift ctl reload /etc/ipsift/rules",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fs, args)
			if err != nil || len(pos) < 1 {
				return usageError(stderr, "ctl", orErr(err, "give a command: list, conntrack, stats, reload [FILE]"))
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
			c.SetDeadline(time.Now().Add(30 * time.Second))
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
			go handleControl(c, r, log)
		}
	}()
	stop := func() { l.Close(); os.Remove(path) }
	context.AfterFunc(ctx, stop)
	return stop, nil
}

func handleControl(c net.Conn, r *datapath.Runner, log *slog.Logger) {
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
		rs := r.E.Program().Ruleset()
		for _, t := range rs.Tables {
			fmt.Fprintf(w, "# table %s\n", t.Name)
			rs.List(w, rules.ListOptions{Table: t.Name, Verbose: true, Numeric: true})
		}
	case f[0] == "conntrack":
		fmt.Fprintln(w, "ok")
		n := 0
		r.E.CT.Each(func(e *conntrack.Entry) {
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
		if pk > 0 {
			fmt.Fprintf(w, "engine_ns_per_packet %d\n", s.EngineNanos.Load()/pk)
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
	default:
		fmt.Fprintf(w, "error\nunknown command %q: list, conntrack, stats, reload [FILE]\n", f[0])
	}
}
