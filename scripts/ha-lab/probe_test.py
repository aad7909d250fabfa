#!/usr/bin/env python3
"""Unit tests of probe.py's arithmetic (no network): python3 scripts/ha-lab/probe_test.py"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import probe  # noqa: E402

EV = 1000.0


def rec(t, ok=True, lb="lb1", server="be1", err=None, dt=0.001, **kw):
    r = {"target": "ka:80:cookie", "t": EV + t, "done": EV + t + dt, "ok": ok}
    if ok:
        r.update(lb=lb, server=server)
    else:
        r["err"] = err or "timeout"
    r.update(kw)
    return r


class Summarize(unittest.TestCase):
    def test_hard_failure(self):
        recs = [rec(-0.02), rec(-0.01), rec(0.0, ok=False, dt=0.2), rec(0.2, ok=False, err="connect_timeout", dt=0.05)]
        recs += [rec(0.25, lb="lb2"), rec(0.26, lb="lb2")]
        s = probe.summarize(EV, "lb1", recs)
        self.assertAlmostEqual(s["recover"], 0.251)
        self.assertEqual((s["raw_failed"], s["failed"], s["other_failed"]), (2, 2, 0))
        self.assertTrue(s["sticky_kept"])
        self.assertFalse(s["flap"])

    def test_failures_outside_window_counted_apart(self):
        recs = [rec(-1.0, ok=False), rec(-0.01), rec(0.05, ok=False, err="connect_refused", dt=0.0)]
        recs += [rec(0.1, lb="lb2"), rec(1.0, ok=False), rec(1.3, lb="lb2")]
        s = probe.summarize(EV, "lb1", recs)
        self.assertEqual((s["raw_failed"], s["other_failed"]), (1, 2))

    def test_retried_request_counts_raw_not_seen(self):
        retried = rec(0.01, ok=False, err="reset", retried=True, retry_ok=True)
        retried.update(lb="lb2", server="be1")  # the retry's answer
        recs = [rec(-0.01), retried]
        s = probe.summarize(EV, "lb1", recs + [rec(0.02, lb="lb2")])
        self.assertEqual((s["raw_failed"], s["failed"]), (1, 0))

    def test_planned_window_runs_to_its_end(self):
        recs = [rec(-0.01), rec(0.4, lb="lb2"), rec(1.0, ok=False), rec(3.0, ok=False)]
        s = probe.summarize(EV, "lb1", recs, planned_end=EV + 1.5)
        self.assertEqual((s["raw_failed"], s["other_failed"]), (1, 1))
        self.assertEqual(probe.summarize(EV, "lb1", recs)["raw_failed"], 0)

    def test_sticky_lost_and_flap(self):
        recs = [rec(-0.01, server="be1"), rec(0.3, lb="lb2", server="be2"), rec(0.5, lb="lb1")]
        s = probe.summarize(EV, "lb1", recs)
        self.assertFalse(s["sticky_kept"])
        self.assertTrue(s["flap"])

    def test_never_recovered(self):
        s = probe.summarize(EV, "lb1", [rec(-0.01), rec(0.0, ok=False)])
        self.assertIsNone(s["recover"])


class Table(unittest.TestCase):
    def run_table(self, rows):
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        try:
            return subprocess.run(
                [sys.executable, probe.__file__, "table", f.name], capture_output=True, text=True
            )
        finally:
            os.unlink(f.name)

    def row(self, sc, **kw):
        r = {"scenario": sc, "round": "1", "target": "ka:80:cookie", "raw_failed": 0, "failed": 0,
             "other_failed": 0, "recover": 0.2, "sticky_kept": True, "vrrp_master": 0.07,
             "vrrp_early": 0, "prio0_advert": True, "flap": False}
        r.update(kw)
        return r

    def test_goals_met(self):
        p = self.run_table([self.row("kill"), self.row("link", recover=0.36), self.row("planned", recover=0.4)])
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("All goals met", p.stdout)

    def test_each_goal_can_fail(self):
        for bad in (
            self.row("kill", recover=0.5),
            self.row("link", recover=None),
            self.row("planned", raw_failed=1),
            self.row("kill", sticky_kept=False),
            self.row("link", vrrp_early=1),
        ):
            p = self.run_table([bad])
            self.assertEqual(p.returncode, 1, (bad, p.stdout))
            self.assertIn("GOAL MISSED", p.stdout)


if __name__ == "__main__":
    unittest.main()
