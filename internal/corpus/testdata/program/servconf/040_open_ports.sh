#!/bin/bash -e
# Part of program/servconf-run.sh (style of Karmak23/servconf
# iptables/iptables.d/040_open_ports.sh).
if [[ -n "${OPEN_PORTS_TCP}" ]]; then
    open_ports tcp ${OPEN_PORTS_TCP}
fi

if [[ -n "${OPEN_PORTS_UDP}" ]]; then
    open_ports udp ${OPEN_PORTS_UDP}
fi

for FRIEND in ${FRIENDS}; do
    iptables -A INPUT -s ${FRIEND} -j ACCEPT
done
