#!/bin/bash
# Written for the ipsift corpus in the style of hwdsl2/setup-ipsec-vpn
# (vpnsetup_ubuntu.sh, update_iptables): the rules an IPsec/L2TP VPN
# installer inserts at fixed positions through command prefixes kept in
# variables ($ipi 1 ...), guarded by an iptables -C test; the masquerade
# loop over the two client pools is written out as a loop here.
NET_IFACE=eth0
L2TP_NET=192.0.2.128/25
XAUTH_NET=198.51.100.128/25
L2TP_LOCAL=192.0.2.129

bigecho() { echo "## $1"; }

update_iptables() {
  bigecho "Updating IPTables rules..."
  ipi='iptables -I INPUT'
  ipf='iptables -I FORWARD'
  ipp='iptables -t nat -I POSTROUTING'
  res='RELATED,ESTABLISHED'
  if ! iptables -t nat -C POSTROUTING -s "$L2TP_NET" -o "$NET_IFACE" -j MASQUERADE 2>/dev/null; then
    $ipi 1 -p udp --dport 1701 -m policy --dir in --pol none -j DROP
    $ipi 2 -m conntrack --ctstate INVALID -j DROP
    $ipi 3 -m conntrack --ctstate "$res" -j ACCEPT
    $ipi 4 -p udp -m multiport --dports 500,4500 -j ACCEPT
    $ipi 5 -p udp --dport 1701 -m policy --dir in --pol ipsec -j ACCEPT
    $ipi 6 -p udp --dport 1701 -j DROP
    $ipf 1 -m conntrack --ctstate INVALID -j DROP
    $ipf 2 -i "$NET_IFACE" -o ppp+ -m conntrack --ctstate "$res" -j ACCEPT
    $ipf 3 -i ppp+ -o "$NET_IFACE" -j ACCEPT
    $ipf 4 -i ppp+ -o ppp+ -j ACCEPT
    $ipf 5 -i "$NET_IFACE" -d "$XAUTH_NET" -m conntrack --ctstate "$res" -j ACCEPT
    $ipf 6 -s "$XAUTH_NET" -o "$NET_IFACE" -j ACCEPT
    $ipf 7 -s "$XAUTH_NET" -o ppp+ -j ACCEPT
    iptables -A FORWARD -j DROP
    for net in "$XAUTH_NET" "$L2TP_NET"; do
      if [ "$net" = "$XAUTH_NET" ]; then
        $ipp -s "$net" -o "$NET_IFACE" -m policy --dir out --pol none -j MASQUERADE
      else
        $ipp -s "$net" -o "$NET_IFACE" -j MASQUERADE
      fi
    done
  fi
}

update_iptables
