# shellcheck shell=bash
# One drain/undrain cycle of scripts/ha-lab/gslb, timed from client A's side.
# Sourced by gslb after its helpers (resolve, fetch, observe, show, check,
# now_ms, clock, site_a_settled) and the lab exist.
#
# A drain is what an operator does before maintenance on a whole site: every
# server of the site's backend into maintenance on both nodes of the pair
# (whichever holds the VIP). ringlb's monitor-uri then answers 503, the
# updater notices after --fall checks and repoints view "site-a".

# drain_cycle N: sets, in ms from the drain (D_*) or the undrain (B_*):
#   D_AUTH    the GSLB itself answers site B's VIP to subnet A
#   D_CLIENT  client A, resolving through its caching resolver, is served
#             by site B (so the TTL of the answer it had cached is included)
#   D_FAILED  "failed/sent" requests of client A in between
#   D_B_MOVED how many times client B's answer was not site B's VIP
#   B_AUTH, B_CLIENT  the same back to site A after the undrain
# Cycle 1 also prints the transcript and sets SEEN_[AB]_DRAINED/_AFTER.
drain_cycle() {
    local n="$1" t0 t auth ip body srv i=0 sent=0 failed=0 deadline
    D_AUTH="" D_CLIENT="" D_FAILED="" D_B_MOVED=0 B_AUTH="" B_CLIENT=""
    lab_wait_for 15 site_a_settled || echo "  note: site A not settled before cycle $n"
    # The client's resolver must hold site A's answer too, or the drain
    # would be timed from a half-moved state.
    lab_wait_for 10 sh -c "ip netns exec $LAB_PREFIX-client-a dig +short +time=1 +tries=1 @127.0.0.1 $NAME A | grep -qx $VIP_A" ||
        echo "  note: client A's resolver not on site A before cycle $n"
    if [ "$n" = 1 ]; then
        echo "$(clock) [stats socket a-lb1, a-lb2]\$ disable server web/a-web1; disable server web/a-web2"
    fi
    t0=$(now_ms)
    for srv in a-web1 a-web2; do gslb_sock a "disable server web/$srv" >/dev/null; done
    deadline=$((SECONDS + LIMIT + TTL + 5))
    while [ "$SECONDS" -lt "$deadline" ] && [ -z "$D_CLIENT" ]; do
        auth=$(resolve client-a)
        t=$(($(now_ms) - t0))
        [ -n "$D_AUTH" ] || [ "$auth" != "$VIP_B" ] || D_AUTH=$t
        ip=$(resolve client-a 127.0.0.1)
        sent=$((sent + 1))
        if [ -n "$ip" ] && body=$(fetch client-a "$ip") && [[ "$body" =~ ^Hello\ from\ b-web ]]; then
            D_CLIENT=$(($(now_ms) - t0))
        else
            failed=$((failed + 1))
        fi
        i=$((i + 1))
        if [ $((i % 4)) = 0 ] && [ "$(resolve client-b 127.0.0.1)" != "$VIP_B" ]; then
            D_B_MOVED=$((D_B_MOVED + 1))
        fi
        sleep 0.05
    done
    D_FAILED="$failed/$sent"
    if [ "$n" = 1 ]; then
        echo "$(clock) client A served by site B, ${D_CLIENT:-never} ms after the drain"
        show client-a curl -s --max-time 1 "http://$VIP_A/site-health"
        echo "[client-a]\$ curl -s -o /dev/null -w '%{http_code}' --resolve $NAME:80:$VIP_A http://$NAME/   (a client whose resolver still caches site A)"
        echo "    $(lab_exec client-a curl -s -o /dev/null -w '%{http_code}' --max-time 1 --resolve "$NAME:80:$VIP_A" "http://$NAME/" || true)"
        echo "[dns]\$ cat gslb_health.log"
        sed 's/^/    /' "$LAB_DIR/gslb_health.log"
        echo "[dns]\$ grep 'updating zone' named.log"
        grep "updating zone" "$LAB_DIR/named.log" | sed 's/^/    /' || true
        show client-a dig "@$DNS" "$NAME" +noall +answer
        show client-a dig @127.0.0.1 "$NAME" +noall +answer
        ip=$(resolve client-a 127.0.0.1)
        echo "[client-a]\$ curl --resolve $NAME:80:$ip http://$NAME/"
        echo "    $(fetch client-a "$ip" || true)"
        show client-b dig @127.0.0.1 "$NAME" +noall +answer
        ip=$(resolve client-b 127.0.0.1)
        echo "[client-b]\$ curl --resolve $NAME:80:$ip http://$NAME/"
        echo "    $(fetch client-b "$ip" || true)"
        SEEN_A_DRAINED=$(observe client-a)
        SEEN_B_DRAINED=$(observe client-b)
        check "client A resolves to site B's VIP and is served by site B" \
            matches "$SEEN_A_DRAINED" "^$VIP_B \(b-web[12]\)$"
        check "client B still resolves to site B's VIP and is served by site B" \
            matches "$SEEN_B_DRAINED" "^$VIP_B \(b-web[12]\)$"
        echo "$(clock) [stats socket a-lb1, a-lb2]\$ enable server web/a-web1; enable server web/a-web2"
    fi
    t0=$(now_ms)
    for srv in a-web1 a-web2; do gslb_sock a "enable server web/$srv" >/dev/null; done
    deadline=$((SECONDS + LIMIT + TTL + 5))
    while [ "$SECONDS" -lt "$deadline" ] && [ -z "$B_CLIENT" ]; do
        auth=$(resolve client-a)
        t=$(($(now_ms) - t0))
        [ -n "$B_AUTH" ] || [ "$auth" != "$VIP_A" ] || B_AUTH=$t
        ip=$(resolve client-a 127.0.0.1)
        if [ "$ip" = "$VIP_A" ] && body=$(fetch client-a "$ip") && [[ "$body" =~ ^Hello\ from\ a-web ]]; then
            B_CLIENT=$(($(now_ms) - t0))
        fi
        sleep 0.05
    done
    if [ "$n" = 1 ]; then
        echo "$(clock) client A served by site A again, ${B_CLIENT:-never} ms after the undrain"
        show client-a dig @127.0.0.1 "$NAME" +noall +answer
        ip=$(resolve client-a 127.0.0.1)
        echo "[client-a]\$ curl --resolve $NAME:80:$ip http://$NAME/"
        echo "    $(fetch client-a "$ip" || true)"
        # shellcheck disable=SC2034  # read by gslb
        SEEN_A_AFTER=$(observe client-a)
        # shellcheck disable=SC2034
        SEEN_B_AFTER=$(observe client-b)
    fi
    echo "cycle $n: drain -> GSLB answers site B in ${D_AUTH:-never} ms, client A served by" \
        "site B in ${D_CLIENT:-never} ms ($D_FAILED requests failed before);" \
        "undrain -> GSLB answers site A in ${B_AUTH:-never} ms, client A served in ${B_CLIENT:-never} ms"
}

# planned_cycle: maintenance of site A done in the order that fails no
# request: the operator flag takes site A out of DNS, client A moves to site
# B within the TTL, then the servers are disabled; on the way back the
# servers are enabled, then the flag is removed. Sets, in ms, P_MOVE (flag ->
# client A served by site B), P_BACK (flag removed -> client A served by site
# A) and P_FAILED ("failed/sent" client A requests over the whole procedure).
planned_cycle() {
    local t0 ip body sent=0 failed=0 deadline flag="$LAB_DIR/gslb-admin/site-a.down" srv
    P_MOVE="" P_BACK=""
    lab_wait_for 15 site_a_settled || echo "  note: site A not settled before the planned drain"
    # probe WANT_IP WANT_SITE: one request as client A makes it; counts it.
    probe() {
        ip=$(resolve client-a 127.0.0.1)
        sent=$((sent + 1))
        if [ -n "$ip" ] && body=$(fetch client-a "$ip" 2); then
            [ "$ip" = "$1" ] && [[ "$body" =~ ^Hello\ from\ $2-web ]]
            return
        fi
        failed=$((failed + 1))
        return 1
    }
    echo "$(clock) [dns]\$ touch gslb-admin/site-a.down    (site A out of DNS first)"
    t0=$(now_ms)
    touch "$flag"
    deadline=$((SECONDS + LIMIT + TTL + 5))
    while [ "$SECONDS" -lt "$deadline" ] && [ -z "$P_MOVE" ]; do
        if probe "$VIP_B" b; then P_MOVE=$(($(now_ms) - t0)); fi
        sleep 0.05
    done
    echo "$(clock) client A served by site B, ${P_MOVE:-never} ms after the flag; now the drain:"
    echo "$(clock) [stats socket a-lb1, a-lb2]\$ disable server web/a-web1; disable server web/a-web2"
    for srv in a-web1 a-web2; do gslb_sock a "disable server web/$srv" >/dev/null; done
    # Client A keeps going while site A is drained: its answer is site B's.
    deadline=$((SECONDS + 2))
    while [ "$SECONDS" -lt "$deadline" ]; do probe "$VIP_B" b || true; sleep 0.05; done
    echo "$(clock) [stats socket a-lb1, a-lb2]\$ enable server web/a-web1; enable server web/a-web2"
    for srv in a-web1 a-web2; do gslb_sock a "enable server web/$srv" >/dev/null; done
    lab_wait_for 10 lab_exec client-a curl -sf --max-time 1 -o /dev/null "http://$VIP_A/site-health" || true
    echo "$(clock) [dns]\$ rm gslb-admin/site-a.down"
    t0=$(now_ms)
    rm -f "$flag"
    deadline=$((SECONDS + LIMIT + TTL + 5))
    while [ "$SECONDS" -lt "$deadline" ] && [ -z "$P_BACK" ]; do
        if probe "$VIP_A" a; then P_BACK=$(($(now_ms) - t0)); fi
        sleep 0.05
    done
    echo "$(clock) client A served by site A again, ${P_BACK:-never} ms after the flag went"
    echo "[dns]\$ tail -4 gslb_health.log"
    tail -n 4 "$LAB_DIR/gslb_health.log" | sed 's/^/    /'
    P_FAILED="$failed/$sent"
    echo "planned: flag -> client A on site B in ${P_MOVE:-never} ms; back in ${P_BACK:-never} ms;" \
        "client A requests failed over the whole maintenance: $P_FAILED"
}
