#!/bin/bash +x
# Written for the ipsift corpus in the style of motech/motech-scm
# (puppet/modules/iptables/templates/configure_iptables.sh): a host firewall
# whose lists come in as arguments from configuration management, walked with
# for loops; a helper function opens a service both ways.
ip=/sbin/iptables
admins=${1:-"192.0.2.5 192.0.2.6"}
sshers=${2:-"203.0.113.0/24"}
tcpservices=${3:-"80 443 8080"}
ssh_port=${4:-22}

echo -n ">> Applying iptables rules... "

allow_out() {
  local proto=$1 port=$2
  $ip -A OUTPUT -p $proto -m $proto --dport $port -j ACCEPT
  $ip -A INPUT -p $proto -m $proto --sport $port -m state --state RELATED,ESTABLISHED -j ACCEPT
}

$ip -F
$ip -X
$ip -Z
$ip -t nat -F

$ip -P INPUT DROP
$ip -P OUTPUT DROP
$ip -P FORWARD DROP

$ip -A INPUT -i lo -j ACCEPT
$ip -A OUTPUT -o lo -j ACCEPT

for admin in $admins ; do
    $ip -A INPUT -s $admin -j ACCEPT
    $ip -A FORWARD -s $admin -j ACCEPT
    $ip -A OUTPUT -d $admin -j ACCEPT
done

for ssher in $sshers ; do
    $ip -A INPUT -s $ssher -p tcp -m tcp --dport $ssh_port -j ACCEPT
    $ip -A OUTPUT -d $ssher -p tcp -m tcp --sport $ssh_port -j ACCEPT
done

for service in $tcpservices ; do
    $ip -A INPUT -p tcp -m tcp --dport $service -j ACCEPT
    $ip -A OUTPUT -p tcp -m tcp --sport $service -m state --state RELATED,ESTABLISHED -j ACCEPT
done

if [ -n "$ssh_port" ] && [ "$ssh_port" != "22" ]; then
    $ip -A INPUT -p tcp -m tcp --dport 22 -j REJECT --reject-with tcp-reset
fi

$ip -A INPUT -j LOG --log-level 4

allow_out tcp 80
allow_out tcp 443
allow_out udp 53
allow_out udp 123

echo "done"
