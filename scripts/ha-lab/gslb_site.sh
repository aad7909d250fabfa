# shellcheck shell=bash
# One GSLB site for scripts/ha-lab/gslb: a bridge, two ringlb nodes sharing
# a VRRP virtual IP (keepalived, VRRPv3, unicast, advert_int 0.1) and two
# demo backends whose answer names the site ("Hello from a-web1").
# Needs lib.sh sourced, lab_init done and the "core" router namespace; the
# router gets .1 of the site subnet.
#
# Addresses of site S with subnet 198.18.N.0/24:
#   .1 core router   .2 S-lb1 (VRRP priority 150)   .3 S-lb2 (priority 100)
#   .10 the site VIP  .21 S-web1  .22 S-web2 (demo-backend on :8080)

# gslb_site S N VRID: builds site S (a or b) on 198.18.N.0/24, VRRP id VRID.
gslb_site() {
    local s="$1" n="$2" vrid="$3"
    local net="198.18.$n" node i
    lab_switch "sw-$s"
    lab_link core "eth-$s" "sw-$s" "$net.1/24"
    for i in 1 2; do
        node="$s-web$i"
        lab_ns "$node"
        lab_link "$node" eth0 "sw-$s" "$net.2$i/24"
        lab_exec "$node" ip route add default via "$net.1"
        lab_bg "$node" "$node.log" "$DEMO_BACKEND" "$net.2$i:8080" "$node"
    done
    for i in 1 2; do
        node="$s-lb$i"
        lab_ns "$node"
        lab_link "$node" eth0 "sw-$s" "$net.$((i + 1))/24"
        lab_exec "$node" ip route add default via "$net.1"
        # ringlb binds the VIP on both nodes, also on the one that does not
        # hold it, so that a failover needs no restart.
        lab_exec "$node" sysctl -qw net.ipv4.ip_nonlocal_bind=1
        gslb_ringlb_cfg "$s" "$i" "$net" >"$LAB_DIR/$node.cfg"
        "$RINGLB" -c -f "$LAB_DIR/$node.cfg" >/dev/null
        lab_bg "$node" "$node.ringlb.log" "$RINGLB" -f "$LAB_DIR/$node.cfg"
        gslb_keepalived_cfg "$s" "$i" "$net" "$vrid" >"$LAB_DIR/$node.keepalived.conf"
        # -n: stays our child, so the cleanup stops it; own pid files so that
        # the four keepalived of the lab (and any other on the host) coexist.
        lab_bg "$node" "$node.keepalived.log" keepalived -n -l -P \
            -f "$LAB_DIR/$node.keepalived.conf" \
            -p "$LAB_DIR/$node.keepalived.pid" -r "$LAB_DIR/$node.vrrp.pid" \
            -c "$LAB_DIR/$node.checkers.pid"
    done
}

# gslb_ringlb_cfg S I NET: ringlb.cfg of node S-lbI. The monitor-uri is the
# site's health for the GSLB: 503 once no server of "web" is usable, which is
# what a drain (disable server on the stats socket) or a dead site gives.
gslb_ringlb_cfg() {
    local s="$1" i="$2" net="$3"
    cat <<EOF
global
    nbthread 1
    stats socket $LAB_DIR/$s-lb$i.sock level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend www
    bind $net.10:80
    monitor-uri /site-health
    monitor fail if { nbsrv(web) lt 1 }
    default_backend web
backend web
    balance roundrobin
    option httpchk GET /
    server $s-web1 $net.21:8080 check inter 500 rise 2 fall 2
    server $s-web2 $net.22:8080 check inter 500 rise 2 fall 2
EOF
}

# gslb_keepalived_cfg S I NET VRID: keepalived.conf of node S-lbI. Node 1
# has the higher priority, so it holds the VIP when both are up.
gslb_keepalived_cfg() {
    local s="$1" i="$2" net="$3" vrid="$4"
    local me="$net.$((i + 1))" peer="$net.$((4 - i))"
    cat <<EOF
global_defs {
    router_id $s-lb$i
    # VRRPv3 allows sub-second adverts: a dead master is noticed in
    # 3 x 0.1 s plus the skew, so the VIP moves in well under a second.
    vrrp_version 3
    # Real-time scheduling for the VRRP process, as on a production load
    # balancer: at 0.1 s adverts a starved keepalived (a busy host) makes the
    # backup take over from a healthy master.
    vrrp_rt_priority 50
}
vrrp_instance site_$s {
    state BACKUP
    interface eth0
    virtual_router_id $vrid
    priority $((i == 1 ? 150 : 100))
    advert_int 0.1
    # Unicast between the pair: no multicast on the bridge is needed.
    unicast_src_ip $me
    unicast_peer {
        $peer
    }
    virtual_ipaddress {
        $net.10/24 dev eth0
    }
}
EOF
}

# gslb_vip_holder S N: prints which node of site S holds 198.18.N.10.
gslb_vip_holder() {
    local s="$1" n="$2" i
    for i in 1 2; do
        if lab_exec "$s-lb$i" ip -4 -o addr show dev eth0 | grep -q " 198\.18\.$n\.10/"; then
            echo "$s-lb$i"
        fi
    done
}

# gslb_sock S COMMAND: sends COMMAND to the stats socket of both nodes of
# site S (a drain must hold on whichever node has the VIP).
gslb_sock() {
    local s="$1" cmd="$2" i
    for i in 1 2; do
        python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
out = b""
while True:
    try:
        d = s.recv(65536)
    except TimeoutError:
        break
    if not d:
        break
    out += d
sys.stdout.write(out.decode())' "$LAB_DIR/$s-lb$i.sock" "$cmd"
    done
}
