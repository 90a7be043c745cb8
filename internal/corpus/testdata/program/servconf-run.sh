#!/bin/bash
# Written for the ipsift corpus in the style of Karmak23/servconf
# (iptables/run.sh and iptables/iptables.d/): the firewall is a directory of
# numbered parts, sourced in order by a loop; each part is plain iptables
# with conditions and loops over the settings of the first. (The readable
# check before sourcing is added here.)
IPTABLES_ROOT=`dirname $0`

open_ports() {
    local proto=$1; shift
    for PORT in "$@"
    do
        iptables -A INPUT -p $proto -m $proto -i ${MAIN_IFACE} -s 0.0.0.0/0 -d 0.0.0.0/0 \
                --dport ${PORT} -j ACCEPT
    done
}

for script in ${IPTABLES_ROOT}/???_*.sh
do
	[ -r "${script}" ] || continue
	name=`basename ${script}`
	echo -n "Running ${name}... "
	. "${script}"
	echo "done."
done
