#!/bin/sh
# Written for the ipsift corpus in the style of iorodeo/mct
# (mct_computer_admin/misc/nat.sh), which follows David A. Ranch's
# rc.firewall-iptables from the IP Masquerade HOWTO (TrinityOS): load the
# modules, switch forwarding on, then one iptables-restore here-document
# with the interfaces substituted.
FWVER=0.80s
echo -e "\n\nLoading simple rc.firewall-iptables version $FWVER..\n"
DEPMOD=/sbin/depmod
MODPROBE=/sbin/modprobe

EXTIF="eth0"
INTIF1="wlan0"
INTIF2="eth1"

echo "   External Interface:  $EXTIF"
echo "   Internal Interface 1:  $INTIF1"
echo "   Internal Interface 2:  $INTIF2"

echo -en "   loading modules: "
$DEPMOD -a
$MODPROBE ip_tables
$MODPROBE nf_conntrack
$MODPROBE nf_conntrack_ftp
$MODPROBE iptable_nat
$MODPROBE nf_nat_ftp
echo "   Enabling forwarding.."
echo "1" > /proc/sys/net/ipv4/ip_forward
echo "   Enabling DynamicAddr.."
echo "1" > /proc/sys/net/ipv4/ip_dynaddr

iptables-restore <<-EOF
*nat
-A POSTROUTING -o "$EXTIF" -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -i "$EXTIF" -o "$INTIF1" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A FORWARD -i "$EXTIF" -o "$INTIF2" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A FORWARD -i "$INTIF1" -o "$EXTIF" -j ACCEPT
-A FORWARD -i "$INTIF2" -o "$EXTIF" -j ACCEPT
-A FORWARD -j LOG
COMMIT
EOF

echo -e "\nrc.firewall-iptables v$FWVER done.\n"
