#!/bin/sh
# The ten rules of article-as-printed.sh, each line as `ipsift check`
# suggests fixing it, in the article's order, with the placeholders
# filled with documentation addresses and the web servers renumbered
# into 192.0.2.0/24. The article's order is kept on purpose: rule 1
# still locks out ssh (rule 2) and the mail server (rule 6), which
# `ipsift check` reports and the kernel confirms.

# 1: drop every incoming TCP connection attempt
iptables -A INPUT -p tcp --syn -j DROP
# 2: allow ssh (must come before rule 1 to have any effect)
iptables -A INPUT -p tcp --syn --destination-port 22 -j ACCEPT
# 3: let packets of known connections through
/sbin/iptables -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
# 4: a chain that logs and then drops
iptables -N LOGDROP
iptables -A LOGDROP -j LOG
iptables -A LOGDROP -j DROP
# 5: forward a port from the wireless interface to an inside host
iptables -t nat -A PREROUTING -i wlan0 -p tcp --dport 2222 -j DNAT --to-destination 192.0.2.50:22
# 6: SYN flood protection for a mail server
iptables -A INPUT -p tcp --syn --dport 25 -j ACCEPT
iptables -A INPUT -p tcp --syn -m limit --limit 1/s --limit-burst 4 -j ACCEPT
iptables -A INPUT -p tcp --syn -j DROP
# 7: block a malicious source
iptables -A INPUT -p tcp -m tcp -s 198.51.100.66 -j DROP
# 8: slow down furtive port scans
iptables -N port-scan
iptables -A port-scan -p tcp --tcp-flags SYN,ACK,FIN,RST RST -m limit --limit 1/s -j RETURN
iptables -A port-scan -j DROP
iptables -N syn-flood
iptables -N specific-rule-set
iptables -A specific-rule-set -p tcp --syn -j syn-flood
iptables -A specific-rule-set -p tcp --tcp-flags SYN,ACK,FIN,RST RST -j port-scan
# 9: several services in one rule
iptables -A INPUT -i eth0 -p tcp -m state --state NEW -m multiport --dports ssh,smtp,http,https -j ACCEPT
# 10: spread new web connections over four mirrored servers
iptables -t nat -A PREROUTING -i eth0 -p tcp --dport 80 -m state --state NEW -m nth --counter 0 --every 4 --packet 0 -j DNAT --to-destination 192.0.2.10:80
iptables -t nat -A PREROUTING -i eth0 -p tcp --dport 80 -m state --state NEW -m nth --counter 0 --every 4 --packet 1 -j DNAT --to-destination 192.0.2.20:80
iptables -t nat -A PREROUTING -i eth0 -p tcp --dport 80 -m state --state NEW -m nth --counter 0 --every 4 --packet 2 -j DNAT --to-destination 192.0.2.30:80
iptables -t nat -A PREROUTING -i eth0 -p tcp --dport 80 -m state --state NEW -m nth --counter 0 --every 4 --packet 3 -j DNAT --to-destination 192.0.2.40:80
