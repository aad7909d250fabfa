#!/bin/bash
# ringlb-supervise.sh DOWN_FILE RINGLB ARGS...: runs ringlb (master-worker,
# foreground) and keeps keepalived's track file DOWN_FILE true: 0 while it
# runs, 1 the instant it exits, however it exits (SIGKILL included; the wait
# returns on the child's death, there is no polling). keepalived reads the
# file on inotify and goes to FAULT. Under systemd the same is two lines:
#   ExecStartPost=/bin/sh -c 'echo 0 > /run/ringlb/down'
#   ExecStopPost=/bin/sh -c 'echo 1 > /run/ringlb/down'
set -uo pipefail
down="$1"
shift
"$@" &
pid=$!
# Signals for ringlb go to it (the master's pid is also in its -p file).
trap 'kill -TERM "$pid"' TERM INT
trap 'kill -USR1 "$pid"' USR1
trap 'kill -USR2 "$pid"' USR2
echo 0 >"$down"
# `wait` returns early when a trapped signal arrives: wait again until the
# child itself is gone.
while kill -0 "$pid" 2>/dev/null; do
    wait "$pid"
done
echo 1 >"$down"
echo "$(date +%s.%N) ringlb exited" >&2
