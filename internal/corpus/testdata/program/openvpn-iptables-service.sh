#!/bin/bash
# Written for the ipsift corpus in the style of Nyr/openvpn-install
# (openvpn-install.sh): when firewalld is not active, the installer writes
# a service whose ExecStart lines are iptables commands, with the iptables
# path from command -v (the legacy tools where nf_tables cannot be used) and
# IPv6 lines only when the server has an IPv6 address. Here the commands
# that service runs at start are run directly, after the same decisions.
port=1194
protocol=udp
ip=198.51.100.1
ip6=""
client_nets="10.8.0.0/24"

pick_tools() {
	iptables_path=$(command -v iptables)
	ip6tables_path=$(command -v ip6tables)
	# nf_tables is not available in OpenVZ containers: use the legacy tools there
	if [[ $(systemd-detect-virt) == "openvz" ]] && readlink -f "$(command -v iptables)" | grep -q "nft" && hash iptables-legacy 2>/dev/null; then
		iptables_path=$(command -v iptables-legacy)
		ip6tables_path=$(command -v ip6tables-legacy)
	fi
}

pick_tools
for net in $client_nets; do
	$iptables_path -t nat -A POSTROUTING -s $net ! -d $net -j SNAT --to $ip
	$iptables_path -I FORWARD -s $net -j ACCEPT
done
$iptables_path -I INPUT -p $protocol --dport $port -j ACCEPT
$iptables_path -I FORWARD -m state --state RELATED,ESTABLISHED -j ACCEPT
if [[ -n "$ip6" ]]; then
	$ip6tables_path -t nat -A POSTROUTING -s fddd:1194:1194:1194::/64 ! -d fddd:1194:1194:1194::/64 -j SNAT --to $ip6
	$ip6tables_path -I FORWARD -s fddd:1194:1194:1194::/64 -j ACCEPT
	$ip6tables_path -I FORWARD -m state --state RELATED,ESTABLISHED -j ACCEPT
fi
