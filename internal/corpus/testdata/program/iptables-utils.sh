#!/bin/bash
# Written for the ipsift corpus in the style of calenicolas/iptables_utils
# (lib/allow_client.sh, lib/allow_server.sh, lib/allow_forward_to_server.sh):
# one function per kind of rule pair, called for each entry of a service
# list (the list and the loop stand for the repository's sbin/ wrappers,
# which call the functions once per invocation).

allow_client() {
  local PROTOCOL=$1
  local INTERFACE=$2
  local PORT=$3

  iptables -I INPUT -p "$PROTOCOL" -i "$INTERFACE" --sport "$PORT" -m state --state ESTABLISHED -j ACCEPT
  iptables -I OUTPUT -p "$PROTOCOL" -o "$INTERFACE" --dport "$PORT" -m state --state NEW,ESTABLISHED -j ACCEPT
}

allow_server() {
  local PROTOCOL=$1
  local INTERFACE=$2
  local PORT=$3

  iptables -I INPUT -p "$PROTOCOL" -i "$INTERFACE" --dport "$PORT" -m state --state NEW,ESTABLISHED -j ACCEPT
  iptables -I OUTPUT -p "$PROTOCOL" -o "$INTERFACE" --sport "$PORT" -m state --state ESTABLISHED -j ACCEPT
}

allow_forward_to_server() {
  local PROTOCOL=$1 IN=$2 OUT=$3 SERVER=$4 PORT=$5

  iptables -t nat -A PREROUTING -i "$IN" -p "$PROTOCOL" --dport "$PORT" -j DNAT --to-destination "$SERVER:$PORT"
  iptables -A FORWARD -i "$IN" -o "$OUT" -p "$PROTOCOL" -d "$SERVER" --dport "$PORT" -m state --state NEW,ESTABLISHED,RELATED -j ACCEPT
  iptables -A FORWARD -i "$OUT" -o "$IN" -p "$PROTOCOL" -s "$SERVER" --sport "$PORT" -m state --state ESTABLISHED,RELATED -j ACCEPT
}

iptables -P INPUT DROP
iptables -P OUTPUT DROP
iptables -P FORWARD DROP

while read -r kind proto iface port; do
  case "$kind" in
    client) allow_client "$proto" "$iface" "$port" ;;
    server) allow_server "$proto" "$iface" "$port" ;;
  esac
done <<'LIST'
client udp eth0 53
client tcp eth0 443
server tcp eth0 22
server tcp wlan0 80
LIST

if [ -n "${WEB_SERVER:-192.0.2.80}" ]; then
  allow_forward_to_server tcp eth0 wlan0 "${WEB_SERVER:-192.0.2.80}" 8080
fi
