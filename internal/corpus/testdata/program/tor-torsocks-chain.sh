#!/bin/bash
# Written for the ipsift corpus in the style of f0r34chb3t4/main
# (iptables-tor-transparent.sh): a Tor access point that sends chosen ports
# of its wireless clients through a nat chain skipping reserved networks.
IFACE=${IFACE:-wlan0}
RESERVED="0.0.0.0/8 10.0.0.0/8 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12 192.168.0.0/16 224.0.0.0/4 240.0.0.0/4"
PORTS="22 443 5222"

make_chain() {
  iptables -t nat -N TORSOCKS
  for net in $RESERVED; do
    iptables -t nat -A TORSOCKS -d $net -j RETURN
  done
  iptables -t nat -A TORSOCKS -p tcp -j REDIRECT --to-ports 9040
}

if ! iptables -t nat -n -L TORSOCKS >/dev/null 2>&1; then
  make_chain
fi
for port in $PORTS; do
  iptables -t nat -A PREROUTING -i $IFACE -p tcp --dport $port --syn -j TORSOCKS
done
iptables -t nat -A PREROUTING -i $IFACE -p udp --dport 53 -j REDIRECT --to-ports 53
