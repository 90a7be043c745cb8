package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ipsift/ipsift/datapath"
)

func init() {
	fs := newFlags("run")
	queue := fs.String("queue", "0", "NFQUEUE number to use, or FIRST:LAST for several (one worker each; the kernel spreads packets over them by address)")
	queues := fs.Uint("queues", 0, "read N queues, from --queue's number on, one worker each (same as --queue FIRST:FIRST+N-1)")
	balance := fs.String("queue-balance", "", "FIRST:LAST, as iptables' NFQUEUE option: the same as --queue FIRST:LAST")
	fanout := fs.Bool("queue-cpu-fanout", false, "with several queues, spread packets by the CPU that handles them instead of by address (NFQUEUE --queue-cpu-fanout)")
	failOpen := fs.Bool("fail-open", false, "let packets pass when ipsift is not reading or the queue is full (default: drop, fail-closed)")
	queueLen := fs.Uint("queue-len", 4096, "packets the kernel holds for ipsift before the queue counts as full")
	exempt := fs.Uint("exempt-port", 0, "a TCP port of this host left to the kernel, never queued (management access, e.g. 22)")
	prefix := fs.String("chain-prefix", "IPSIFT", "prefix of the iptables chains ipsift installs (PREFIX-PRE, -OUT in raw, -POST in mangle)")
	ctlPath := fs.String("control", defaultControl, "control socket path for ipsift ctl (\"\" for none)")
	asJSON := fs.Bool("json", false, "structured logs as JSON lines instead of text")
	noflush := fs.Bool("noflush", false, "read RULES as iptables-restore --noflush loads it: a repeated table section adds to the first instead of replacing it")
	onePass := fs.Bool("one-pass", false, "finish IPv4 forwarded packets that need a source rewrite (MASQUERADE, SNAT, a DNAT's replies) in one queue pass: sets net.ipv4.conf.all.accept_local=1 while running; needs rp_filter 0 and no policy routing rules")
	offloadMode := fs.String("offload", "first", "first (the default): hand a TCP connection to the kernel's conntrack at its SYN when the rules are proved to treat every later segment of both directions alike (short connections cross once), else at its SYN-ACK, else as early; on: hand established TCP connections whose further packets the rules cannot tell apart to the kernel's conntrack (README, Connection offload); early: from the end of the handshake on, and let the kernel carry their close too; off: every packet crosses to ipsift")
	metrics := fs.String("metrics", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9310; default: off)")
	rules6 := fs.String("rules6", "", "IPv6 rules (ip6tables-restore input or a script) enforced beside RULES' IPv4 ones; SIGHUP reloads both")
	queueND := fs.Bool("queue-nd", false, "queue IPv6 neighbour discovery too (default: left to the kernel, so that a stalled ipsift cannot stop it)")
	register(&command{
		name: "run", args: "RULES [--queue N | --queue FIRST:LAST | --queues N] [--queue-cpu-fanout] [--rules6 FILE] [--fail-open]",
		summary: "Enforce RULES on this host's live IPv4 and IPv6 traffic over NFQUEUE, with ipsift's own conntrack and NAT.\n" +
			"Installs chains IPSIFT-PRE/-OUT (raw) and IPSIFT-POST (mangle) with iptables, and with ip6tables when the rules have\n" +
			"an IPv6 part (RULES as a script calling ip6tables, an ip6tables-save file, or --rules6); removed on SIGTERM/SIGINT;\n" +
			"SIGHUP reloads RULES (and --rules6). Neighbour discovery is left to the kernel unless --queue-nd. Needs root.",
		example: "  ipsift run gateway.rules --queue 0\n  ipsift run gateway.rules --rules6 gateway6.rules --queue 0 --exempt-port 22\n" +
			"  ipsift run gateway.rules --queue 0 --fail-open --exempt-port 22\n  ipsift run gateway.rules --queues 2 --queue-cpu-fanout --one-pass\n" +
			"  ipsift run gateway.rules --queue 0 --metrics 127.0.0.1:9310\n  ipsift run gateway.rules --queue 0 --offload=off\n  ipsift run gateway.rules --queue 0 --offload=early\n  ipsift run gateway.rules --queue 0 --offload=on",
		run: func(args []string, stdout, stderr io.Writer) int {
			pos, err := parseInterspersed(fs, args)
			if err != nil || len(pos) != 1 || *exempt > 65535 {
				return usageError(stderr, "run", orErr(err, "give one RULES file and --queue N (0-65535)"))
			}
			if *offloadMode != "on" && *offloadMode != "off" && *offloadMode != "early" && *offloadMode != "first" {
				return usageError(stderr, "run", fmt.Errorf("--offload %q: write --offload=on, --offload=first, --offload=early or --offload=off", *offloadMode))
			}
			spec := *queue
			if *balance != "" {
				if setFlag(fs, "queue") {
					return usageError(stderr, "run", fmt.Errorf("--queue-balance %s and --queue %s: give one of them", *balance, *queue))
				}
				spec = *balance
			}
			first, n, err := datapath.ParseQueues(spec, *queues)
			if err != nil {
				return usageError(stderr, "run", err)
			}
			var h slog.Handler = slog.NewTextHandler(stderr, nil)
			if *asJSON {
				h = slog.NewJSONHandler(stderr, nil)
			}
			log := slog.New(h)
			r, err := datapath.New(datapath.Config{
				RulesPath: pos[0], Rules6Path: *rules6, QueueND: *queueND, Queue: first, Queues: n, CPUFanout: *fanout, QueueLen: uint32(*queueLen),
				FailOpen: *failOpen, ExemptPort: uint16(*exempt), ChainPrefix: *prefix,
				Logger: log, LogOut: stderr, NoFlush: *noflush, OnePass: *onePass, Offload: *offloadMode != "off", OffloadClose: *offloadMode == "early", OffloadFirst: *offloadMode == "first",
			})
			if err != nil {
				fmt.Fprintf(stderr, "ipsift run: %v\n", err)
				return exitProblems
			}
			ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer cancel()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-hup:
						r.Reload("")
					case <-ctx.Done():
						return
					}
				}
			}()
			if *ctlPath != "" {
				stopCtl, err := serveControl(ctx, *ctlPath, r, log)
				if err != nil {
					fmt.Fprintf(stderr, "ipsift run: %v\n", err)
					return exitProblems
				}
				defer stopCtl()
			}
			if *metrics != "" {
				stopMetrics, err := serveMetrics(ctx, *metrics, r, log)
				if err != nil {
					fmt.Fprintf(stderr, "ipsift run: %v\n", err)
					return exitProblems
				}
				defer stopMetrics()
			}
			log.Info("starting", "rules", pos[0], "queue", first, "queues", n, "fail_open", *failOpen, "offload", *offloadMode)
			if err := r.Run(ctx); err != nil {
				log.Error("stopped", "err", err)
				return exitProblems
			}
			log.Info("stopped cleanly")
			return exitOK
		},
	})
}

// setFlag reports whether the command line set flag name.
func setFlag(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// serveMetrics serves r's Prometheus metrics at http://addr/metrics
// until ctx is done or the returned stop is called.
func serveMetrics(ctx context.Context, addr string, r *datapath.Runner, log *slog.Logger) (func(), error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", r.MetricsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	log.Info("serving metrics", "url", "http://"+l.Addr().String()+"/metrics")
	stop := func() { srv.Close() }
	context.AfterFunc(ctx, stop)
	return stop, nil
}
