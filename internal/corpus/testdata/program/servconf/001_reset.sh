#!/bin/bash -e
# Part of program/servconf-run.sh (style of Karmak23/servconf
# iptables/iptables.d/001_reset.sh): start from nothing.
iptables -F
iptables -X
iptables -t nat -F
iptables -t nat -X
iptables -P INPUT ACCEPT
iptables -P FORWARD ACCEPT
iptables -P OUTPUT ACCEPT
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
