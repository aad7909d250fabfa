#!/bin/bash
# Planned switchover: run on the ACTIVE ringlb node to hand the virtual IP to
# the standby without failing a request.
#
#   ringlb-switchover.sh           drain, move the address, stay a standby
#   ringlb-switchover.sh --stop    ... then soft-stop ringlb (maintenance)
#
# Why this order. After the address moves, the client's packets for a TCP
# connection still open to this node reach the other node, whose kernel
# answers with a reset; a keep-alive client's next request on it fails
# (curl, browsers and urllib3 then retry it once on a new connection; other
# clients report an error). So before the address moves:
#   1. drain: reload ringlb with `option httpclose` (the commented line in
#      ringlb.cfg). The old worker soft-stops: it answers each kept-alive
#      connection's next request with `Connection: close` and closes it; the
#      new worker takes the same sockets at once (no new connection is
#      refused) and closes every connection after its response. From now on
#      no connection outlives its request, while the address is still here.
#   2. move: lower this node's VRRP priority below the peer's (track_file);
#      the peer preempts within about 0.4 s and sends gratuitous ARPs, and
#      new connections go to it.
#   3. wait until no connection to the address is left here, then put the
#      normal configuration back and reload (a ready standby again), or
#      soft-stop ringlb with --stop (keepalived then marks this node FAULT).
# One window is left: a connection whose SYN reached this node just before
# the client's ARP entry flipped, and whose request reaches the peer (seen
# in the HA lab in about one switchover of fifteen under load). Run
# `ringlb-handoff.sh on <this node's address>` on the peer first (and `off`
# there once this node is idle): the peer then routes such packets back
# here, where the connection lives (the address stays on `lo`).
set -euo pipefail

conf="${RINGLB_CONF:-/etc/ringlb/ringlb.cfg}"
pidfile="${RINGLB_PIDFILE:-/run/ringlb/ringlb.pid}"   # the master's (-p)
prio="${RINGLB_PRIO_FILE:-/run/ringlb/vrrp-priority}" # keepalived track_file
vip="${RINGLB_VIP:-198.18.0.100}"
iface="${RINGLB_IFACE:-eth0}"
stop=0
[ "${1:-}" = --stop ] && stop=1

log() { echo "$(date +%s.%N) switchover: $*"; }

# wait_until SECONDS CMD...: bounded wait for CMD to succeed.
wait_until() {
    local secs="$1" end
    shift
    end=$(($(date +%s%N) + secs * 1000000000))
    until "$@"; do
        [ "$(date +%s%N)" -lt "$end" ] || { log "timeout: $*"; return 1; }
        sleep 0.02
    done
}
# (No `| grep -q`: under pipefail its early exit would fail the pipeline.)
has_vip() { [ -n "$(ip -o addr show dev "$iface" to "$vip/32")" ]; }
no_vip() { ! has_vip; }
# Established connections to the address, either frontend port.
conns() { ss -Htn state established src "$vip" | wc -l; }
idle() { [ "$(conns)" -eq 0 ]; }
workers() { pgrep -P "$(cat "$pidfile")" | sort; }

has_vip || { log "$vip is not on this node: nothing to switch over"; exit 1; }
master="$(cat "$pidfile")"

log "1. drain: reload with option httpclose"
before="$(workers)"
sed -i 's/^\( *\)# option httpclose$/\1option httpclose/' "$conf"
kill -USR2 "$master"
# The old worker exits once its last connection is closed: each kept-alive
# connection after its next request (answered with `Connection: close`), an
# idle one after 1 s. From then on every connection is the new worker's,
# which closes it after one response.
old_gone() { [ -z "$(comm -12 <(echo "$before") <(workers))" ]; }
wait_until 10 old_gone || log "   the old worker still has connections"
log "   drained"

log "2. move: priority -100"
echo -100 >"$prio"
wait_until 5 no_vip
log "   address gone"

log "3. wait for the last connections"
wait_until 5 idle || log "   $(conns) connection(s) still open"
sed -i 's/^\( *\)option httpclose$/\1# option httpclose/' "$conf"
if [ "$stop" = 1 ]; then
    log "   soft-stop ringlb"
    kill -USR1 "$master"
else
    log "   normal configuration back (standby)"
    kill -USR2 "$master"
fi
log "done"
