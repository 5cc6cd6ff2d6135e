#!/usr/bin/env python3
"""Online expiry (docs/online.md, "Expiry") against its rule, computed here from the events.

For each case: a repo with three views over one source of random events —
  ue     row-level features (ttl) and window aggregates, online_expiry >= ttl and >= the
         longest window + hop (random, sometimes exactly that bound);
  ua     window aggregates only, no ttl, online_expiry exactly window + hop;
  plain  the same features as ue without online_expiry (never forgets: today's behaviour).
Users get rows in random shapes relative to a pinned "now": recent, long past the expiry,
exactly at its boundary (latest row = now - expiry, and one second older), rows in the future
only, old rows plus a future one. The rows are written to the CSV in random order and come
in two ingests, the second holding late (older) rows too; each is materialized at its own
pinned now (TESSERA_NOW), the second incrementally.

Checked, all against the rule computed here (the latest row at or before t: forgotten when
there is none or t - its ts > online_expiry; then every feature NOT_FOUND, event ts 0, count
and sum 0, others null; else ttl and sawtooth windows as DESIGN.md says):
  - `tessera get --json` at now and at later times: every value, status and event time;
  - `tessera check`: 0 mismatches, at now and later;
  - `tessera verify --json`: the online store holds exactly the heads the rule keeps (an
    entity forgotten at the write's now has no record), then after a `tessera materialize` at a
    later now, the heads forgotten meanwhile are gone, the report's "expired" counts them and
    `tessera serve`'s /metrics (tessera_online_store_keys) counts what is left;
  - pushes at that later now: a late row that brings a forgotten entity back, a late row older
    than a forgotten entity's latest (it stays forgotten, no record), a row of a new entity;
    lookups, check and the head count follow the rule again.

usage: expiry_oracle.py TESSERA WORKDIR [--cases N] [--seed S]
Prints TAP lines ("ok - ..." / "not ok - ...").
"""
import argparse
import calendar
import json
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.request

S = 1_000_000  # microseconds per second
H = 3600 * S
BASE_NOW = calendar.timegm((2024, 3, 1, 12, 0, 0)) * S


def dur(us):
    """A duration for the definitions: whole minutes."""
    return f"{us // (60 * S)}m"


def ts_text(us):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(us // S))


def parse_ts(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")) * S


def floor_to(x, h):
    return x - (x % h)


class View:
    def __init__(self, name, hop, ttl, expiry, feats):
        self.name, self.hop, self.ttl, self.expiry, self.feats = name, hop, ttl, expiry, feats

    def yaml(self):
        lines = [f"  - name: {self.name}", "    entities: [user]", "    source: ev",
                 f"    hop: {dur(self.hop)}"]
        if self.ttl:
            lines.append(f"    ttl: {dur(self.ttl)}")
        if self.expiry:
            lines.append(f"    online_expiry: {dur(self.expiry)}")
        lines.append("    features:")
        for name, agg, window in self.feats:
            if agg is None:
                lines.append(f"      - {{name: {name}, expr: amount}}")
            elif agg == "count":
                lines.append(f"      - {{name: {name}, agg: count, window: {dur(window)}}}")
            else:
                lines.append(f"      - {{name: {name}, agg: {agg}, expr: amount, "
                             f"window: {dur(window)}}}")
        return "\n".join(lines)

    def expected(self, rows, t):
        """{feature: (value, status, event_ts)} of an entity with `rows` [(ts, amount)] at t."""
        past = [r for r in rows if r[0] <= t]
        latest = max(past) if past else None
        forgotten = self.expiry and (latest is None or t - latest[0] > self.expiry)
        has_record = bool(rows)  # plain views keep every entity that has a row
        out = {}
        for name, agg, window in self.feats:
            if forgotten or (not self.expiry and not has_record):
                value = 0 if agg in ("count", "sum") else None
                out[name] = (value, "NOT_FOUND", 0)
                continue
            ets = latest[0] if latest else 0
            if agg is None:
                if latest is None:
                    out[name] = (None, "NOT_FOUND", 0)
                elif self.ttl and t - latest[0] > self.ttl:
                    out[name] = (None, "OUTSIDE_MAX_AGE", ets)
                else:
                    out[name] = (latest[1], "PRESENT", ets)
                continue
            lo = floor_to(t - window, self.hop)
            inw = [a for (ts, a) in past if lo <= ts]
            if agg == "count":
                value = len(inw)
            elif agg == "sum":
                value = sum(inw)
            else:
                value = max(inw) if inw else None
            out[name] = (value, "PRESENT" if value is not None else "NULL_VALUE", ets)
        return out

    def head_kept(self, rows, now):
        """Does the online store keep a record of an entity with these rows after a write at
        (or a materialization's sweep at) `now`?"""
        if not rows:
            return False
        if not self.expiry:
            return True
        return max(ts for ts, _ in rows) + self.expiry >= now


def make_views(rng):
    hop = rng.choice([30 * 60 * S, H])
    ttl = rng.choice([3 * H, 6 * H])
    w1, w2 = rng.choice([H, 2 * H]), rng.choice([2 * H, 4 * H])
    expiry = max(ttl, max(w1, w2) + hop) + rng.choice([0, 0, 30 * 60 * S, 2 * H])
    ue = View("ue", hop, ttl, expiry, [("e_last", None, 0), ("e_n", "count", w1),
                                       ("e_s", "sum", w2), ("e_mx", "max", w2)])
    ua = View("ua", H, 0, 2 * H, [("a_n", "count", H), ("a_s", "sum", H)])
    plain = View("plain", hop, ttl, 0, [("p_last", None, 0), ("p_n", "count", w1),
                                        ("p_s", "sum", w2), ("p_mx", "max", w2)])
    return [ue, ua, plain]


def make_rows(rng, now, views, nusers):
    """{user: [(ts, amount)]}: shapes relative to now and the views' expiries."""
    xmax = max(v.expiry for v in views)
    rows = {}
    used = set()

    def add(u, ts):
        ts = ts - ts % S
        while (u, ts) in used:  # unique per user: the latest row is never a tie
            ts -= S
        used.add((u, ts))
        rows.setdefault(u, []).append((ts, rng.randint(1, 500)))

    for u in range(1, nusers + 1):
        shape = rng.choice(["recent", "recent", "old", "old", "boundary", "future", "old_future",
                            "mixed"])
        n = rng.randint(1, 5)
        if shape == "recent":
            for _ in range(n):
                add(u, now - rng.randint(0, 8 * H // S) * S)
        elif shape == "old":
            for _ in range(n):
                add(u, now - xmax - rng.randint(1, 20 * H // S) * S)
        elif shape == "boundary":
            v = rng.choice([v for v in views if v.expiry])
            add(u, now - v.expiry - rng.choice([0, S]))  # exactly at the edge, or just past
            for _ in range(n - 1):
                add(u, now - v.expiry - rng.randint(2, 10 * H // S) * S)
        elif shape == "future":
            for _ in range(n):
                add(u, now + rng.randint(1, 10 * H // S) * S)
        elif shape == "old_future":
            add(u, now - xmax - rng.randint(1, 20 * H // S) * S)
            add(u, now + rng.randint(1, 10 * H // S) * S)
        else:
            for _ in range(n):
                add(u, now + rng.randint(-30 * H // S, 3 * H // S) * S)
    return rows


def write_csv(path, rows_list):
    with open(path, "w") as f:
        f.write("user_id,amount,ts\n")
        for u, ts, a in rows_list:
            f.write(f"{u},{a},{ts_text(ts)}\n")


class Case:
    def __init__(self, tessera, root, seed, tap):
        self.tessera, self.root, self.tap = tessera, root, tap
        self.rng = random.Random(seed)
        self.seed = seed

    def run(self, *args, now=None):
        env = dict(os.environ)
        if now is not None:
            env["TESSERA_NOW"] = ts_text(now)
        p = subprocess.run([self.tessera, *args], cwd=self.root, env=env, capture_output=True,
                           text=True)
        return p.returncode, p.stdout, p.stderr

    def must(self, what, *args, now=None):
        rc, out, err = self.run(*args, now=now)
        if rc != 0:
            self.tap(False, f"case {self.seed}: {what}", f"exit {rc}: {err.strip()[:2000]}")
            raise RuntimeError(what)
        return out

    def lookups(self, what, views, rows, users, t):
        ents = []
        for u in users:
            ents += ["--entity", f"user_id={u}"]
        doc = json.loads(self.must(what, "get", "--service", "svc", *ents, "--json",
                                   "--now", ts_text(t)))
        names = doc["metadata"]["feature_names"]
        bad = []
        for view in views:
            for i, u in enumerate(users):
                want = view.expected(rows.get(u, []), t)
                for name, (value, status, ets) in want.items():
                    res = doc["results"][names.index(name)]
                    got = (res["values"][i], res["statuses"][i],
                           parse_ts(res["event_timestamps"][i]))
                    if got != (value, status, ets):
                        bad.append(f"user {u} {name} at {ts_text(t)}: got {got}, "
                                   f"expected {(value, status, ets)}; rows "
                                   f"{[(ts_text(a), b) for a, b in sorted(rows.get(u, []))]}")
        self.tap(not bad, f"case {self.seed}: {what}", *bad[:5])

    def check(self, what, t):
        out = self.must(what, "check", "--service", "svc", "--sample", "400", "--json",
                        "--now", ts_text(t))
        doc = json.loads(out)["checks"][0]
        self.tap(doc["mismatch_count"] == 0 and doc["compared"] > 0,
                 f"case {self.seed}: {what}",
                 f"{doc['mismatch_count']} mismatches of {doc['compared']}: "
                 f"{json.dumps(doc['mismatches'][:3])}")

    def heads(self, what, views, rows, now):
        """Checks the online store's head records; returns every key it counts."""
        doc = json.loads(self.must(what, "verify", "--json"))
        online = [c for c in doc["checks"] if c["part"] == "online"][0]
        counts = [int(w) for w in online["detail"].split() if w.isdigit()]
        want = sum(v.head_kept(r, now) for v in views for r in rows.values())
        self.tap(online["ok"] and counts[0] == want, f"case {self.seed}: {what}",
                 f"{counts[0]} head records, expected {want}: {online['detail']}")
        return sum(counts)

    def metrics_keys(self, now):
        """tessera_online_store_keys of a `tessera serve` (started and stopped here)."""
        env = dict(os.environ, TESSERA_NOW=ts_text(now))
        p = subprocess.Popen([self.tessera, "serve", "--port", "0"], cwd=self.root, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = p.stdout.readline()
            url = line.split("serving on ")[1].split()[0]
            with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
                text = r.read().decode()
            return int([ln for ln in text.splitlines()
                        if ln.startswith("tessera_online_store_keys ")][0].split()[1])
        finally:
            p.terminate()
            p.wait()

    def go(self):
        rng = self.rng
        views = make_views(rng)
        now = BASE_NOW + rng.randint(0, 3 * 24 * H // S) * S
        nusers = rng.randint(40, 80)
        rows = make_rows(rng, now, views, nusers)
        os.makedirs(f"{self.root}/data")
        with open(f"{self.root}/tessera.yaml", "w") as f:
            f.write("project: expiry\n")
        with open(f"{self.root}/defs.yaml", "w") as f:
            f.write("entities:\n  - {name: user, join_keys: [user_id]}\nsources:\n"
                    "  - name: ev\n    type: batch\n    path: data/ev*.csv\n    timestamp: ts\n"
                    "    schema: {user_id: int64, amount: int64, ts: timestamp}\n"
                    "  - {name: ev_live, type: push, batch_source: ev}\n"
                    "feature_views:\n" + "\n".join(v.yaml() for v in views) + "\n"
                    "feature_services:\n  - name: svc\n"
                    "    features: [\"ue:*\", \"ua:*\", \"plain:*\"]\n")
        # two ingests, rows in random order: the first at an earlier now, the second (late
        # rows among them) at now
        flat = [(u, ts, a) for u, rs in rows.items() for ts, a in rs]
        rng.shuffle(flat)
        cut = len(flat) // 2
        now1 = now - rng.choice([H, 3 * H, 12 * H])
        seen1 = {}
        for u, ts, a in flat[:cut]:
            seen1.setdefault(u, []).append((ts, a))
        write_csv(f"{self.root}/data/ev1.csv", flat[:cut])
        self.must("apply", "apply", now=now1)
        self.must("ingest 1", "ingest", "ev", now=now1)
        self.must("materialize 1", "materialize", now=now1)
        self.heads(f"after the first materialization: the heads the rule keeps at "
                   f"{ts_text(now1)}", views, seen1, now1)
        write_csv(f"{self.root}/data/ev2.csv", flat[cut:])
        self.must("ingest 2", "ingest", "ev", now=now)
        m = json.loads(self.must("materialize 2", "materialize", "--json", now=now))
        self.tap(all(v["mode"] == "incremental" for v in m["views"]) and
                 all(("expired" in v) == (v["view"] != "plain") for v in m["views"]),
                 f"case {self.seed}: the second materialization is incremental and reports "
                 f"expiries of the views with online_expiry", json.dumps(m))
        self.heads("after the second materialization: the heads the rule keeps", views, rows,
                   now)
        users = list(range(1, nusers + 1)) + [nusers + 1, nusers + 2]  # and two never seen
        later = [now, now + rng.randint(1, views[0].expiry // S) * S,
                 now + views[0].expiry + rng.randint(1, 10 * H // S) * S]
        for t in later:
            self.lookups(f"lookups at now{'' if t == now else ' + ' + dur(t - now)} follow the "
                         f"rule", views, rows, users, t)
        self.check("check at now: 0 mismatches", now)
        self.check("check later: 0 mismatches", later[1])

        # time moves on: the sweep deletes the heads forgotten meanwhile
        now2 = now + rng.choice([2 * H, 5 * H, 10 * H])
        m = json.loads(self.must("materialize 3", "materialize", "--json", now=now2))
        expired = {v["view"]: v.get("expired") for v in m["views"]}
        want = {v.name: (sum(v.head_kept(r, now) and not v.head_kept(r, now2)
                             for r in rows.values()) if v.expiry else None) for v in views}
        self.tap(expired == want, f"case {self.seed}: a materialization later reports the "
                 f"records it found forgotten (\"expired\")", f"got {expired}, expected {want}")
        keys = self.heads("...and the store no longer holds them", views, rows, now2)
        got = self.metrics_keys(now2)
        self.tap(got == keys, f"case {self.seed}: ...and /metrics counts the keys left",
                 f"tessera_online_store_keys {got}, the store holds {keys}")

        # pushes at now2: a forgotten entity brought back by a late row, a late row older than
        # a forgotten entity's latest, a new entity
        gone = [u for u in range(1, nusers + 1) if not views[0].head_kept(rows.get(u, []), now2)]
        rng.shuffle(gone)
        push = []
        if gone:
            push.append((gone[0], now2 - rng.randint(0, views[0].ttl // S) * S))
        if len(gone) > 1:
            push.append((gone[1], min(ts for ts, _ in rows[gone[1]]) - H))
        push.append((nusers + 1, now2 - 10 * S))
        with open(f"{self.root}/push.csv", "w") as f:
            f.write("user_id,amount,ts\n")
            for u, ts in push:
                ts -= ts % S
                while any(r[0] == ts for r in rows.get(u, [])):
                    ts -= S
                a = rng.randint(1, 500)
                rows.setdefault(u, []).append((ts, a))
                f.write(f"{u},{a},{ts_text(ts)}\n")
        self.must("push", "push", "ev_live", "push.csv", now=now2)
        for t in (now2, now2 + views[0].expiry):
            self.lookups(f"after pushes of late rows, lookups at now2"
                         f"{'' if t == now2 else ' + expiry'} follow the rule", views, rows,
                         users, t)
        self.check("after the pushes: check 0 mismatches", now2)
        self.heads("after the pushes: the heads the rule keeps", views, rows, now2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tessera")
    ap.add_argument("workdir")
    ap.add_argument("--cases", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    failed = 0

    def tap(ok, name, *details):
        nonlocal failed
        print(("ok - " if ok else "not ok - ") + name)
        if not ok:
            failed += 1
            for d in details:
                print("    " + d)
        sys.stdout.flush()

    for c in range(a.cases):
        root = os.path.join(a.workdir, f"case{c}")
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)
        try:
            Case(os.path.abspath(a.tessera), root, a.seed * 1000 + c, tap).go()
        except RuntimeError:
            pass
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
