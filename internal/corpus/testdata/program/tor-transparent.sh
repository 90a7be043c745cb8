#!/bin/bash
# Written for the ipsift corpus in the style of NapoleonWils0n/cerberus
# (iptables/tor-redirect-tcp-dns.sh), itself after the Tor Project's
# TransparentProxy wiki page: redirect everything through Tor except a list
# of networks, walked by for loops; a root check first.

if [[ $UID -ne 0 ]]; then
  echo "$0 must be run as root"
  exit 1
fi

# destinations you don't want routed through Tor
NON_TOR="192.0.2.0/24 198.51.100.0/24"
# the user Tor runs as
TOR_UID="root"
# Tor's TransPort and DNSPort
TRANS_PORT="9040"
DNS_PORT="9053"

nat_return() {
  for NET in "$@"; do
    iptables -t nat -A OUTPUT -d $NET -j RETURN
  done
}

iptables -F
iptables -t nat -F

iptables -t nat -A OUTPUT -m owner --uid-owner $TOR_UID -j RETURN
iptables -t nat -A OUTPUT -p udp --dport 53 -j REDIRECT --to-ports $DNS_PORT
nat_return $NON_TOR 127.0.0.0/9 127.128.0.0/10
iptables -t nat -A OUTPUT -p tcp --syn -j REDIRECT --to-ports $TRANS_PORT

iptables -A OUTPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
for NET in $NON_TOR 127.0.0.0/8; do
 iptables -A OUTPUT -d $NET -j ACCEPT
done
iptables -A OUTPUT -m owner --uid-owner $TOR_UID -j ACCEPT
iptables -A OUTPUT -j REJECT
