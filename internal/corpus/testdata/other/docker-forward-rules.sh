#!/bin/bash
# Written for the ipsift corpus in the style of a148ru/puppet_files
# (enveroments/production/modules/iptables/files/ot_iptables_rules.sh): a host
# script that restores Docker's FORWARD jumps after its own flush, relying on
# chains Docker made (created here first, as the Docker daemon had).
PATH="$PATH:/usr/sbin"

iptables -N DOCKER
iptables -N DOCKER-ISOLATION-STAGE-1
iptables -N DOCKER-USER
iptables -A FORWARD -j DOCKER-USER
iptables -A FORWARD -j DOCKER-ISOLATION-STAGE-1
iptables -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
iptables -A FORWARD -o docker0 -j DOCKER
iptables -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
iptables -A FORWARD -i docker0 -o docker0 -j ACCEPT
iptables -I DOCKER-USER -j ACCEPT
