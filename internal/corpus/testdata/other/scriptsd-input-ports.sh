#!/bin/bash -e
# Written for the ipsift corpus in the style of sgpinkus/firewall-iptables-deb
# (scripts.d/002-filter-input-ports): one part of a run-parts firewall, its
# settings from a config file or defaults, ports given space separated.
[ -r "$FIREWALL_CONFFILE" ] && . "$FIREWALL_CONFFILE"
INBOUND_TCP_PORT_ALLOW=${INBOUND_TCP_PORT_ALLOW:-"22 25 80 443"}
INBOUND_UDP_PORT_ALLOW=${INBOUND_UDP_PORT_ALLOW:-""}
FIREWALL_LOG_DEFAULT=${FIREWALL_LOG_DEFAULT:-""}
FIREWALL_INPUT_DEFAULT_RULE=${FIREWALL_INPUT_DEFAULT_RULE:-"REJECT"}

function do_start()
{
  do_stop
  iptables -t filter -N input_port_filter
  iptables -A input_port_filter -m comment --comment "input port rules"
  iptables -A INPUT -j input_port_filter
  iptables -A input_port_filter -i lo -j RETURN
  iptables -A input_port_filter -p icmp -j RETURN
  iptables -A input_port_filter -m state --state RELATED,ESTABLISHED -j RETURN
  [[ -n ${INBOUND_TCP_PORT_ALLOW// /,} ]] && iptables -A input_port_filter -p tcp -m multiport --destination-port ${INBOUND_TCP_PORT_ALLOW// /,} -j RETURN
  [[ -n ${INBOUND_UDP_PORT_ALLOW// /,} ]] && iptables -A input_port_filter -p udp -m multiport --destination-port ${INBOUND_UDP_PORT_ALLOW// /,} -j RETURN
  [[ -n "${FIREWALL_LOG_DEFAULT}" ]] && iptables -A input_port_filter -j LOG --log-prefix="input REJECTED "
  iptables -A input_port_filter -j "${FIREWALL_INPUT_DEFAULT_RULE}"
}

function do_stop()
{
  if chain_exists filter input_port_filter; then
    iptables -t filter -D INPUT -j input_port_filter
    iptables -t filter -F input_port_filter
    iptables -t filter -X input_port_filter
  fi
  iptables -P INPUT ACCEPT
}

function chain_exists()
{
  iptables -t "$1" -n --list "$2" >/dev/null 2>&1
  return $?
}

[[ -z "$1" || ( "$1" != "start" && "$1" != "stop" ) ]] && exit 1;

case "$1" in
  start)
    do_start
  ;;
  stop)
    do_stop
  ;;
esac
