#!/bin/bash
# Written for the ipsift corpus in the style of soundbooze/soundbooze-tunnel
# (openvpn/tls/server.sh): forward an inside interface to the outside one and
# masquerade it; here the interfaces come from options parsed by a while/case
# loop, with a dump() helper and a root check, as such gateway scripts do.
dump ()
{
    echo "###"
    echo "# $1"
    echo "###"
}

if [ "$(id -u)" != "0" ]; then
    dump "Sorry, you are not root."
    exit 1
fi

EXT_IF=eth0
INT_IF=wlan0
OPEN_PORT=""
ALLOW_HOSTS=""
while [[ $# -gt 0 ]]; do
    key="$1"
    case $key in
	-e|--external-interface)
	EXT_IF="$2"
	shift
	;;
	-i|--internal-interface)
	INT_IF="$2"
	shift
	;;
	-o|--open-port)
	OPEN_PORT="$2"
	shift
	;;
	-t|--trust)
	ALLOW_HOSTS="$2"
	shift
	;;
	*)
	;;
    esac
    shift
done

if [ -z "$IPCMD" ] ; then
    IPCMD=iptables
fi

dump "Resetting"
$IPCMD -F
$IPCMD -t nat -F
$IPCMD -X

dump "Policies"
$IPCMD -P INPUT DROP
$IPCMD -P FORWARD DROP
$IPCMD -P OUTPUT ACCEPT

$IPCMD -A INPUT -i lo -j ACCEPT
$IPCMD -A INPUT -i $INT_IF -j ACCEPT
$IPCMD -A INPUT -i $EXT_IF -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
for h in ${ALLOW_HOSTS//,/ }; do
    $IPCMD -A INPUT -i $EXT_IF -s $h -j ACCEPT
done
if [ -n "$OPEN_PORT" ]; then
    $IPCMD -A INPUT -i $EXT_IF -p tcp --dport $OPEN_PORT -j ACCEPT
fi

dump "Forwarding $INT_IF to $EXT_IF"
$IPCMD -A FORWARD -i $EXT_IF -o $INT_IF -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
$IPCMD -A FORWARD -i $INT_IF -o $EXT_IF -j ACCEPT
$IPCMD -t nat -A POSTROUTING -o $EXT_IF -j MASQUERADE
