#!/bin/bash
# Written for the ipsift corpus in the style of linushsao/script
# (create_router_services.sh): one part of a home router's firewall that uses
# interface variables set by the script that runs it (here unset: the part
# run alone), with protocols in capitals.
iptables -A INPUT -p TCP -i $EXTIF --dport 80 -j ACCEPT # HTTP
iptables -A INPUT -p UDP -i $EXTIF --dport 80 -j ACCEPT
iptables -A INPUT -p TCP -i $WIRELESSIF --dport 20 -j ACCEPT # FTP
iptables -A INPUT -p TCP -i $WIRELESSIF --dport 21 -j ACCEPT
iptables -A INPUT -p TCP -i $EXTIF --dport 443 -j ACCEPT
iptables -A INPUT -p TCP -i $WIRELESSIF --dport 3128 -j ACCEPT # PROXY
iptables -A INPUT -p UDP -i $WIRELESSIF --dport 3128 -j ACCEPT
