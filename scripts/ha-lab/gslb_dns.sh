# shellcheck shell=bash
# The DNS server of scripts/ha-lab/gslb: BIND (named) inside the lab's "dns"
# namespace, run from configs/bind/ with only the paths rewritten, never from
# the system's /etc/bind (nothing there is read or written).

GSLB_DNS_IP=198.18.50.53

# gslb_dns ROOT: renders ROOT/configs/bind into $LAB_DIR/bind, makes fresh TSIG
# keys (one per view), checks config and zones, and starts named in "dns".
gslb_dns() {
    local root="$1" dir="$LAB_DIR/bind" v
    mkdir -p "$dir"
    # The shipped file names /etc/bind/ (keys) and /var/cache/bind/gslb
    # (zones, journals, pid); in the lab both are $dir.
    sed -e "s#/var/cache/bind/gslb#$dir#g" -e "s#/etc/bind/#$dir/#g" \
        "$root/configs/bind/named.conf" >"$dir/named.conf"
    for v in a b; do
        tsig-keygen -a hmac-sha256 "key-$v" >"$dir/gslb-key-$v.conf"
        cp "$root/configs/bind/db.gslb.test.site-$v" "$dir/"
        named-checkzone -q gslb.test "$dir/db.gslb.test.site-$v"
    done
    if grep -v '^[[:space:]]*//' "$dir/named.conf" | grep -q '/etc/bind\|/var/cache/bind'; then
        echo "named.conf still names a system path" >&2
        return 1
    fi
    named-checkconf "$dir/named.conf"
    # -g: foreground, logs to stderr, stays our child (stopped by the
    # cleanup); -n 1: one worker thread is plenty for the lab.
    lab_bg dns named.log named -g -n 1 -c "$dir/named.conf"
    # shellcheck disable=SC2034  # read by gslb
    GSLB_NAMED_PID=$LAB_LAST_PID
}

# gslb_resolver NS: a caching resolver for the clients of NS (as a site's
# local resolver would be), on 127.0.0.1 inside NS. It asks the GSLB
# directly for gslb.test (static-stub) from NS's own address, so the GSLB
# picks the view of NS's subnet, and it caches answers for their TTL: with it
# the lab measures what a client sees, TTL included.
gslb_resolver() {
    local ns="$1" dir="$LAB_DIR/resolver-$1"
    mkdir -p "$dir"
    cat >"$dir/named.conf" <<CONF
options {
    directory "$dir";
    pid-file "$dir/named.pid";
    session-keyfile "$dir/session.key";
    managed-keys-directory "$dir";
    listen-on port 53 { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion yes;
    allow-query { 127.0.0.1; };
    allow-recursion { 127.0.0.1; };
    dnssec-validation no;
};
controls { };
// The GSLB's names are asked of the GSLB itself; nothing else is resolved.
zone "gslb.test" {
    type static-stub;
    server-addresses { $GSLB_DNS_IP; };
};
CONF
    named-checkconf "$dir/named.conf"
    lab_bg "$ns" "resolver-$ns.log" named -g -n 1 -c "$dir/named.conf"
}
