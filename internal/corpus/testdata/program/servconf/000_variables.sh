#!/bin/bash -e
# Part of program/servconf-run.sh (style of Karmak23/servconf
# iptables/iptables.d/000_variables.sh): the settings every part uses.
MAIN_IFACE="eth0"
OPEN_PORTS_TCP="22 80 443"
OPEN_PORTS_UDP="53 123"
FRIENDS="198.51.100.7 198.51.100.8"

if [ -e /etc/servconf/iptables/variables ]; then
	. /etc/servconf/iptables/variables
fi

echo -n "(open TCP: ${OPEN_PORTS_TCP}, open UDP: ${OPEN_PORTS_UDP}) "
