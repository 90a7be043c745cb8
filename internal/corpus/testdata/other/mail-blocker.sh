#!/bin/bash
# Written for the ipsift corpus in the style of Doboo/manyuser
# (d7firewall.sh): a proxy server's outgoing mail blocker, multiport lists,
# REJECT with tcp-reset, and lines pasted from a web page whose "--" became
# an en dash (U+2013), which iptables refuses.
iptables -F
iptables -X

# SMTP ports
iptables -A OUTPUT -p tcp -m multiport --dports 25,26,465 -j REJECT --reject-with tcp-reset
iptables -A OUTPUT -p udp -m multiport --dports 25,26,465 -j DROP
# POP ports
iptables -A OUTPUT -p tcp -m multiport --dports 109,110,995 -j REJECT --reject-with tcp-reset
iptables -A OUTPUT -p udp -m multiport --dports 109,110,995 -j DROP
# IMAP ports
iptables -A OUTPUT -p tcp -m multiport --dports 143,218,220,993 -j REJECT --reject-with tcp-reset
iptables -A OUTPUT -p udp -m multiport --dports 143,218,220,993 -j DROP

iptables -A OUTPUT -p tcp -m multiport –dport 24,25,50,57,105,106,109,110,143,158,209,218,220,465,587 -j REJECT –reject-with tcp-reset
iptables -A OUTPUT -p udp -m multiport –dport 993,995,1109,24554,60177,60179 -j DROP

iptables -P INPUT ACCEPT
iptables -P OUTPUT ACCEPT
iptables-save > /etc/iptables.up.rules
