#!/bin/bash
# Written for the ipsift corpus in the style of bThiiago/Shell-Script
# (Codigos/Arrays/iptables.sh), a shell course's lesson on arrays: block the
# ports of an array, both protocols.
PORT=("137" "138" "139" "445" "23" "111" "2049")

echo -e "\nExample firewall rules"
# ${PORT[@]} walks the whole array
for porta in ${PORT[@]}
do
echo "Blocking port $porta"
iptables -A INPUT -p udp --dport $porta -j DROP
iptables -A INPUT -p tcp --dport $porta -j DROP
done
