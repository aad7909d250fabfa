#!/usr/bin/env python3
"""A request that straddles a planned switchover (scripts/ha-lab/failover).

Connects to VIP:PORT once the switchover script has drained the active node
(a line ending in "drained" in LOG), waits until the address has left that
node ("address gone"), then sends its request on that connection: the
connection is the old node's, the request reaches the new one. Prints one
JSON line: ok, the HTTP status, the node that answered (X-LB), or the error.

usage: straddle.py VIP PORT LOG
"""
import json
import socket
import sys
import time


def wait_line(path, suffix, limit):
    """Waits (bounded) for a line of PATH ending in SUFFIX."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                if any(line.rstrip().endswith(suffix) for line in f):
                    return True
        except FileNotFoundError:
            pass
        time.sleep(0.005)
    return False


def main():
    vip, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    out = {"ok": False}
    if not wait_line(log, "drained", 20):
        out["err"] = "no drain seen"
    else:
        s = socket.create_connection((vip, port), timeout=2)
        if not wait_line(log, "address gone", 10):
            out["err"] = "the address never moved"
        else:
            # Let the new node's gratuitous ARP reach the client first.
            time.sleep(0.2)
            try:
                s.sendall(b"GET / HTTP/1.1\r\nHost: straddle\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
                lines = head.split("\r\n")
                out["status"] = int(lines[0].split()[1]) if lines[0] else 0
                for h in lines[1:]:
                    name, _, value = h.partition(":")
                    if name.strip().lower() == "x-lb":
                        out["lb"] = value.strip()
                out["ok"] = out["status"] == 200
            except OSError as e:
                out["err"] = type(e).__name__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
