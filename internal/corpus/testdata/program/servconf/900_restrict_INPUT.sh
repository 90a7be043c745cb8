#!/bin/bash -e
# Part of program/servconf-run.sh (style of Karmak23/servconf
# iptables/iptables.d/900_restrict_INPUT.sh): close what was not opened.
iptables -A INPUT -p icmp -j ACCEPT
iptables -P INPUT DROP
