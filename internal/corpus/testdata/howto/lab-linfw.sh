#!/bin/bash
# Written for the ipsift corpus in the style of WierdPy/FKOS (B0/LinFW.sh), a
# course's lab firewall: a LAN/DMZ router with chains of its own and ports
# written as /etc/services names (domain, http, ssh), saved at the end.
sed -i '/ip_forward/s/#//g' /etc/sysctl.conf
sysctl -p

IPT="/sbin/iptables"

$IPT -F
$IPT -X

$IPT -P INPUT ACCEPT
$IPT -P OUTPUT ACCEPT
$IPT -P FORWARD DROP

$IPT -N lan_dmz
$IPT -N ext

# LAN <-> DMZ
$IPT -A FORWARD -i LAN -o DMZ -j lan_dmz
$IPT -A FORWARD -i DMZ -o LAN -j lan_dmz
$IPT -A lan_dmz -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
$IPT -A lan_dmz -p icmp -j ACCEPT
$IPT -A lan_dmz -p tcp --dport domain -j ACCEPT
$IPT -A lan_dmz -p udp --dport domain -j ACCEPT
$IPT -A lan_dmz -p tcp --dport http -j ACCEPT
$IPT -A lan_dmz -p udp --dport http -j ACCEPT
$IPT -A lan_dmz -p tcp --dport 123 -j ACCEPT
$IPT -A lan_dmz -p udp --dport 123 -j ACCEPT
$IPT -A lan_dmz -p tcp --dport ssh -j ACCEPT
$IPT -A lan_dmz -j REJECT

# LAN/DMZ <-> INTERNET
$IPT -A FORWARD -i LAN -o OUT -j ext
$IPT -A FORWARD -i OUT -o LAN -j ext
$IPT -A FORWARD -i DMZ -o OUT -j ext
$IPT -A FORWARD -i OUT -o DMZ -j ext
$IPT -A ext -j ACCEPT

$IPT -t nat -A POSTROUTING -o OUT -j MASQUERADE

iptables-save -f /etc/iptables/rules.v4
