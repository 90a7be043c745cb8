#!/bin/bash
# Written for the ipsift corpus in the style of Nyr/wireguard-install
# (wireguard-install.sh): the iptables rules its service adds for the VPN,
# IPv4 and IPv6 side by side (the ip6tables lines run too; only IPv4 is
# compared), with a loop over the configured ports.
ip=198.51.100.1
ip6=2001:db8::1
ports="51820 51821"

add_rules() {
	local iptables_path=$1 ip6tables_path=$2
	$iptables_path -t nat -A POSTROUTING -s 10.7.0.0/24 ! -d 10.7.0.0/24 -j SNAT --to $ip
	for port in $ports; do
		$iptables_path -I INPUT -p udp --dport $port -j ACCEPT
	done
	$iptables_path -I FORWARD -s 10.7.0.0/24 -j ACCEPT
	$iptables_path -I FORWARD -m state --state RELATED,ESTABLISHED -j ACCEPT
	if [[ -n "$ip6" ]]; then
		$ip6tables_path -t nat -A POSTROUTING -s fddd:2c4:2c4:2c4::/64 ! -d fddd:2c4:2c4:2c4::/64 -j SNAT --to $ip6
		$ip6tables_path -I FORWARD -s fddd:2c4:2c4:2c4::/64 -j ACCEPT
		$ip6tables_path -I FORWARD -m state --state RELATED,ESTABLISHED -j ACCEPT
	fi
}

add_rules "$(command -v iptables)" "$(command -v ip6tables)"
