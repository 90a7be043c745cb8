#!/bin/sh
# Written for the ipsift corpus in the style of the commands fail2ban runs
# for its iptables-multiport action (fail2ban/fail2ban
# config/action.d/iptables-multiport.conf with iptables.conf's common
# definitions: <iptables> is "iptables -w", blocktype REJECT --reject-with
# icmp-port-unreachable): actionstart for two jails, a few bans and one
# unban, with the tags filled in as fail2ban fills them.
iptables -w -N f2b-sshd
iptables -w -A f2b-sshd -j RETURN
iptables -w -I INPUT -p tcp -m multiport --dports ssh -j f2b-sshd
iptables -w -N f2b-nginx-http-auth
iptables -w -A f2b-nginx-http-auth -j RETURN
iptables -w -I INPUT -p tcp -m multiport --dports http,https -j f2b-nginx-http-auth
iptables -w -I f2b-sshd 1 -s 203.0.113.9 -j REJECT --reject-with icmp-port-unreachable
iptables -w -I f2b-sshd 1 -s 198.51.100.77 -j REJECT --reject-with icmp-port-unreachable
iptables -w -I f2b-nginx-http-auth 1 -s 203.0.113.45 -j REJECT --reject-with icmp-port-unreachable
iptables -w -D f2b-sshd -s 203.0.113.9 -j REJECT --reject-with icmp-port-unreachable
# The mail jails, their ports as fail2ban's jail.conf writes them
# (config/jail.conf: [postfix] smtp,465,submission; [dovecot]
# pop3,pop3s,imap,imaps,submission,465,sieve).
iptables -w -N f2b-postfix
iptables -w -A f2b-postfix -j RETURN
iptables -w -I INPUT -p tcp -m multiport --dports smtp,465,submission -j f2b-postfix
iptables -w -N f2b-dovecot
iptables -w -A f2b-dovecot -j RETURN
iptables -w -I INPUT -p tcp -m multiport --dports pop3,pop3s,imap,imaps,submission,465,sieve -j f2b-dovecot
iptables -w -I f2b-dovecot 1 -s 192.0.2.99 -j REJECT --reject-with icmp-port-unreachable
