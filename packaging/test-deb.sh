#!/usr/bin/env bash
# Checks a ringlb .deb on a clean Debian 12 (bookworm), as an operator would
# meet it. Needs root, debootstrap and, for --boot, systemd-nspawn
# (systemd-container); downloads ~300 MB from deb.debian.org.
#
#   packaging/test-deb.sh DEB            # install on a clean minbase root
#   packaging/test-deb.sh --boot DEB     # ... then boot a root with systemd
#                                        # as PID 1 and drive the real unit
#
# 1. `debootstrap --variant=minbase` root: `apt-get install ./ringlb_*.deb`
#    in a chroot, then `ringlb -c` on the shipped configuration, the man page,
#    the conffiles, the unit and its enablement.
# 2. --boot: a second root with systemd, booted with systemd-nspawn (private
#    network: only its own loopback); the .deb installed inside while systemd
#    runs (the postinst enables and starts ringlb.service), then
#    `systemd-analyze verify`, the stats page, `systemctl reload` while curl
#    runs in a loop (no failure allowed), a refused configuration, `systemctl
#    status` (the notify STATUS=), `systemctl stop`.
#
# ROOT_CACHE=DIR reuses a minbase root made earlier (copied, never changed).
# SUITE=trixie checks on Debian 13 (systemd 257: RELOADING=1 with
# MONOTONIC_USEC makes `systemctl reload` wait for READY=1).
# Everything made here lives under one temporary directory, removed at exit.
# Single-quoted $ expressions are meant for the shell inside the root.
# shellcheck disable=SC2016
set -euo pipefail

boot=0
if [[ "${1:-}" == "--boot" ]]; then
    boot=1
    shift
fi
suite="${SUITE:-bookworm}"
deb="$(realpath "${1:?usage: packaging/test-deb.sh [--boot] DEB}")"
[[ $EUID -eq 0 ]] || { echo "needs root (chroot, debootstrap, nspawn)" >&2; exit 2; }

work="$(mktemp -d /var/tmp/ringlb-deb-test.XXXXXX)"
nspawn_pid=""
mounted=()
cleanup() {
    local rc=$?
    set +e
    if [[ -n "$nspawn_pid" ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
        # SIGTERM to systemd-nspawn asks the container's systemd to power off.
        kill -TERM "$nspawn_pid"
        for _ in $(seq 1 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$nspawn_pid" 2>/dev/null
    fi
    for m in "${mounted[@]}"; do umount -l "$m"; done
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n### %s\n' "$*"; }
# Runs and echoes a command, as a transcript does.
run() { printf '$ %s\n' "$*"; "$@"; }

minbase() {
    local dest="$1"
    if [[ -n "${ROOT_CACHE:-}" ]]; then
        cp -a "$ROOT_CACHE" "$dest"
    else
        debootstrap --variant=minbase "$suite" "$dest" http://deb.debian.org/debian >"$work/debootstrap.log"
    fi
}

in_root() { chroot "$root" "$@"; }

# --- 1. A clean minbase root, no systemd running ----------------------------
root="$work/clean"
say "clean Debian ($suite) minbase root: $root"
minbase "$root"
mount -t proc proc "$root/proc"
mounted+=("$root/proc")
cp "$deb" "$root/tmp/"
name="$(basename "$deb")"
run in_root dpkg -l systemd 2>&1 | tail -n 1 || true
say "apt-get install ./$name"
DEBIAN_FRONTEND=noninteractive run in_root sh -c "cd /tmp && apt-get install -y ./$name"
run in_root dpkg -L ringlb
run in_root dpkg-query -W -f='${Depends}\n' ringlb
say "conffiles"
run in_root dpkg-query -W -f='${Conffiles}\n' ringlb
say "the shipped configuration checks"
run in_root ringlb -c -f /etc/ringlb/ringlb.cfg
run in_root ringlb -v
say "the man page"
run in_root sh -c 'zcat /usr/share/man/man8/ringlb.8.gz | head -n 12'
say "the unit, enabled by the postinst (deb-systemd-helper)"
run in_root ls -l /lib/systemd/system/ringlb.service /etc/systemd/system/multi-user.target.wants/ringlb.service
umount "$root/proc"
mounted=()
if [[ $boot -eq 0 ]]; then
    say "OK (clean install)"
    exit 0
fi

# --- 2. Booted: systemd as PID 1 in systemd-nspawn ---------------------------
root="$work/boot"
say "a root with systemd, booted with systemd-nspawn"
minbase "$root"
mount -t proc proc "$root/proc"
DEBIAN_FRONTEND=noninteractive in_root apt-get update -q >"$work/apt.log"
DEBIAN_FRONTEND=noninteractive in_root apt-get install -y -q --no-install-recommends \
    systemd systemd-sysv dbus curl man-db procps iproute2 >>"$work/apt.log"
umount "$root/proc"
# Not /tmp: systemd-nspawn mounts a fresh tmpfs there.
cp "$deb" "$root/root/"
echo ringlb-pkg-test >"$root/etc/hostname"
# --keep-unit --register=no: no systemd nor D-Bus on the host side needed.
# --private-network: the container sees only its own loopback.
# The container's systemd can hand a unit no more open files than its own
# hard limit, and a login shell's is often lower than the unit's
# LimitNOFILE=1048576 (the kernel's fs.nr_open default): raise it when this
# shell may (CAP_SYS_RESOURCE), else say what the unit will get.
limit=()
if prlimit --nofile=1048576:1048576 -- true 2>/dev/null; then
    limit=(prlimit --nofile=1048576:1048576 --)
else
    echo "note: this shell's open-file hard limit is $(ulimit -Hn) and cannot be raised;" \
        "the unit gets that instead of LimitNOFILE=1048576"
fi
"${limit[@]}" systemd-nspawn -q -b -D "$root" --keep-unit --register=no --private-network \
    --machine=ringlb-pkg-test --console=read-only >"$work/console.log" 2>&1 &
nspawn_pid=$!
init=""
for _ in $(seq 1 150); do
    init="$(pgrep -P "$nspawn_pid" -x systemd || true)"
    [[ -n "$init" ]] && break
    sleep 0.2
done
[[ -n "$init" ]] || { cat "$work/console.log"; echo "the container did not start" >&2; exit 1; }
# Commands inside the container: its namespaces, its systemd.
c() { nsenter -t "$init" -a "$@"; }
crun() { printf '# %s\n' "$*"; c "$@"; }
state=""
for _ in $(seq 1 150); do
    state="$(c systemctl is-system-running 2>/dev/null || true)"
    [[ "$state" == running || "$state" == degraded ]] && break
    sleep 0.2
done
crun cat /proc/1/comm
crun sh -c 'systemctl --version | head -n 1; cat /etc/debian_version'
echo "system state: $state"

say "apt-get install ./$name with systemd running: the postinst starts ringlb"
DEBIAN_FRONTEND=noninteractive crun sh -c "cd /root && apt-get install -y ./$name"
crun systemctl is-enabled ringlb
crun systemctl is-active ringlb

say "systemd-analyze verify (man page check included)"
crun systemd-analyze verify /lib/systemd/system/ringlb.service && echo "verify: OK"

say "the stats page"
crun curl -sS -o /dev/null -w '%{http_code} %{content_type}\n' http://127.0.0.1:8404/
crun systemctl status ringlb --no-pager -n 0 | sed -n '1,12p'

say "limits and users: LimitNOFILE, workers as nobody"
mainpid="$(c systemctl show -p MainPID --value ringlb)"
crun systemctl show -p LimitNOFILE ringlb
crun sh -c "grep 'Max open files' /proc/$mainpid/limits; ps -o user,pid,ppid,args --ppid $mainpid -p $mainpid"

say "systemctl reload x5 while curl runs in a loop"
c sh -c 'end=$(( $(date +%s) + 8 )); : > /run/curl.log
    while [ "$(date +%s)" -lt "$end" ]; do
        curl -s -o /dev/null -m 5 -w "%{http_code} %{time_total}\n" http://127.0.0.1:8404/ >> /run/curl.log
    done
    awk "{ n++; if (\$1 != 200) bad++; if (\$2 > max) max = \$2 }
         END { printf \"curl: %d answered 200, %d failed, slowest %.3f s\\n\", n - bad, bad, max }" \
        /run/curl.log > /run/curl-tally' &
loop=$!
sleep 1
for i in 1 2 3 4 5; do
    t0=$(date +%s%N)
    c systemctl reload ringlb
    echo "reload $i: $(( ($(date +%s%N) - t0) / 1000000 )) ms, $(c systemctl show -p StatusText --value ringlb)"
    sleep 1
done
wait "$loop"
tally="$(c cat /run/curl-tally)"
echo "$tally"
[[ "$tally" == *", 0 failed,"* ]] || { echo "FAILED: requests failed across reloads" >&2; exit 1; }
crun systemctl status ringlb --no-pager -n 0 | sed -n '1,12p'

say "port 80 under the hardened unit: added by a reload, then bound at a restart"
c cp /etc/ringlb/ringlb.cfg /run/ringlb.cfg.shipped
c sh -c 'printf "%s\n" "" "frontend www" "    bind :80" "    default_backend web" \
    "backend web" "    server stats 127.0.0.1:8404" >> /etc/ringlb/ringlb.cfg'
crun systemctl reload ringlb
crun curl -sS -o /dev/null -w '%{http_code} via :80 after reload\n' http://127.0.0.1:80/
crun systemctl restart ringlb
crun curl -sS -o /dev/null -w '%{http_code} via :80 after restart\n' http://127.0.0.1:80/
crun sh -c 'ss -ltnp 2>/dev/null | grep -E ":(80|8404) " || grep -c . /proc/net/tcp'
c cp /run/ringlb.cfg.shipped /etc/ringlb/ringlb.cfg
crun systemctl reload ringlb

say "a refused configuration: systemctl reload fails at the check, ringlb serves on"
c cp /etc/ringlb/ringlb.cfg /run/ringlb.cfg.good
c sh -c 'echo "    balanse x" >> /etc/ringlb/ringlb.cfg'
crun systemctl reload ringlb && { echo "FAILED: the reload of a broken config succeeded" >&2; exit 1; }
crun systemctl is-active ringlb
say "the same, signalled directly (no check first): STATUS= says why"
crun sh -c 'kill -USR2 $(systemctl show -p MainPID --value ringlb)'
sleep 1
crun systemctl show -p StatusText --value ringlb
crun systemctl status ringlb --no-pager -n 3 | sed -n '1,16p'
crun curl -sS -o /dev/null -w '%{http_code}\n' http://127.0.0.1:8404/
c cp /run/ringlb.cfg.good /etc/ringlb/ringlb.cfg

say "systemctl stop"
crun systemctl stop ringlb
crun systemctl is-active ringlb || true
crun journalctl -u ringlb --no-pager -o cat | tail -n 12
say "apt-get purge: stopped, disabled, conffiles gone"
crun systemctl start ringlb
DEBIAN_FRONTEND=noninteractive crun apt-get purge -y -q ringlb | grep -E '^(Removing|Purging)'
crun systemctl is-active ringlb || true
crun sh -c 'ls /etc/ringlb /etc/default/ringlb /etc/systemd/system/multi-user.target.wants/ringlb.service 2>&1 || true'
c curl -s -m 2 -o /dev/null http://127.0.0.1:8404/ && { echo "FAILED: still serving after purge" >&2; exit 1; }
echo "nothing listens on 127.0.0.1:8404"
say "OK (booted)"
