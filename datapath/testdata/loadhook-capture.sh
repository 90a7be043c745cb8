#!/bin/sh
# An IPSIFT_LOAD_PROFILE hook for TestLoadWrkIperf (run during wrk, with
# NAME the configuration): for configuration $ONLY (default b), 2 s of
# port-80 packets in the firewall and wan namespaces and the firewall's
# conntrack events, into $OUT (default /tmp).
[ "$NAME" = "${ONLY:-b}" ] || exit 0
OUT=${OUT:-/tmp}
FW=$(ip netns list | grep -o 'ldt-[0-9]*-fw' | head -1)
WAN=$(ip netns list | grep -o 'ldt-[0-9]*-wan' | head -1)
timeout 2 ip netns exec "$FW" conntrack -E -o timestamp,id -p tcp >"$OUT/$NAME-ct-events.txt" 2>&1 &
timeout 2 ip netns exec "$WAN" tcpdump -i any -nn -s 96 -w "$OUT/$NAME-wan.pcap" 'tcp port 80' 2>/dev/null &
timeout 2 ip netns exec "$FW" tcpdump -i any -nn -s 96 -w "$OUT/$NAME-fw.pcap" 'tcp port 80' 2>/dev/null
wait
