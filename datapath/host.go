package datapath

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"

	"github.com/ipsift/ipsift/host"
)

// liveHost is the host model read from the kernel, with the kernel's
// interface indexes (NFQUEUE reports interfaces by index).
type liveHost struct {
	h     *host.Host
	names []string       // ifindex → name
	mtu   map[string]int // name → MTU
}

type ipAddr struct {
	Ifindex  int    `json:"ifindex"`
	Ifname   string `json:"ifname"`
	MTU      int    `json:"mtu"`
	Address  string `json:"address"`
	AddrInfo []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		Prefixlen int    `json:"prefixlen"`
	} `json:"addr_info"`
}

type ipRoute struct {
	Dst      string `json:"dst"`
	Gateway  string `json:"gateway"`
	Dev      string `json:"dev"`
	Protocol string `json:"protocol"`
	Type     string `json:"type"`
}

// readLiveHost builds the host model from the namespace it runs in, with
// iproute2's JSON output (`ip -j addr`, `ip -j -4 route`, `ip -j -6
// route`): interfaces, their IPv4 and IPv6 addresses and MAC addresses,
// and the main table's routes of both families. The routes the kernel
// adds for an address's own subnet are left out: the host model adds
// them itself. `ip addr` lists an interface's IPv6 addresses newest
// first; the model wants them in the order they were added (NAT66's
// REDIRECT takes the one added last), so they are written reversed.
func readLiveHost() (*liveHost, error) {
	var addrs []ipAddr
	if err := ipJSON(&addrs, "addr", "show"); err != nil {
		return nil, err
	}
	var routes, routes6 []ipRoute
	if err := ipJSON(&routes, "-4", "route", "show", "table", "main"); err != nil {
		return nil, err
	}
	if err := ipJSON(&routes6, "-6", "route", "show", "table", "main"); err != nil {
		return nil, err
	}
	for i := range routes6 {
		if routes6[i].Dst == "default" {
			routes6[i].Dst = "default6" // the host file's IPv6 default
		}
	}
	routes = append(routes, routes6...)
	var b strings.Builder
	lh := &liveHost{mtu: map[string]int{}}
	for _, a := range addrs {
		if a.Ifindex <= 0 || a.Ifindex > 1<<20 {
			continue
		}
		for len(lh.names) <= a.Ifindex {
			lh.names = append(lh.names, "")
		}
		lh.names[a.Ifindex] = a.Ifname
		lh.mtu[a.Ifname] = a.MTU
		fmt.Fprintf(&b, "iface %s", a.Ifname)
		for _, ai := range a.AddrInfo {
			if ai.Family == "inet" {
				fmt.Fprintf(&b, " %s/%d", ai.Local, ai.Prefixlen)
			}
		}
		for i := len(a.AddrInfo) - 1; i >= 0; i-- {
			if ai := a.AddrInfo[i]; ai.Family == "inet6" {
				fmt.Fprintf(&b, " %s/%d", ai.Local, ai.Prefixlen)
			}
		}
		if len(a.Address) == 17 && a.Address != "00:00:00:00:00:00" {
			fmt.Fprintf(&b, " mac %s", a.Address)
		}
		b.WriteByte('\n')
	}
	for _, r := range routes {
		if r.Protocol == "kernel" || r.Dev == "" || (r.Type != "" && r.Type != "unicast") {
			continue
		}
		fmt.Fprintf(&b, "route %s", r.Dst)
		if r.Gateway != "" {
			fmt.Fprintf(&b, " via %s", r.Gateway)
		}
		fmt.Fprintf(&b, " dev %s\n", r.Dev)
	}
	h, err := host.Parse(strings.NewReader(b.String()), "live host")
	if err != nil {
		return nil, fmt.Errorf("live host model: %w\n%s", err, b.String())
	}
	lh.h = h
	return lh, nil
}

func ipJSON(v any, args ...string) error {
	out, err := exec.Command("ip", append([]string{"-j"}, args...)...).Output()
	if err != nil {
		return fmt.Errorf("ip %s: %w", strings.Join(args, " "), err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("ip %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// name returns the interface name of a kernel ifindex ("" when unknown).
func (lh *liveHost) name(idx uint32) string {
	if int(idx) < len(lh.names) {
		return lh.names[idx]
	}
	return ""
}

// index returns the kernel ifindex of an interface name (0 when
// unknown).
func (lh *liveHost) index(name string) int {
	for i, n := range lh.names {
		if n == name && name != "" {
			return i
		}
	}
	return 0
}
