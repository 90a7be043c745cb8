#!/bin/sh
# A dual-stack host whose IPv6 half was written in a hurry: the IPv4
# rules keep MySQL to the LAN and ssh to the admin network; the IPv6
# rules copy the stateful accept but forget neighbour discovery, and
# open ssh and MySQL to everyone.
LAN=192.0.2.0/24
ADMIN=198.51.100.0/24

iptables -P INPUT DROP
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
iptables -A INPUT -p icmp -j ACCEPT
iptables -A INPUT -s $ADMIN -p tcp --dport 22 -j ACCEPT
iptables -A INPUT -s $LAN -p tcp --dport 3306 -j ACCEPT
iptables -A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT

ip6tables -P INPUT DROP
ip6tables -A INPUT -i lo -j ACCEPT
ip6tables -A INPUT -m conntrack --ctstate NEW,RELATED,ESTABLISHED -p tcp -j ACCEPT
ip6tables -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
ip6tables -A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT
ip6tables -A INPUT -s 2001:db8:1::/48 -p tcp --dport 443 -j ACCEPT
