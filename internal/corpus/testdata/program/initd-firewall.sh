#!/bin/bash -e
### BEGIN INIT INFO
# Provides:          port-firewall
# Required-Start:    networking
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: Port only firewall for a single host
### END INIT INFO
# Written for the ipsift corpus in the style of sgpinkus/firewall-iptables-deb
# (firewall-iptables): an LSB init script with functions, a chain of its own
# and "[[ ... ]] &&" guards.

PATH=/sbin:/usr/sbin:/bin:/usr/bin
NAME=port-firewall
CONFFILE=/etc/default/"$NAME"
INBOUND_TCP_ALLOW="22,80,443"
INBOUND_UDP_ALLOW=""
TRUSTED_HOSTS="192.0.2.10 192.0.2.11"
FIREWALL_LOG_REJECT="1"
FIREWALL_REJECT_RULE="REJECT"
FIREWALL_INPUT_DEFAULT_RULE="ACCEPT"

[[ "${NETWORKING}" = "no" ]] && exit 0
[ -r "$CONFFILE" ] && . "$CONFFILE"

function set_firewall_rules()
{
  clear_firewall_chains
  iptables -t filter -N port_firewall_input
  iptables -A port_firewall_input -m comment --comment "port-firewall rules"
  iptables -P INPUT "${FIREWALL_INPUT_DEFAULT_RULE}"
  iptables -A INPUT -j port_firewall_input
  iptables -A port_firewall_input -i lo -j RETURN
  iptables -A port_firewall_input -p icmp -j RETURN
  iptables -A port_firewall_input -m state --state RELATED,ESTABLISHED -j RETURN
  for host in $TRUSTED_HOSTS; do
    iptables -A port_firewall_input -s "$host" -j RETURN
  done
  [[ -n ${INBOUND_TCP_ALLOW} ]] && iptables -A port_firewall_input -p tcp -m multiport --destination-port $INBOUND_TCP_ALLOW -j RETURN
  [[ -n ${INBOUND_UDP_ALLOW} ]] && iptables -A port_firewall_input -p udp -m multiport --destination-port $INBOUND_UDP_ALLOW -j RETURN
  [[ -n "${FIREWALL_LOG_REJECT}" ]] && iptables -A port_firewall_input -j LOG --log-prefix="port-firewall REJECTED "
  iptables -A port_firewall_input -j "${FIREWALL_REJECT_RULE}"
}

function clear_firewall_chains()
{
  if chain_exists filter port_firewall_input; then
    iptables -t filter -D INPUT -j port_firewall_input
    iptables -t filter -F port_firewall_input
    iptables -t filter -X port_firewall_input
  fi
  iptables -P INPUT ACCEPT
}

function chain_exists()
{
  if [[ -n `iptables -t "$1" --list "$2" 2>/dev/null` ]]; then
    return 0
  fi
  return 1
}

function do_run()
{
  case "$1" in
    start)
      echo "Starting $NAME."
      set_firewall_rules
      ;;
    stop)
      echo "Stopping $NAME."
      clear_firewall_chains
      ;;
    restart|force-reload)
      clear_firewall_chains
      set_firewall_rules
      ;;
    *)
      echo "Usage: $0 {start|stop|restart|force-reload}" >&2
      exit 3
      ;;
  esac
  return 0
}

do_run "$@"
exit 0
