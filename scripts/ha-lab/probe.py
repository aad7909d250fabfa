#!/usr/bin/env python3
"""HTTP failover prober for the HA lab (scripts/ha-lab/failover), stdlib only.

`probe.py run` sends a GET every INTERVAL (10 ms) to each target for a
bounded time, each target in its own thread, and writes one JSON line per
request: send and completion times (epoch seconds, the same clock as
`date +%s.%N`, so the lab's failure-event timestamp compares directly),
ok or the kind of error, the backend server that answered (demo-backend's
body "Hello from NAME"), the load-balancer node (the `X-LB` header ringlb
adds) and the sticky cookie it sent.

A target is MODE:PORT:STICKY:
  MODE    ka   one keep-alive connection, reused; reconnects after an error
          new  a new connection for every request
  STICKY  cookie  keeps the SRV cookie from the first Set-Cookie and sends it
          source  nothing to keep (the balancer hashes the source address)

Timeouts are short on purpose (connect 50 ms, whole response 200 ms): a
request black-holed by a dead node is counted as failed and the next probe
goes on, so the outage is measured to within about a probe and a timeout.

A keep-alive client behaves as curl, browsers and urllib3 do: before reusing
an idle connection it checks whether the server has closed it (then it just
reconnects: nothing was sent, nothing failed), and when a request on a
reused connection fails before any response byte arrived (a reset or a
close, never a timeout, since then the request may have been processed) it
retries that idempotent GET once on a new connection. Both the raw outcome
and the retried one are recorded.

`probe.py summary EVENT_FILE ACTIVE_LB JSONL...` prints one JSON object per
target: requests, raw failures, failures a retrying client sees, the outage
(from the event to the first success after the last failure), the first
answer from a node other than ACTIVE_LB, and whether the sticky server kept.
"""

import json
import re
import select
import socket
import sys
import threading
import time

BODY_RE = re.compile(rb"Hello from (\S+)")


class ProbeError(Exception):
    """A failed request: `kind` names what went wrong, `got_bytes` whether
    any response byte arrived before it did (then a retry is not safe)."""

    def __init__(self, kind, got_bytes=False):
        super().__init__(kind)
        self.kind = kind
        self.got_bytes = got_bytes


def connect(host, port, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except socket.timeout:
        s.close()
        raise ProbeError("connect_timeout")
    except ConnectionRefusedError:
        s.close()
        raise ProbeError("connect_refused")
    except OSError as e:
        s.close()
        raise ProbeError("connect_" + type(e).__name__)
    return s


def dropped(s):
    """Whether the server closed (or reset) this idle connection: readable
    with nothing to read, as urllib3's is_connection_dropped."""
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def exchange(s, host, cookie, deadline):
    """Sends one GET on `s`, reads the whole response before `deadline`.
    Returns (status, headers dict (lower-case), body, close)."""
    req = "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: ringlb-ha-probe\r\n" % host
    if cookie:
        req += "Cookie: SRV=%s\r\n" % cookie
    req += "\r\n"
    buf = b""
    try:
        s.settimeout(max(deadline - time.time(), 0.001))
        s.sendall(req.encode())
        while b"\r\n\r\n" not in buf:
            s.settimeout(max(deadline - time.time(), 0.001))
            chunk = s.recv(4096)
            if not chunk:
                raise ProbeError("eof" if not buf else "eof_in_response", bool(buf))
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.setdefault(k.strip().lower(), []).append(v.strip())
        length = int(headers.get("content-length", ["0"])[0])
        while len(body) < length:
            s.settimeout(max(deadline - time.time(), 0.001))
            chunk = s.recv(4096)
            if not chunk:
                raise ProbeError("eof_in_response", True)
            body += chunk
    except socket.timeout:
        raise ProbeError("timeout", bool(buf))
    except ConnectionResetError:
        raise ProbeError("reset", bool(buf))
    except BrokenPipeError:
        raise ProbeError("broken_pipe", bool(buf))
    except (OSError, ValueError, IndexError) as e:
        raise ProbeError("error_" + type(e).__name__, bool(buf))
    close = any(v.lower() == "close" for v in headers.get("connection", []))
    return status, headers, body, close


class Target:
    def __init__(self, spec, host, args):
        self.mode, port, self.sticky = spec.split(":")
        self.port = int(port)
        self.name = spec
        self.host = host
        self.args = args
        self.cookie = None
        self.sock = None

    def attempt(self, rec):
        """One try; returns True when the connection was a reused one."""
        reused = self.sock is not None
        if reused and dropped(self.sock):
            # The server closed it while idle: reconnect, as real clients do.
            self.sock.close()
            self.sock = None
            reused = False
            rec["idle_closed"] = True
        if self.sock is None:
            self.sock = connect(self.host, self.port, self.args["connect_timeout"])
        deadline = time.time() + self.args["timeout"]
        try:
            status, headers, body, close = exchange(
                self.sock, "%s:%d" % (self.host, self.port), self.cookie, deadline
            )
        except ProbeError as e:
            self.sock.close()
            self.sock = None
            e.reused = reused
            raise
        if close or self.mode == "new":
            self.sock.close()
            self.sock = None
        if status != 200:
            raise ProbeError("status_%d" % status, True)
        m = BODY_RE.search(body)
        rec["server"] = m.group(1).decode() if m else None
        rec["lb"] = headers.get("x-lb", [None])[0]
        if self.sticky == "cookie" and self.cookie is None:
            for v in headers.get("set-cookie", []):
                if v.startswith("SRV="):
                    self.cookie = v[4:].split(";")[0]
        return reused

    def one(self):
        rec = {"target": self.name, "t": time.time(), "cookie": self.cookie}
        try:
            self.attempt(rec)
            rec["ok"] = True
        except ProbeError as e:
            rec["ok"] = False
            rec["err"] = e.kind
            retryable = (
                getattr(e, "reused", False)
                and not e.got_bytes
                and e.kind in ("reset", "eof", "broken_pipe")
            )
            if retryable:
                # What curl, browsers and urllib3 do: the GET never reached
                # a server that answered, so send it again once, fresh.
                rec["retried"] = True
                try:
                    self.attempt(rec)
                    rec["retry_ok"] = True
                except ProbeError as e2:
                    rec["retry_ok"] = False
                    rec["retry_err"] = e2.kind
        rec["done"] = time.time()
        return rec

    def run(self, until, out, lock):
        tick = self.args["interval"]
        nxt = time.time()
        while True:
            now = time.time()
            if now >= until() or now >= self.args["hard_until"]:
                break
            if nxt > now:
                time.sleep(nxt - now)
            rec = self.one()
            with lock:
                out.write(json.dumps(rec) + "\n")
            # The next probe on the 10 ms grid; ticks missed while a request
            # hung are skipped, not sent in a burst.
            nxt += tick
            if nxt < time.time():
                nxt = time.time()
        if self.sock is not None:
            self.sock.close()


def run(argv):
    import argparse

    p = argparse.ArgumentParser(prog="probe.py run")
    p.add_argument("--host", required=True)
    p.add_argument("--target", action="append", required=True, help="MODE:PORT:STICKY")
    p.add_argument("--duration", type=float, required=True, help="seconds, at most")
    p.add_argument(
        "--event-file",
        help="stop AFTER seconds after the timestamp this file will hold"
        " (the lab writes it when it fails a node)",
    )
    p.add_argument("--after", type=float, default=2.0)
    p.add_argument("--interval", type=float, default=0.01)
    p.add_argument("--connect-timeout", type=float, default=0.05)
    p.add_argument("--timeout", type=float, default=0.2)
    p.add_argument("--out", required=True, help="JSON lines file")
    a = p.parse_args(argv)
    args = {
        "interval": a.interval,
        "connect_timeout": a.connect_timeout,
        "timeout": a.timeout,
        "hard_until": time.time() + a.duration,
    }
    stop_at = [None]

    def until():
        # Once the event file holds a timestamp, run AFTER seconds past it.
        if stop_at[0] is None and a.event_file:
            try:
                with open(a.event_file) as f:
                    stop_at[0] = float(f.read().split()[0]) + a.after
            except (OSError, ValueError, IndexError):
                return float("inf")
        return stop_at[0] if stop_at[0] is not None else float("inf")
    lock = threading.Lock()
    with open(a.out, "w") as out:
        threads = [
            threading.Thread(target=Target(t, a.host, args).run, args=(until, out, lock))
            for t in a.target
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def summarize(event, active, recs, timeout=0.2, planned_end=None):
    """Per-target figures around the failure event (see the module doc).

    recover: from the event to the first answer from a node other than
    ACTIVE (the standby), completion time. The failover window runs from
    one response timeout before the event (a request in flight when the
    node failed) to that answer; for a planned switchover it runs to
    PLANNED_END (the lab passes: the switchover script done, plus 1 s),
    however long the standby took. Failures outside the window (a stall of
    this shared host before the event, or after the switch was over) are
    counted apart.
    """
    ok = lambda r: r["ok"] or r.get("retry_ok")  # noqa: E731
    other = [r for r in recs if ok(r) and r["t"] >= event and r.get("lb") not in (None, active)]
    recover = (min(r["done"] for r in other) - event) if other else None
    start = event - timeout
    if planned_end is not None:
        end = max(planned_end, event + recover if recover is not None else 0)
    elif recover is None:
        end = float("inf")
    else:
        end = event + recover
    raw_fail = [r for r in recs if not r["ok"]]
    inside = [r for r in raw_fail if start <= r["t"] <= end]
    out = {"requests": len(recs)}
    out["raw_failed"] = len(inside)
    out["failed"] = sum(1 for r in inside if not r.get("retry_ok"))
    out["errors"] = sorted({r["err"] for r in inside})
    out["other_failed"] = len(raw_fail) - len(inside)
    out["other_errors"] = sorted({r["err"] for r in raw_fail if r not in inside})
    out["recover"] = recover
    # The active node answering again after the standby did: a flap.
    out["flap"] = any(ok(r) and r.get("lb") == active and r["t"] > end for r in recs)
    before = {r.get("server") for r in recs if ok(r) and r["done"] < event}
    after = {r.get("server") for r in recs if ok(r) and r["t"] > event}
    out["servers_before"] = sorted(s for s in before if s)
    out["servers_after"] = sorted(s for s in after if s)
    out["sticky_kept"] = len(before) == 1 and before == after
    return out


def vrrp_master_at(notify_log, event):
    """From the standby's notify log: when (from the event) it logged
    MASTER, and how many times it was MASTER before the event (with 100 ms
    adverts, a master whose adverts are delayed 0.36 s, by a starved CPU,
    loses the address to the backup: a spurious transition)."""
    at, early = None, 0
    try:
        with open(notify_log) as f:
            for line in f:
                w = line.split()
                if len(w) < 4 or w[3] != "MASTER":
                    continue
                if float(w[0]) < event:
                    early += 1
                elif at is None:
                    at = float(w[0]) - event
    except OSError:
        pass
    return at, early


def summary(argv):
    import argparse

    p = argparse.ArgumentParser(prog="probe.py summary")
    p.add_argument("event_file")
    p.add_argument("active_lb")
    p.add_argument("jsonl", nargs="+")
    p.add_argument("--tag", action="append", default=[], help="KEY=VALUE added to each line")
    p.add_argument(
        "--planned-end",
        type=float,
        help="planned switchover: the failover window ends at this epoch time",
    )
    p.add_argument("--vrrp", help="the standby's notify log (MASTER time)")
    p.add_argument("--vrrp-log", help="the standby's keepalived log (priority-0 advert)")
    a = p.parse_args(argv)
    with open(a.event_file) as f:
        event = float(f.read().split()[0])
    by_target = {}
    for path in a.jsonl:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                by_target.setdefault(r["target"], []).append(r)
    extra = dict(t.split("=", 1) for t in a.tag)
    if a.vrrp:
        extra["vrrp_master"], extra["vrrp_early"] = vrrp_master_at(a.vrrp, event)
    if a.vrrp_log:
        with open(a.vrrp_log, errors="replace") as f:
            extra["prio0_advert"] = "received priority 0" in f.read()
    for name in sorted(by_target):
        s = summarize(event, a.active_lb, by_target[name], planned_end=a.planned_end)
        s["target"] = name
        s.update(extra)
        print(json.dumps(s))


GOALS = {
    # Hard failures: the standby answers within half a second.
    "kill": "outage",
    "link": "outage",
    # Planned switchover: nothing fails, not even before a retry.
    "planned": "zero",
}
SCENARIO_NAMES = {
    "kill": "hard: ringlb SIGKILL",
    "link": "hard: link down",
    "planned": "planned switchover",
}
CLIENT_NAMES = {
    "ka:80:cookie": "keep-alive, cookie",
    "new:80:cookie": "new conn, cookie",
    "ka:8080:source": "keep-alive, source hash",
    "new:8080:source": "new conn, source hash",
}


def ms(v):
    return "never" if v is None else "%.0f ms" % (v * 1000)


def med_max(vals, fmt):
    if not vals:
        return "-"
    if any(v is None for v in vals):
        return fmt(None)
    s = sorted(vals)
    med = s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
    return "%s / %s" % (fmt(med), fmt(s[-1])) if len(s) > 1 else fmt(med)


def table(argv):
    """The markdown table over all rounds, then the goals; exit 1 if missed."""
    rows = {}
    with open(argv[0]) as f:
        for line in f:
            r = json.loads(line)
            rows.setdefault((r["scenario"], r["target"]), []).append(r)
    print(
        "| scenario | client | rounds | failed requests (raw) | failed after one retry"
        " | time until the standby answers | VRRP MASTER on the standby | sticky server kept"
        " | other failures (outside the failover window) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    missed = []
    order = [s for s in GOALS]
    for (sc, tg) in sorted(rows, key=lambda k: (order.index(k[0]), list(CLIENT_NAMES).index(k[1]))):
        rs = rows[(sc, tg)]
        kept = sum(1 for r in rs if r["sticky_kept"])
        count = lambda v: "%g" % v  # noqa: E731
        print(
            "| %s | %s | %d | %s | %s | %s | %s | %d/%d | %s |"
            % (
                SCENARIO_NAMES[sc],
                CLIENT_NAMES.get(tg, tg),
                len(rs),
                med_max([r["raw_failed"] for r in rs], count),
                med_max([r["failed"] for r in rs], count),
                med_max([r["recover"] for r in rs], ms),
                med_max([r.get("vrrp_master") for r in rs], ms),
                kept,
                len(rs),
                "%d in %d round(s)" % (sum(r["other_failed"] for r in rs), sum(1 for r in rs if r["other_failed"]))
                if any(r["other_failed"] for r in rs)
                else "0",
            )
        )
        if kept != len(rs):
            missed.append("%s, %s: sticky server lost in %d round(s)" % (sc, tg, len(rs) - kept))
        if any(r.get("flap") for r in rs):
            missed.append("%s, %s: the failed node answered again after the standby (flap)" % (sc, tg))
        early = sum(1 for r in rs if r.get("vrrp_early"))
        if early:
            missed.append(
                "%s, %s: the standby became MASTER before the failure in %d round(s)" % (sc, tg, early)
            )
        if GOALS[sc] == "outage":
            worst = [r["recover"] for r in rs]
            if any(o is None or o >= 0.5 for o in worst):
                missed.append("%s, %s: the standby did not answer within 0.5 s (%s)" % (sc, tg, [ms(o) for o in worst]))
        elif any(r["raw_failed"] for r in rs):
            missed.append("%s, %s: %d failed request(s)" % (sc, tg, sum(r["raw_failed"] for r in rs)))
    print()
    for sc in order:
        rounds = {}
        for (sc2, _), rs in rows.items():
            if sc2 == sc:
                for r in rs:
                    rounds[r["round"]] = r
        if not rounds:
            continue
        got = sum(1 for r in rounds.values() if r.get("prio0_advert"))
        early = sum(1 for r in rounds.values() if r.get("vrrp_early"))
        print(
            "- %s: the standby's keepalived received a priority-0 advert in %d of %d round(s);"
            " it became MASTER before the failure (spuriously) in %d"
            % (SCENARIO_NAMES[sc], got, len(rounds), early)
        )
    print()
    if missed:
        for m in missed:
            print("GOAL MISSED: " + m)
        sys.exit(1)
    print(
        "All goals met: after a hard failure the standby answered within 0.5 s, the planned"
        " switchover failed no request, every sticky client kept its server."
    )


def main():
    cmds = {"run": run, "summary": summary, "table": table}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
