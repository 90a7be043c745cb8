#!/bin/bash
# Reruns the experiments behind ../NOTES.md (as root): every section runs
# its commands in fresh network namespaces named ipsift-t-<pid>-r<n>, one
# per backend, which are removed on exit. Dates in iptables-save headers
# are replaced by <DATE>. Usage: bash testdata/notes-research.sh > out.txt
set -u
NSN=0
CUR=""
cleanup() { for n in $(ip netns list | awk '{print $1}' | grep "^ipsift-t-$$-r"); do ip netns del "$n"; done; rm -f "$RULES_L"; }
RULES_L=$(mktemp)
trap cleanup EXIT
fresh() {
  B=$1
  [ -n "$CUR" ] && ip netns del "$CUR"
  NSN=$((NSN+1)); CUR="ipsift-t-$$-r$NSN"
  ip netns add "$CUR"
  IPT="iptables-$B"; IPTR="iptables-$B-restore"; IPTS="iptables-$B-save"
  echo "## backend $B (fresh namespace)"
}
# r CMD: print the command, run it in the current namespace, print its
# output (stdout and stderr) and a non-zero exit status.
r() {
  local c="$*"
  echo "\$ $c"
  ip netns exec "$CUR" sh -c "$c" 2>&1 | sed -E 's/on [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} [0-9]{4}/on <DATE>/'
  local rc=${PIPESTATUS[0]}
  [ "$rc" != 0 ] && echo "[exit $rc]"
  true
}
cat > "$RULES_L" <<'RULES'
*filter
:INPUT DROP [123:45678]
:FORWARD ACCEPT [1234567:1234567890]
:OUTPUT ACCEPT [0:0]
:LOGDROP - [0:0]
:port-scan - [0:0]
:unused - [0:0]
[5:300] -A INPUT -i lo -j ACCEPT
[99999:99999] -A INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 22 -j ACCEPT
[100000:100000] -A INPUT -p tcp -m tcp --sport 1024:65535 --dport 80:90 -j LOGDROP
[999999:1000000] -A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -g port-scan
[12345678901:123456789012345] -A INPUT ! -s 198.51.100.66/32 -d 198.51.100.1/32 -p udp -m udp --dport 53
[0:0] -A INPUT -p icmp -m icmp --icmp-type 8 -m limit --limit 5/sec -j ACCEPT
[0:0] -A INPUT -f -j DROP
[0:0] -A INPUT ! -f -p 47 -j DROP
[0:0] -A INPUT -s 1.0.3.0/255.0.255.0 -j REJECT
[0:0] -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
[0:0] -A INPUT -m comment --comment "x y" -j RETURN
[0:0] -A FORWARD -i eth0 -o wlan0 -j ACCEPT
[0:0] -A FORWARD ! -i eth+ ! -o wlan0 -j ACCEPT
[0:0] -A FORWARD -i averyveryverylo -o + -j ACCEPT
[0:0] -A LOGDROP -m limit --limit 5/min -j LOG --log-prefix "LOGDROP: "
[0:0] -A LOGDROP -j DROP
[0:0] -A port-scan -j RETURN
[0:0] -A port-scan -j LOGDROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
[7:420] -A PREROUTING -i eth0 -p tcp -m tcp --dport 2222 -j DNAT --to-destination 192.0.2.50:22
[0:0] -A POSTROUTING -o eth0 -j MASQUERADE
COMMIT
RULES

echo; echo '######## section t1'
for b in nft legacy; do
fresh $b
r "$IPTS"
r "$IPT -L -n >/dev/null; $IPTS"
r "$IPT -t raw -L -n >/dev/null; $IPTS"
fresh $b
r "$IPT -t raw -L -n >/dev/null; $IPT -t mangle -L -n >/dev/null; $IPT -t nat -L -n > /dev/null; $IPT -t security -L -n >/dev/null; $IPT -L -n >/dev/null; $IPTS"
fresh $b
r "$IPT -t nat -A POSTROUTING -o eth0 -j MASQUERADE; $IPT -t mangle -N M; $IPT -A INPUT -j ACCEPT; $IPT -t raw -A PREROUTING -j ACCEPT; $IPTS"
fresh $b
r "$IPT -N zeta; $IPT -N alpha; $IPT -N Mid; $IPT -N _x; $IPT -N 9n; $IPT -A INPUT -j zeta; $IPTS -t filter"
r "$IPT -S"
r "$IPT -t filter -S zeta"
done

echo; echo '######## section t2'
b=nft
for order in "filter nat mangle raw security" "security raw mangle nat filter" "nat filter" "filter nat" "raw filter" "filter raw" "security filter"; do
fresh $b
cmd=""
for t in $order; do cmd="$cmd $IPT -t $t -N X$t;"; done
r "$cmd $IPTS | grep '^\*'"
r "nft list tables"
done
fresh $b
r "printf '*filter\n-A INPUT -j ACCEPT\nCOMMIT\n*raw\n-A OUTPUT -j ACCEPT\nCOMMIT\n' | $IPTR; $IPTS | grep '^\*'"
r "nft list ruleset"
b=legacy
for order in "filter nat mangle raw security" "nat filter"; do
fresh $b
cmd=""
for t in $order; do cmd="$cmd $IPT -t $t -N X$t;"; done
r "$cmd $IPTS | grep '^\*'"
r "cat /proc/net/ip_tables_names"
done
fresh $b
r "printf '*filter\n-A INPUT -j ACCEPT\nCOMMIT\n*raw\n-A OUTPUT -j ACCEPT\nCOMMIT\n' | $IPTR; $IPTS | grep '^\*'"

echo; echo '######## section t13'
b=nft
for order in "raw mangle" "nat mangle" "raw security" "nat security" "filter mangle" "nat raw"; do
fresh $b >/dev/null
cmd=""
for t in $order; do cmd="$cmd $IPT -t $t -N X$t;"; done
r "$cmd $IPTS | grep '^\*' | tr '\n' ' '"
done

echo; echo '######## section t3'
for b in nft legacy; do
fresh $b
r "$IPT -A INPUT -f -p tcp -o eth1 -i eth0 -d 2.2.2.2 -s 1.1.1.1 -j ACCEPT"
r "$IPT -A INPUT ! -f ! -p tcp ! -o eth1 ! -i eth0 ! -d 2.2.2.2 ! -s 1.1.1.1 -j ACCEPT"
r "$IPT -A FORWARD -s 1.1.1.1 ! -d 2.2.2.2 -i eth0 ! -o eth1 -p udp -f"
r "$IPT -A INPUT -p tcp -f"
r "$IPT -A INPUT -p tcp --dport 22 -f"
r "$IPT -A OUTPUT ! -i eth0"
r "$IPT -A INPUT ! -o eth0"
r "$IPT -A INPUT -o eth0"
r "$IPT -A INPUT -f -j DROP"
r "$IPT -A INPUT ! -f -j DROP"
r "$IPT -A INPUT -j"
r "$IPT -A INPUT"
r "$IPTS"
r "$IPT -S"
done

echo; echo '######## section t4'
for b in nft legacy; do
fresh $b
r "$IPT -A FORWARD -f -p tcp -o eth1 -i eth0 -d 2.2.2.2 -s 1.1.1.1 -j ACCEPT"
r "$IPT -A FORWARD ! -f ! -p tcp ! -o eth1 ! -i eth0 ! -d 2.2.2.2 ! -s 1.1.1.1 -j ACCEPT"
r "$IPT -A FORWARD -s 1.2.3.4"
r "$IPT -A FORWARD -s 1.2.3.4/32"
r "$IPT -A FORWARD -s 1.2.3.4/8"
r "$IPT -A FORWARD -s 1.2.3.4/255.0.0.0"
r "$IPT -A FORWARD -s 1.2.3.4/255.0.255.0"
r "$IPT -A FORWARD -s 1.2.3.4/0.0.0.255"
r "$IPT -A FORWARD -s 1.2.3.4/255.255.255.255"
r "$IPT -A FORWARD -s 1.2.3.4/0"
r "$IPT -A FORWARD -s 0.0.0.0/0"
r "$IPT -A FORWARD ! -s 0.0.0.0/0"
r "$IPT -A FORWARD -d 0.0.0.0/0 -s 0/0"
r "$IPT -A FORWARD -s 0.0.0.0/0.0.0.0"
r "$IPT -A FORWARD -s 0.0.0.0"
r "$IPT -A FORWARD -s 0.0.0.0/32"
r "$IPT -A FORWARD -s 10.1"
r "$IPT -A FORWARD -s 10.1/16"
r "$IPT -A FORWARD -s 10"
r "$IPT -A FORWARD -s 10.0.0.1/33"
r "$IPT -A FORWARD -s 10.0.0.1/-1"
r "$IPT -A FORWARD -s 10.0.0.256"
r "$IPT -A FORWARD -s 010.0.0.1"
r "$IPT -A FORWARD -s 0x0a.0.0.1"
r "$IPT -A FORWARD -s 10.0.0.1/024"
r "$IPT -A FORWARD -s 255.255.255.255/1"
r "$IPT -A FORWARD -s localhost"
r "$IPT -A FORWARD --source 192.0.2.1 --destination 192.0.2.2"
r "$IPT -A FORWARD --src 192.0.2.3 --dst 192.0.2.4"
r "$IPT -A FORWARD -s 1.1.1.1,2.2.2.2"
r "$IPT -A FORWARD -s 1.1.1.1,2.2.2.2 -d 3.3.3.3,4.4.4.4 -j ACCEPT"
r "$IPT -A FORWARD -s 2.2.2.2,1.1.1.1,2.2.2.2"
r "$IPT -A FORWARD ! -s 1.1.1.1,2.2.2.2"
r "$IPT -A FORWARD -s 1.1.1.1/24,2.2.2.2/255.255.0.0"
r "$IPT -A FORWARD -s 1.1.1.1, -j DROP"
r "$IPTS -t filter | grep -v '^#'"
r "$IPT -C FORWARD -s 1.2.3.99/8; echo \$?"
r "$IPT -D FORWARD -s 1.1.1.1,2.2.2.2 -d 3.3.3.3,4.4.4.4 -j ACCEPT; $IPT -S FORWARD | grep -c 3.3.3.3"
done

echo; echo '######## section t5'
for b in nft legacy; do
fresh $b
for i in "+" "eth+" "eth0" "! eth+" "! +" "e+th" "eth0.100" "abcdefghijklmno" "abcdefghijklmnop" "abcdefghijklmn+" "eth*" "a b" "eth/0" "eth:0" "ETH0" "lo" "" ; do
r "$IPT -A FORWARD -i '$i' -o '$i'"
done
r "$IPT -A FORWARD -i eth0 -i eth1"
r "$IPTS -t filter | grep -v '^#'"
r "$IPT -L FORWARD -n -v"
done

echo; echo '######## section t6'
for b in nft legacy; do
fresh $b
r "$IPT -A FORWARD ! -i + ! -o eth+"
r "$IPT -A FORWARD -i !eth0"
for p in tcp udp icmp 47 gre all 0 TCP Tcp ipv6-icmp icmpv6 6 17 1 esp ah sctp udplite 255 256 -1 mh ospf igmp 4 ipencap ipip 41 ipv6 132 136 33 dccp 50 51 112 vrrp 2 l2tp 115 '' ' tcp' 06 0x6; do
r "$IPT -A FORWARD -p '$p'"
done
r "$IPT -A FORWARD ! -p all"
r "$IPT -A FORWARD ! -p 0"
r "$IPT -A FORWARD --protocol udp"
r "$IPTS -t filter | grep -v '^#'"
r "$IPT -L FORWARD -n"
done

echo; echo '######## section t7'
for b in nft legacy; do
fresh $b
for p in ip hopopt IPv6-ICMP GRE 200 mptcp ipv6-frag; do r "$IPT -A FORWARD -p '$p'"; done
r "$IPT -A FORWARD -p 47; $IPT -A FORWARD -p 58; $IPT -A FORWARD -p 135; $IPT -A FORWARD -p 136; $IPT -A FORWARD -p tcp"
r "$IPTS -t filter | grep -- '-A'"
r "unshare -m sh -c 'mount --bind /dev/null /etc/protocols && $IPTS -t filter' | grep -- '-A'"
r "unshare -m sh -c 'mount --bind /dev/null /etc/protocols && $IPT -A FORWARD -p gre; $IPT -A FORWARD -p ipv6-icmp; $IPT -A FORWARD -p mh;  $IPT -A FORWARD -p icmpv6; $IPT -A FORWARD -p ah'"
done

echo; echo '######## section t8'
for b in nft legacy; do
fresh $b
r "$IPT -N LOGDROP; $IPT -N port-scan; $IPT -N A-very-long-chain-name-of-28c"
r "$IPT -A INPUT -p tcp --dport 22 -j ACCEPT"
r "$IPT -A INPUT -p tcp --sport 1024:65535 --dport 80 -j ACCEPT"
r "$IPT -A INPUT -p tcp -m tcp --dport 22:25 ! --sport 53"
r "$IPT -A INPUT -p tcp --syn -j port-scan"
r "$IPT -A INPUT -p tcp ! --syn"
r "$IPT -A INPUT -p tcp --tcp-flags ALL NONE"
r "$IPT -A INPUT -p tcp --tcp-flags SYN,ACK,FIN,RST RST -g port-scan"
r "$IPT -A INPUT -p tcp -m tcp"
r "$IPT -A INPUT -p udp --dport 53 -j ACCEPT"
r "$IPT -A INPUT -p udp -m udp --dport domain"
r "$IPT -A INPUT -p tcp --dport ssh:http"
r "$IPT -A INPUT -p tcp --dport 0:65535"
r "$IPT -A INPUT -p tcp --dport :1023"
r "$IPT -A INPUT -p tcp --dport 1024:"
r "$IPT -A INPUT -p icmp --icmp-type 8 -j ACCEPT"
r "$IPT -A INPUT -p icmp --icmp-type echo-request"
r "$IPT -A INPUT -p icmp --icmp-type any"
r "$IPT -A INPUT -p icmp --icmp-type 3/3"
r "$IPT -A INPUT -p icmp ! --icmp-type port-unreachable"
r "$IPT -A INPUT -p icmp -m icmp"
r "$IPT -A INPUT -m comment --comment 'x y' -j LOGDROP"
r "$IPT -A INPUT -m comment --comment xy"
r "$IPT -A INPUT -m comment --comment 'a\"b'"
r "$IPT -A INPUT -m comment --comment \"it's\""
r "$IPT -A INPUT -m comment --comment 'back\\\\slash'"
r "$IPT -A INPUT -m comment --comment ''"
r "$IPT -A INPUT -m comment --comment 'tab	x'"
r "$IPT -A INPUT -m comment --comment 'dollar\$x'"
r "$IPT -A LOGDROP -m limit --limit 5/min -j LOG --log-prefix 'LOGDROP: ' --log-level 4"
r "$IPT -A LOGDROP -j LOG --log-prefix X"
r "$IPT -A LOGDROP -j LOG --log-prefix 'a\"b'"
r "$IPT -A LOGDROP -j LOG"
r "$IPT -A LOGDROP -j LOG --log-level warning"
r "$IPT -A LOGDROP -j LOG --log-level debug --log-tcp-options --log-ip-options --log-uid --log-tcp-sequence"
r "$IPT -A LOGDROP -j DROP"
r "$IPT -A port-scan -j RETURN"
r "$IPT -A INPUT -j A-very-long-chain-name-of-28c"
r "$IPT -A INPUT -c 5 100 -s 192.0.2.1 -j ACCEPT"
r "$IPT -A INPUT -j REJECT"
r "$IPT -A INPUT -p tcp -j REJECT --reject-with tcp-reset"
r "$IPT -A INPUT -m state --state NEW,ESTABLISHED"
r "$IPT -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED"
r "$IPT -A INPUT -p tcp -m multiport --dports 22,25,80:90"
r "$IPT -A INPUT -m multiport -p tcp --dports 22"
r "$IPT -A INPUT -p tcp -m tcp --dport 80 -m conntrack --ctstate NEW -m statistic --mode nth --every 4 --packet 0"
r "$IPT -t nat -A PREROUTING -i eth0 -p tcp --dport 2222 -j DNAT --to-destination 192.0.2.50:22"
r "$IPT -t nat -A POSTROUTING -o eth0 -j MASQUERADE"
r "$IPT -P FORWARD DROP"
r "$IPTS"
r "$IPTS -c | grep -v '^#'"
r "$IPT -S"
r "$IPT -S -v"
r "$IPT -S INPUT 3"
r "$IPT -t nat -S"
done

echo; echo '######## section t9'
for b in nft legacy; do
fresh $b
r "$IPT -A FORWARD -m comment --comment 'a.b'; $IPT -A FORWARD -m comment --comment 'a-b_c'; $IPT -A FORWARD -m comment --comment 'a/b'; $IPT -A FORWARD -m comment --comment 'a:b'; $IPT -A FORWARD -m comment --comment 'a,b';$IPT -A FORWARD -m comment --comment 'a=b';$IPT -A FORWARD -m comment --comment 'ü'; $IPT -A FORWARD -m comment --comment 'a+b'; $IPT -A FORWARD -m comment --comment 'a@b'; $IPT -A FORWARD -m comment --comment '#x'; $IPT -A FORWARD -m comment --comment 'a
b'"
r "$IPT -A FORWARD -m comment --comment '$(printf 'x%.0s' $(seq 1 256))'"
r "$IPT -A FORWARD -m comment --comment '$(printf 'x%.0s' $(seq 1 255))' | wc -c"
r "$IPT -A FORWARD -j LOG --log-prefix '$(printf 'p%.0s' $(seq 1 30))'"
r "$IPT -A FORWARD -j LOG --log-prefix '$(printf 'p%.0s' $(seq 1 29))'"
r "$IPT -A FORWARD -j LOG --log-prefix 'a.b'"
r "$IPT -A FORWARD -j LOG --log-prefix \"it's\""
r "$IPT -A FORWARD -j LOG --log-prefix ''"
r "$IPTS -t filter | grep -- '-A'"
r "$IPT -L FORWARD -n -v"
done

echo; echo '######## section t10'
for b in nft legacy; do
fresh $b
r "$IPTR -c < $RULES_L"
r "$IPTS -c | grep -v '^#'"
r "$IPT -L -n -v -x --line-numbers | sed 's/\$/\$/'"
r "$IPT -L -n -v | sed 's/\$/\$/'"
r "$IPT -L -n | sed 's/\$/\$/'"
r "$IPT -L -n --line-numbers | sed 's/\$/\$/'"
r "$IPT -L INPUT -n -v -x | sed 's/\$/\$/'"
r "$IPT -t nat -L -n -v -x --line-numbers | sed 's/\$/\$/'"
r "$IPT -L port-scan -n -v | sed 's/\$/\$/'"
r "$IPT -L INPUT 2 -n -v"
r "$IPT -L -v -x -n -Z INPUT | sed 's/\$/\$/'; $IPTS -c -t filter | grep INPUT | head -3"
done

echo; echo '######## section t11'
for b in nft legacy; do
fresh $b
r "$IPT -A INPUT -m comment --comment x -s 1.2.3.4 -j ACCEPT -p tcp"
r "$IPT -A INPUT -m tcp -p tcp --dport 22"
r "$IPT -A INPUT --dport 22"
r "$IPT -A INPUT -p tcp --destination-port 22 --source-port 1"
r "$IPT -A INPUT -p udp -m multiport --ports 53,67 -m udp --sport 1"
r "$IPT -A INPUT -p tcp -m tcp --dport 22 -m tcp --sport 1"
r "$IPT -A INPUT -j ACCEPT -j DROP"
r "$IPTS | grep -- '-A'"
r "$IPTS -t filter | head -1 | sed 's/on .*/on <ctime>/'; $IPTS | head -1 | wc -c"
r "$IPTS -t nat"
r "$IPTS -t nosuch"
done
for b in nft legacy; do
fresh $b
r "printf '*filter\n:INPUT DROP [5:500]\n:FOO - [3:3]\n[7:700] -A INPUT -j ACCEPT\n-A INPUT -c 9 900 -j DROP\nCOMMIT\n' | $IPTR; $IPTS -c | grep -v '^#'"
r "printf '*filter\n:INPUT DROP [5:500]\n:FOO - [3:3]\n[7:700] -A INPUT -j ACCEPT\n-A INPUT -c 9 900 -j DROP\nCOMMIT\n' | $IPTR -c; $IPTS -c | grep -v '^#'"
r "printf '*filter\nCOMMIT\n' | $IPTR; $IPTS"
r "printf '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n' | $IPTR"
r "printf '*filter\n-A INPUT -j NOPE\nCOMMIT\n' | $IPTR"
r "printf '*filter\n-A INPUT -p tcp --dport 99999 -j ACCEPT\nCOMMIT\n' | $IPTR"
r "printf '# comment\n\n*filter\n-A INPUT -m comment --comment \"two words\" -j ACCEPT\nCOMMIT\n' | $IPTR --noflush; $IPTS -t filter | grep -- -A"
r "printf '*filter\n-A INPUT -s 1.1.1.1,2.2.2.2 -j ACCEPT\nCOMMIT\n' | $IPTR; $IPTS -t filter | grep -- -A"
r "$IPT -N chain2; $IPT -A chain2 -j RETURN; $IPT -S chain2; $IPT -S INPUT; $IPT -S INPUT 1; $IPT -S chain2 1; $IPT -S INPUT 0"
r "$IPT -L chain2; $IPT -L INPUT -v"
done

echo; echo '######## section t12'
for b in nft legacy; do
fresh $b
r "printf '*filter\n:INPUT DROP [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n' | $IPTR; printf '*filter\nCOMMIT\n' | $IPTR; $IPTS | grep -v '^#'; $IPT -S"
r "printf '*filter\n:INPUT DROP [0:0]\nCOMMIT\n' | $IPTR; printf '*filter\n:FORWARD DROP [0:0]\nCOMMIT\n' | $IPTR; $IPT -S"
r "$IPT -F; $IPT -X; $IPT -S; $IPT -t nat -F; $IPTS | grep '^\*'"
done

echo; echo '######## section t14'
for b in nft legacy; do
fresh $b
r "$IPT -t mangle -S >/dev/null; $IPT -t raw -F; $IPTS | grep '^\*'"
r "$IPT -A FORWARD -p Gre; $IPT -A FORWARD -p oSpF; $IPT -A FORWARD -p OSPFIGP; $IPT -A FORWARD -p ipv6-ICMP; $IPT -A FORWARD -p UDP"
r "$IPT -A FORWARD -j LOG --log-level warn; $IPT -A FORWARD -j LOG --log-level 7 --log-prefix \"it's\"; $IPT -A FORWARD -j LOG --log-uid"
r "$IPTS -t filter | grep -- -A; $IPT -L FORWARD -n"
done
