#!/bin/bash
# TestSandbox (script_test.go) runs it to check that a script
# reaches nothing outside its namespace and that the real tools run.
touch /tmp/ipsift-sandbox-probe
echo x > /run/netns/ipsift-sandbox-probe
echo x > /dev/shm/ipsift-sandbox-probe
/usr/bin/touch /var/tmp/ipsift-sandbox-probe
echo 1 > /proc/sys/kernel/ipsift-sandbox-probe
echo 0 > /proc/sys/net/ipv4/ip_forward
/sbin/modprobe ipsift_sandbox_probe
no-such-command --flag
resolved=$(getent hosts ipsift-sandbox-probe.example.com)
[ -z "$resolved" ] || iptables -A INPUT -m comment --comment "name resolved" -j DROP
iptables -A INPUT -s 192.0.2.1 -j ACCEPT
/sbin/iptables -A INPUT -s 192.0.2.2 -j ACCEPT
/usr/sbin/iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
iptables -A NOSUCHCHAIN -j ACCEPT
iptables -C INPUT -j DROP
ip6tables -A INPUT -j DROP
