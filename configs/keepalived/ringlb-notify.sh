#!/bin/sh
# keepalived notify hook for the ringlb pair: appends one line per VRRP
# state transition, with a wall-clock timestamp in nanoseconds (the same
# clock the HA lab's prober stamps its requests with).
#
# keepalived calls it as: ringlb-notify.sh LOG TYPE NAME STATE PRIORITY
# (LOG comes from the `notify` line; keepalived appends the rest).
#
# It deliberately does not start or stop ringlb. ringlb runs on both nodes
# all the time, bound to the virtual IP through ip_nonlocal_bind, so the
# standby is already serving-ready when the address arrives; stopping it on
# BACKUP would make the next failover wait for a start and for the first
# health checks. On FAULT ringlb is either dead (what caused the fault) or
# cut off (link down); stopping it would change nothing for clients. The
# planned switchover (ringlb-switchover.sh) drains and soft-stops ringlb
# itself, in an order that loses no request.
log="$1"
shift
printf '%s %s %s %s %s\n' "$(date +%s.%N)" "${1:-}" "${2:-}" "${3:-}" "${4:-}" >>"$log"
