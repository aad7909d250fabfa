#!/bin/bash
# Second chance for connections still open to the old active node, during a
# planned switchover: run on the node that TAKES the virtual IP.
#
#   ringlb-handoff.sh on <active-node-ip>    before ringlb-switchover.sh runs there
#   ringlb-handoff.sh off                    once the old active node is idle
#
# Why. When the address moves, a client's packets for a TCP connection that
# the old node accepted now reach this node, which knows no such connection
# and answers with a reset. Draining first (ringlb-switchover.sh reloads
# with `option httpclose`) leaves one window: a connection whose SYN reached
# the old node just before the client's ARP entry flipped and whose request
# arrives here (measured in the HA lab: about one planned switchover in
# fifteen lost a request that way under load). With the handoff on, a TCP
# packet to the address that is not a SYN and belongs to no connection this
# node tracks (conntrack "invalid" with `nf_conntrack_tcp_loose=0`) is
# routed on to the old node, which still holds the connection (the address
# stays on its `lo`) and answers the client itself. New connections (SYNs)
# are this node's. Leave it off otherwise: after a hard failure the old node
# cannot answer, and a reset is better than silence.
#
# Needs nftables and iproute2; changes only this node's network namespace:
# a nft table `ringlb_handoff`, routing table 152, the rule order of the
# local table, ip_forward, and the conntrack sysctl (all undone by `off`).
set -euo pipefail

vip="${RINGLB_VIP:-198.18.0.100}"
iface="${RINGLB_IFACE:-eth0}"
mark=0x52
table=152

case "${1:-}" in
on)
    peer="${2:?usage: ringlb-handoff.sh on <active-node-ip>}"
    sysctl -qw net.ipv4.ip_forward=1
    sysctl -qw "net.ipv4.conf.all.send_redirects=0" "net.ipv4.conf.$iface.send_redirects=0"
    nft -f - <<EOF
table ip ringlb_handoff {
    chain pre {
        type filter hook prerouting priority -150;
        ip daddr $vip tcp flags & syn == 0 ct state invalid meta mark set $mark
    }
}
EOF
    # Loaded by the table's `ct` match: only now may the sysctl be set.
    sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
    ip route replace default via "$peer" dev "$iface" table "$table"
    ip rule add pref 90 fwmark "$mark" lookup "$table"
    # The address is local here, and the local table (rule 0) would deliver
    # the packet before any fwmark rule: move it after ours.
    ip rule add pref 100 lookup local
    ip rule del pref 0 lookup local
    ;;
off)
    ip rule add pref 0 lookup local 2>/dev/null || true
    ip rule del pref 100 lookup local 2>/dev/null || true
    ip rule del pref 90 fwmark "$mark" lookup "$table" 2>/dev/null || true
    ip route flush table "$table" 2>/dev/null || true
    nft delete table ip ringlb_handoff 2>/dev/null || true
    sysctl -qw net.netfilter.nf_conntrack_tcp_loose=1 2>/dev/null || true
    ;;
*)
    echo "usage: ringlb-handoff.sh on <active-node-ip> | off" >&2
    exit 2
    ;;
esac
