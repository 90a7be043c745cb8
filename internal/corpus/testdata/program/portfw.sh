#!/bin/bash
# Written for the ipsift corpus in the style of ciax/utils
# (sbin/net-portfw.sh): port forwarding where each "ip:port" spec is split
# into the positional parameters with `set - ${spec//:/ }`, option
# functions named xopt-*, and a command echoed before it runs; the list of
# forwards and its loop stand for the script's being run once per forward.
FORWARDS="192.0.2.50:8080:80 192.0.2.51:2222:22 192.0.2.52:3389"

xopt-c(){ # clear setting
    iptables -t nat -F
}

prexe(){
    echo "$*"
    "$@"
}

xopt-c
for spec in $FORWARDS; do
    set - ${spec//:/ }
    sip=$1
    dp=${2:-80}
    lp=${3:-$dp}
    prexe iptables -t nat -A PREROUTING -i eth0 -p tcp --dport $lp -j DNAT --to-destination $sip:$dp
done
if ! iptables -t nat -C POSTROUTING -o eth0 -j MASQUERADE 2>/dev/null; then
    prexe iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
fi
grep -q 1 /proc/sys/net/ipv4/ip_forward || sysctl -w net.ipv4.ip_forward=1
