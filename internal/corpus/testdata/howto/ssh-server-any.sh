#!/bin/sh
# Written for the ipsift corpus in the style of emerye/bone
# (src/scripts/boneiptables.sh), which follows the widespread nixCraft-style
# how-to for a server: the server's own address in the rules, "anywhere"
# written 0/0, unprivileged ports as a range, policies DROP at the end.
SERVER_IP='198.51.100.1'

/sbin/iptables -F
/sbin/iptables -X

iptables -P INPUT ACCEPT
iptables -P OUTPUT ACCEPT
iptables -P FORWARD ACCEPT

/sbin/iptables -A INPUT -i lo -j ACCEPT
iptables -A OUTPUT -o lo -j ACCEPT

# Web
iptables -A INPUT -i eth0 -p tcp --dport 2000 -m state --state NEW,ESTABLISHED -j ACCEPT
iptables -A OUTPUT -o eth0 -p tcp --sport 2000 -m state --state ESTABLISHED -j ACCEPT

# Time
iptables -A OUTPUT -p udp --dport 123 -j ACCEPT
iptables -A INPUT -p udp --dport 123 -j ACCEPT

# DNS lookups to the server's resolver
iptables -A OUTPUT -p udp -d $SERVER_IP --dport 53 -m state --state NEW,ESTABLISHED -j ACCEPT
iptables -A INPUT  -p udp -s $SERVER_IP --sport 53 -m state --state ESTABLISHED     -j ACCEPT

# SSH from anywhere
iptables -A INPUT -p tcp -s 0/0 -d $SERVER_IP --sport 513:65535 --dport 22 -m state --state NEW,ESTABLISHED -j ACCEPT
iptables -A OUTPUT -p tcp -s $SERVER_IP -d 0/0 --sport 22 --dport 513:65535 -m state --state ESTABLISHED -j ACCEPT

iptables -P INPUT DROP
iptables -P FORWARD DROP
