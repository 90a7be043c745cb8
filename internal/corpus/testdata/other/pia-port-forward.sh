#!/bin/bash
# Written for the ipsift corpus in the style of thrnz/docker-wireguard-pia
# (pf_success.sh): a hook the VPN client runs with the forwarded port as its
# argument; FIREWALL comes from the container's environment.
if [ $FIREWALL -eq 1 ]; then
  iptables -A INPUT -p tcp -i wg0 --dport "$1" -j ACCEPT
  iptables -A INPUT -p udp -i wg0 --dport "$1" -j ACCEPT
  echo "$(date): Allowing incoming traffic on port $1"
fi
