#!/usr/bin/env python3
"""Which long-lived connections a routing change breaks (scripts/ha-lab/ecmp).

Opens --count keep-alive connections to the VIP, one request each to learn
which node holds it (X-LB), runs the command given after "--" (the router
drops one node's next hop), then sends a second request on every connection:
it either succeeds on the same node (untouched), or fails (its packets now
reach a node that has no such socket, which resets it) and is reconnected to
see where new connections land.

Prints one JSON object:
  before:    node -> connections it held
  kept:      node -> connections that answered again on the same connection
  broken:    node -> connections that failed on the second request
  moved_ok:  node -> answered on the same connection but by another node
             (impossible for TCP; counted so that it cannot hide)
  reconnect: node -> where the reconnections of the broken ones landed
  fresh:     node -> where --fresh new connections, opened last, landed
"""

import argparse
import json
import subprocess
import sys
import time
from collections import Counter

from ecmp_http import HttpError, connect, exchange, node_of


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vip", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--fresh", type=int, default=60, help="new connections after the change")
    ap.add_argument("--settle", type=float, default=0.3, help="seconds after the change")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- command that changes the route")
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd

    conns = []  # (socket, node)
    open_errors = 0
    for _ in range(a.count):
        try:
            s = connect(a.vip, a.port)
            _, hdrs, _ = exchange(s)
            conns.append((s, node_of(hdrs)))
        except (HttpError, OSError):
            open_errors += 1

    if cmd:
        subprocess.run(cmd, check=True)
    time.sleep(a.settle)

    before, kept, broken, moved_ok, reconnect = Counter(), Counter(), Counter(), Counter(), Counter()
    errors = Counter()
    for s, node in conns:
        before[node] += 1
        try:
            _, hdrs, _ = exchange(s)
            (kept if node_of(hdrs) == node else moved_ok)[node] += 1
        except HttpError as e:
            broken[node] += 1
            errors[str(e).split(":")[0]] += 1
            try:
                with connect(a.vip, a.port) as s2:
                    _, hdrs, _ = exchange(s2)
                reconnect[node_of(hdrs)] += 1
            except (HttpError, OSError):
                reconnect["failed"] += 1
        finally:
            s.close()

    fresh = Counter()
    for _ in range(a.fresh):
        try:
            with connect(a.vip, a.port) as s:
                _, hdrs, _ = exchange(s)
            fresh[node_of(hdrs)] += 1
        except (HttpError, OSError):
            fresh["failed"] += 1

    json.dump({"open_errors": open_errors, "before": before, "kept": kept, "broken": broken,
               "moved_ok": moved_ok, "reconnect": reconnect, "errors": errors, "fresh": fresh},
              sys.stdout, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
