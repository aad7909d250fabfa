# shellcheck shell=bash
# Shared plumbing for the HA labs (scripts/ha-lab/*): network namespaces
# joined by a bridge that itself lives in a namespace, background processes
# that are always stopped, and waits that are always bounded.
#
# Rules every lab keeps (issue #19): addresses only from 198.18.0.0/15, only
# inside namespaces the lab creates (all named "$LAB_PREFIX-*"); the root
# namespace only ever holds a veth pair for the instant before both ends move;
# everything is removed at exit, on Ctrl-C and on errors.
#
# Use:   source scripts/ha-lab/lib.sh; lab_init rlb-fo; lab_ns client; ...

LAB_PREFIX=""
# The processes lab_bg started (what the labs read; the cleanup finds what
# to stop through the namespaces instead).
LAB_PIDS=()
LAB_DIR=""

# The network-namespace ids ("net:[inode]") of the lab's namespaces.
lab_netns_ids() {
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$LAB_PREFIX-" || true); do
        # `command`: a lab may define a shell function of the same name.
        printf 'net:[%s]\n' "$(command stat -L -c %i "/run/netns/$ns" 2>/dev/null)"
    done
}

# lab_kill SIGNAL PID...: signals each PID that still runs inside one of the
# lab's namespaces. A PID the lab remembers may have exited and been given to
# an unrelated process since (pid_max is small and the labs start many short
# processes): such a PID is left alone.
lab_kill() {
    local sig="$1" pid ids
    shift
    ids="$(lab_netns_ids)"
    for pid in "$@"; do
        [ -n "$pid" ] || continue
        if grep -qxF "$(command readlink "/proc/$pid/ns/net" 2>/dev/null || echo none)" <<<"$ids"; then
            kill "-$sig" "$pid" 2>/dev/null || true
        fi
    done
}

# The processes running inside the lab's namespaces.
lab_ns_pids() {
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$LAB_PREFIX-" || true); do
        ip netns pids "$ns" 2>/dev/null || true
    done
}

# Stops what runs in the lab's namespaces (TERM, up to 2 s, then KILL), then
# removes every namespace whose name starts with the prefix (also ones left
# by an earlier interrupted run). Only processes inside those namespaces are
# signalled, never a remembered PID that may have been reused.
lab_cleanup() {
    local pid ns
    LAB_PIDS=()
    [ -n "$LAB_PREFIX" ] || return 0
    # shellcheck disable=SC2046 # one PID per word
    lab_kill TERM $(lab_ns_pids)
    for _ in $(seq 40); do
        [ -z "$(lab_ns_pids)" ] && break
        sleep 0.05
    done
    # shellcheck disable=SC2046
    lab_kill KILL $(lab_ns_pids)
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$LAB_PREFIX-" || true); do
        ip netns del "$ns" 2>/dev/null || true
    done
}

# lab_init PREFIX: checks what the labs need, removes leftovers of an earlier
# run with the same prefix, and arms the cleanup. LAB_DIR holds configs, logs.
lab_init() {
    LAB_PREFIX="$1"
    lab_require_root
    lab_cleanup
    LAB_DIR="$(mktemp -d "/tmp/$LAB_PREFIX.XXXXXX")"
    trap 'lab_on_exit' EXIT
    trap 'lab_cleanup; exit 130' INT
    trap 'lab_cleanup; exit 143' TERM
}

# At exit: the cleanup; the lab directory (configs, logs) goes too after a
# run that passed, unless LAB_KEEP=1; after a failure it stays and is named.
lab_on_exit() {
    local rc=$?
    lab_cleanup
    if [ "$rc" = 0 ] && [ "${LAB_KEEP:-0}" != 1 ]; then
        rm -rf "$LAB_DIR"
    elif [ -n "$LAB_DIR" ]; then
        echo "lab files kept in $LAB_DIR" >&2
    fi
}

# Exits 77 ("skipped") with the reason when namespaces cannot be made here.
lab_require_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "SKIP: the HA lab needs root (network namespaces, keepalived)" >&2
        exit 77
    fi
    if ! ip netns add "lab-probe-$$" 2>/dev/null; then
        echo "SKIP: this machine cannot create network namespaces (ip netns add failed)" >&2
        exit 77
    fi
    ip netns del "lab-probe-$$"
}

# lab_need CMD PACKAGE...: installs the Debian packages when CMD is missing
# (or, with HA_LAB_NO_INSTALL=1 as the test suite sets it, skips: exit 77).
lab_need() {
    local cmd="$1"
    shift
    command -v "$cmd" >/dev/null 2>&1 && return 0
    if [ "${HA_LAB_NO_INSTALL:-0}" = 1 ]; then
        echo "SKIP: $cmd is not installed (Debian: apt-get install $*)" >&2
        exit 77
    fi
    echo "installing $* (for $cmd)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
        { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}

# lab_binaries: sets RINGLB and DEMO_BACKEND, building them unless given.
lab_binaries() {
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    if [ -z "${RINGLB:-}" ] || [ -z "${DEMO_BACKEND:-}" ]; then
        (cd "$root" && cargo build --release --bins -q)
        local target="${CARGO_TARGET_DIR:-$root/target}"
        case "$target" in /*) ;; *) target="$root/$target" ;; esac
        RINGLB="${RINGLB:-$target/release/ringlb}"
        DEMO_BACKEND="${DEMO_BACKEND:-$target/release/demo-backend}"
    fi
    export RINGLB DEMO_BACKEND
}

# lab_ns NAME: a namespace "$LAB_PREFIX-NAME" with loopback up.
lab_ns() {
    local ns="$LAB_PREFIX-$1"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
}

# lab_switch NAME: a namespace holding bridge br0 (the lab's L2 segment).
lab_switch() {
    lab_ns "$1"
    ip -n "$LAB_PREFIX-$1" link add br0 type bridge
    ip -n "$LAB_PREFIX-$1" link set br0 up
}

# lab_link NS IFNAME SWITCH [ADDR/LEN...]: a veth from namespace NS (its end
# named IFNAME, given the addresses) to a port of SWITCH's bridge.
lab_link() {
    local ns="$LAB_PREFIX-$1" ifname="$2" sw="$LAB_PREFIX-$3"
    shift 3
    local peer="p$RANDOM$RANDOM"
    local tmp="v$RANDOM$RANDOM"
    ip link add "$tmp" type veth peer name "$peer"
    ip link set "$tmp" netns "$ns"
    ip link set "$peer" netns "$sw"
    ip -n "$ns" link set "$tmp" name "$ifname"
    ip -n "$sw" link set "$peer" master br0 up
    local a
    for a in "$@"; do
        ip -n "$ns" addr add "$a" dev "$ifname"
    done
    ip -n "$ns" link set "$ifname" up
}

# lab_p2p NS1 IF1 ADDR1 NS2 IF2 ADDR2: a point-to-point veth between two
# namespaces (routers, ECMP next hops).
lab_p2p() {
    local ns1="$LAB_PREFIX-$1" if1="$2" a1="$3" ns2="$LAB_PREFIX-$4" if2="$5" a2="$6"
    local t1="v$RANDOM$RANDOM" t2="v$RANDOM$RANDOM"
    ip link add "$t1" type veth peer name "$t2"
    ip link set "$t1" netns "$ns1"
    ip link set "$t2" netns "$ns2"
    ip -n "$ns1" link set "$t1" name "$if1"
    ip -n "$ns2" link set "$t2" name "$if2"
    ip -n "$ns1" addr add "$a1" dev "$if1"
    ip -n "$ns2" addr add "$a2" dev "$if2"
    ip -n "$ns1" link set "$if1" up
    ip -n "$ns2" link set "$if2" up
}

# lab_exec NS CMD...: runs CMD inside the namespace, in the foreground.
lab_exec() {
    local ns="$LAB_PREFIX-$1"
    shift
    ip netns exec "$ns" "$@"
}

# lab_bg NS LOG CMD...: starts CMD in the namespace in the background, output
# to LOG (relative names go under LAB_DIR); its pid is in LAB_LAST_PID and is
# stopped by the cleanup.
lab_bg() {
    local ns="$LAB_PREFIX-$1" log="$2"
    shift 2
    case "$log" in /*) ;; *) log="$LAB_DIR/$log" ;; esac
    ip netns exec "$ns" "$@" >"$log" 2>&1 &
    LAB_LAST_PID=$!
    LAB_PIDS+=("$LAB_LAST_PID")
}

# lab_wait_http NS URL [SECONDS]: waits (bounded) until URL answers from NS.
lab_wait_http() {
    local ns="$1" url="$2" secs="${3:-10}"
    local deadline=$((SECONDS + secs))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if lab_exec "$ns" curl -s -o /dev/null --max-time 1 "$url"; then
            return 0
        fi
        sleep 0.05
    done
    echo "timeout: $url did not answer from $ns within ${secs}s" >&2
    return 1
}

# lab_wait_for SECONDS CMD...: runs CMD until it succeeds, at most SECONDS.
lab_wait_for() {
    local secs="$1"
    shift
    local deadline=$((SECONDS + secs))
    while [ "$SECONDS" -lt "$deadline" ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "timeout after ${secs}s: $*" >&2
    return 1
}
