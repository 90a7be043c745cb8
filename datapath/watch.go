package datapath

import (
	"context"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// watchHost follows the kernel's interfaces, addresses and routes
// (rtnetlink multicast groups) and rebuilds the host model after a
// change, swapping it in between the workers' batches.
func (r *Runner) watchHost(ctx context.Context) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{
		Groups: unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_IPV6_IFADDR | unix.RTMGRP_IPV6_ROUTE,
	})
	if err != nil {
		r.log.Warn("not following host changes", "err", err)
		return
	}
	context.AfterFunc(ctx, func() { c.Close() })
	changed := make(chan struct{}, 1)
	go func() {
		for {
			if _, err := c.Receive(); err != nil {
				if ctx.Err() == nil {
					r.log.Warn("host change watch stopped", "err", err)
				}
				close(changed)
				return
			}
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}()
	for range changed {
		// Changes come in bursts (a link, its addresses, its routes):
		// read the host once they settle.
		time.Sleep(100 * time.Millisecond)
		select {
		case <-changed:
		default:
		}
		lh, err := readLiveHost()
		if err != nil {
			r.log.Warn("reading host", "err", err)
			continue
		}
		// Between the workers' batches: each holds the model for
		// reading while it decides a batch.
		r.hostMu.Lock()
		r.lh, r.E.Host = lh, lh.h
		r.hostMu.Unlock()
		if r.ofl != nil {
			r.ofl.takeBackAll("host change")
		}
		r.log.Info("host model updated", "host", lh.h.String())
	}
}
