#!/bin/bash
# Written for the ipsift corpus in the style of Nyr/openvpn-install
# (openvpn-install.sh): the installer decides between firewalld and iptables,
# chooses iptables-legacy when the nft one is not wanted, and writes the
# rules into a service; here the commands the service runs at start are run
# directly, after the same decisions.
port=1194
protocol=udp
ip=198.51.100.1
ip6=""

detect_firewall() {
	if systemctl is-active --quiet firewalld.service; then
		firewall="firewalld"
	elif hash iptables 2>/dev/null; then
		firewall="iptables"
	fi
}

iptables_path=$(command -v iptables)
ip6tables_path=$(command -v ip6tables)
# nf_tables is not available in some containers: use the legacy tools there
if [[ $(systemd-detect-virt) == "openvz" ]] && readlink -f "$(command -v iptables)" | grep -q "nft" && hash iptables-legacy 2>/dev/null; then
	iptables_path=$(command -v iptables-legacy)
	ip6tables_path=$(command -v ip6tables-legacy)
fi

detect_firewall
if [[ "$firewall" == "iptables" ]]; then
	$iptables_path -t nat -A POSTROUTING -s 10.8.0.0/24 ! -d 10.8.0.0/24 -j SNAT --to $ip
	$iptables_path -I INPUT -p $protocol --dport $port -j ACCEPT
	$iptables_path -I FORWARD -s 10.8.0.0/24 -j ACCEPT
	$iptables_path -I FORWARD -m state --state RELATED,ESTABLISHED -j ACCEPT
	if [[ -n "$ip6" ]]; then
		$ip6tables_path -t nat -A POSTROUTING -s fddd:1194:1194:1194::/64 ! -d fddd:1194:1194:1194::/64 -j SNAT --to $ip6
		$ip6tables_path -I FORWARD -s fddd:1194:1194:1194::/64 -j ACCEPT
		$ip6tables_path -I FORWARD -m state --state RELATED,ESTABLISHED -j ACCEPT
	fi
fi
for client_net in 10.8.0.0/24; do
	echo "clients of $client_net leave as $ip"
done
