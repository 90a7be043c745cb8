#!/bin/sh
# A gateway script in the style of many how-tos: the interface and the
# admin's address come from /etc/default, the tool from the environment.
$IPTABLES -F
$IPTABLES -X
$IPTABLES -t nat -F
$IPTABLES -P INPUT DROP
$IPTABLES -P FORWARD DROP
$IPTABLES -P OUTPUT ACCEPT
$IPTABLES -A INPUT -i lo -j ACCEPT
$IPTABLES -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
$IPTABLES -A INPUT -i $WAN_IF -p icmp --icmp-type echo-request -m limit --limit 1/s -j ACCEPT
$IPTABLES -A INPUT -i $WAN_IF -p tcp --dport 80 -j ACCEPT
$IPTABLES -A INPUT -i $WAN_IF -p tcp --dport 443 -j ACCEPT
$IPTABLES -A INPUT -s $ADMIN_IP -p tcp --dport 22 -j ACCEPT
$IPTABLES -A INPUT -s $ADMIN_IP -p udp --dport 161 -j ACCEPT
$IPTABLES -A INPUT -i $WAN_IF -s 10.0.0.0/8 -j DROP
$IPTABLES -A INPUT -i $WAN_IF -s 172.16.0.0/12 -j DROP
$IPTABLES -A INPUT -i $WAN_IF -s 192.168.0.0/16 -j DROP
$IPTABLES -A FORWARD -m state --state ESTABLISHED,RELATED -j ACCEPT
$IPTABLES -A FORWARD -i eth1 -o $WAN_IF -j ACCEPT
$IPTABLES -A FORWARD -i $WAN_IF -o eth1 -p tcp -d 192.168.1.10 --dport 25 -j ACCEPT
$IPTABLES -t nat -A POSTROUTING -o $WAN_IF -j MASQUERADE
$IPTABLES -t nat -A PREROUTING -i $WAN_IF -p tcp --dport 25 -j DNAT --to-destination 192.168.1.10
for port in 53 123; do
  $IPTABLES -A INPUT -s $ADMIN_IP -p udp --dport $port -j ACCEPT
done
$IPTABLES -A OUTPUT -d $ADMIN_IP -j ACCEPT
$IPTABLES -A INPUT -j LOG --log-prefix "dropped: "
