#!/usr/bin/env python3
"""Same key, same server, whichever ECMP node serves it (scripts/ha-lab/ecmp).

For every key (a persistence cookie, a client source address or a URI) this
opens fresh connections to the VIP until the router's L4 hash has sent the key
through every node at least --per-node times (each new source port is a new
flow), and records which server answered through which node. The property
holds when each key reached exactly one server through all nodes.

Prints a markdown table; exits 0 when the property holds, 1 otherwise.
"""

import argparse
import sys
import time

from ecmp_http import HttpError, connect, exchange, node_of, server_of


def learn_cookies(vip, port, src, servers, deadline):
    """Fresh requests without a cookie until every server has issued its
    cookie: value -> (server, node that issued it)."""
    issued = {}
    while len({s for s, _ in issued.values()}) < servers and time.monotonic() < deadline:
        with connect(vip, port, src) as s:
            _, hdrs, body = exchange(s)
        for sc in hdrs.get("set-cookie", []):
            name, _, rest = sc.partition("=")
            if name.strip() == "SRV":
                issued[rest.split(";")[0]] = (server_of(body), node_of(hdrs))
    return issued


def probe(vip, port, nodes, per_node, deadline, src="", path="/", headers=()):
    """Fresh connections with this key until each node answered per_node
    times: node -> list of servers seen (errors count as server "ERR")."""
    seen = {n: [] for n in nodes}
    while time.monotonic() < deadline and any(len(v) < per_node for v in seen.values()):
        try:
            with connect(vip, port, src) as s:
                _, hdrs, body = exchange(s, path, headers)
            seen.setdefault(node_of(hdrs), []).append(server_of(body))
        except (HttpError, OSError):
            seen.setdefault("error", []).append("ERR")
    return seen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vip", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", choices=["cookie", "source", "uri"], required=True)
    ap.add_argument("--nodes", default="lb1,lb2,lb3")
    ap.add_argument("--srcs", default="", help="client source addresses (source mode)")
    ap.add_argument("--src", default="", help="source address for cookie/uri modes")
    ap.add_argument("--keys", type=int, default=8, help="number of URIs (uri mode)")
    ap.add_argument("--servers", type=int, default=3)
    ap.add_argument("--per-node", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0, help="bound for the whole probe")
    a = ap.parse_args()
    nodes = a.nodes.split(",")
    deadline = time.monotonic() + a.seconds

    rows = []  # (key label, expected server or None, {node: [servers]})
    if a.mode == "cookie":
        issued = learn_cookies(a.vip, a.port, a.src, a.servers, deadline)
        for value, (server, node) in sorted(issued.items()):
            seen = probe(a.vip, a.port, nodes, a.per_node, deadline, a.src,
                         headers=[f"Cookie: SRV={value}"])
            rows.append((f"`SRV={value}` (set by {node})", server, seen))
        if len(issued) < a.servers:
            rows.append((f"only {len(issued)} cookies issued", "cookie", {}))
    elif a.mode == "source":
        for src in a.srcs.split(","):
            rows.append((f"from {src}", None, probe(a.vip, a.port, nodes, a.per_node, deadline, src)))
    else:
        for i in range(a.keys):
            path = f"/page/{i}"
            rows.append((f"`GET {path}`", None,
                         probe(a.vip, a.port, nodes, a.per_node, deadline, a.src, path)))

    ok = True
    print(f"| key | {' | '.join('via ' + n for n in nodes)} | same server everywhere |")
    print(f"|---|{'---|' * len(nodes)}---|")
    owners = set()
    for label, expected, seen in rows:
        servers = {s for v in seen.values() for s in v}
        good = (len(servers) == 1 and "ERR" not in servers and "?" not in servers
                and all(len(seen.get(n, [])) >= a.per_node for n in nodes)
                and set(seen) <= set(nodes)
                and (expected is None or servers == {expected}))
        ok &= good
        owners |= servers
        cells = []
        for n in nodes:
            v = seen.get(n, [])
            cells.append(", ".join(f"{s}×{v.count(s)}" for s in sorted(set(v))) or "never")
        extra = "" if set(seen) <= set(nodes) else f" (also {sorted(set(seen) - set(nodes))})"
        print(f"| {label} | {' | '.join(cells)} | {'yes' if good else 'NO'}{extra} |")
    # A hash that sent every key to one server would pass trivially.
    spread = len(owners) >= 2
    print(f"\n{len(rows)} keys reached {len(owners)} distinct servers"
          f"{'' if spread else ' (NOT spread: the hash is not exercised)'}.")
    ok &= spread
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
