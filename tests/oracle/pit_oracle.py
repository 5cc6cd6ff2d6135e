#!/usr/bin/env python3
"""pit_oracle.py — the obviously-correct reference for training sets.

Generates random feature repos and events (ties, duplicate timestamps, created_ts tie-breaks,
nulls, late and out-of-order rows, several ingests, multi-key entities, several views, windows,
hops, ttl, where filters, on-demand features), runs the real `tessera` (apply, ingest,
training-set), and compares every value with a brute-force computation written straight from
DESIGN.md's "Time semantics", one label row and one feature at a time.

Counts, integers, min, max, first, last and float sums must be identical (sums of 2-decimal
amounts are exact in Tessera's double-double accumulation and in math.fsum); means, variances
and standard deviations within 1e-9 relative; count_distinct_approx within its stated error.

Usage: pit_oracle.py TESSERA WORKDIR [--cases N] [--seed S]
Prints TAP-style "ok - ..." / "not ok - ..." lines, one per case.
"""
import csv
import math
import os
import random
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from fractions import Fraction

US = 1_000_000
UNITS = {"s": US, "m": 60 * US, "h": 3600 * US, "d": 86400 * US, "w": 7 * 86400 * US}
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
BASE = 1767225600 * US  # 2026-01-01T00:00:00Z


def dur(s):
    return int(s[:-1]) * UNITS[s[-1]]


def fmt_ts(us):
    secs, frac = divmod(us, US)
    d = datetime.fromtimestamp(secs, tz=timezone.utc)
    s = d.strftime("%Y-%m-%dT%H:%M:%S")
    return s + (".%06d" % frac if frac else "") + "Z"


def parse_ts(s):
    s = s.strip()
    if s.endswith("Z"):
        s = s[:-1]
    frac = 0
    if "." in s:
        s, f = s.split(".")
        frac = int((f + "000000")[:6])
    d = datetime.strptime(s, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return int((d - EPOCH).total_seconds()) * US + frac


def floor_to(t, h):
    return (t // h) * h  # Python's // floors toward -inf, as DESIGN's floor does


# ---- the feature catalogue the random cases draw from --------------------------------------
# (yaml agg, yaml expr, yaml where, python value(row), python where(row), value type)
def amount(r):
    return r["amount"]


def qty(r):
    return r["qty"]


EXPRS = {
    "amount": (amount, "float64"),
    "qty": (qty, "int64"),
    "amount * 2": (lambda r: None if r["amount"] is None else r["amount"] * 2, "float64"),
    "channel": (lambda r: r["channel"], "string"),
    "ts": (lambda r: r["ts"], "timestamp"),
}
WHERES = {
    None: lambda r: True,
    "amount > 50": lambda r: r["amount"] is not None and r["amount"] > 50,
    "channel = 'web'": lambda r: r["channel"] is not None and r["channel"] == "web",
    "qty >= 2": lambda r: r["qty"] is not None and r["qty"] >= 2,
}
AGG_TYPES = {
    "count": ["*", "amount", "channel"],
    "sum": ["amount", "qty"],
    "mean": ["amount", "qty"],
    "min": ["amount", "qty", "channel", "ts"],
    "max": ["amount", "qty", "channel", "ts"],
    "first": ["amount", "channel", "qty"],
    "last": ["amount", "channel", "qty"],
    "stddev_samp": ["amount"],
    "stddev_pop": ["amount", "qty"],
    "var_samp": ["qty"],
    "var_pop": ["amount"],
    "count_distinct_approx": ["channel", "qty"],
}
ROW_EXPRS = ["amount", "qty", "channel", "amount * 2", "ts"]


class Feature:
    def __init__(self, name, agg=None, expr=None, where=None, window=None):
        self.name, self.agg, self.expr, self.where, self.window = name, agg, expr, where, window

    def yaml(self):
        parts = ["name: %s" % self.name]
        if self.agg:
            parts.append("agg: %s" % self.agg)
        if self.expr and self.expr != "*":
            parts.append('expr: "%s"' % self.expr)
        if self.where:
            parts.append('where: "%s"' % self.where)
        if self.window:
            parts.append("window: %s" % self.window)
        return "{" + ", ".join(parts) + "}"


class View:
    def __init__(self, name, keys, hop, ttl, features):
        self.name, self.keys, self.hop, self.ttl, self.features = name, keys, hop, ttl, features


def random_case(rng):
    views = []
    key_sets = [["user_id"], ["merchant_id"], ["user_id", "merchant_id"]]
    for vi, keys in enumerate(rng.sample(key_sets, rng.randint(1, 3))):
        hop = rng.choice(["30m", "1h", "1h", "1d"])
        ttl = rng.choice([None, None, "2h", "1d", "3d"])
        feats = []
        for fi in range(rng.randint(1, 6)):
            if rng.random() < 0.3:
                feats.append(Feature("v%d_r%d" % (vi, fi), expr=rng.choice(ROW_EXPRS)))
                continue
            agg = rng.choice(list(AGG_TYPES))
            expr = rng.choice(AGG_TYPES[agg])
            where = rng.choice(list(WHERES)) if rng.random() < 0.4 else None
            window = rng.choice([None, "1h", "2h", "1d", "2d", "7d"])
            if window and dur(window) < dur(hop):
                window = hop
            feats.append(Feature("v%d_a%d" % (vi, fi), agg=agg, expr=expr, where=where, window=window))
        views.append(View("v%d" % vi, keys, hop, ttl, feats))
    return views


def write_repo(d, views, odf):
    with open(os.path.join(d, "tessera.yaml"), "w") as f:
        f.write("project: oracle\nstore: .tessera\n")
    y = []
    y.append("entities:\n  - name: user\n    join_keys: [user_id]\n"
             "  - name: merchant\n    join_keys: [merchant_id]\n")
    y.append("sources:\n  - name: events\n    type: batch\n    path: data/*.csv\n"
             "    timestamp: ts\n    created_timestamp: created_at\n"
             "    schema: {user_id: int64, merchant_id: string, amount: float64, qty: int64,"
             " channel: string, ts: timestamp, created_at: timestamp}\n")
    y.append("feature_views:\n")
    for v in views:
        ents = ", ".join({"user_id": "user", "merchant_id": "merchant"}[k] for k in v.keys)
        y.append("  - name: %s\n    entities: [%s]\n    source: events\n    hop: %s\n"
                 % (v.name, ents, v.hop))
        if v.ttl:
            y.append("    ttl: %s\n" % v.ttl)
        y.append("    features:\n")
        for ft in v.features:
            y.append("      - %s\n" % ft.yaml())
    refs = ['"%s:%s"' % (v.name, ft.name) for v in views for ft in v.features]
    if odf:
        v, ft = odf
        y.append("on_demand_features:\n  - name: ratio\n    inputs: {features: [\"%s:%s\"], "
                 "request: {req_amount: float64}}\n    expr: \"req_amount / %s\"\n"
                 % (v.name, ft.name, ft.name))
        refs.append("ratio")
    y.append("feature_services:\n  - name: svc\n    features: [%s]\n" % ", ".join(refs))
    with open(os.path.join(d, "features.yaml"), "w") as f:
        f.write("".join(y))


def random_events(rng, n):
    users = rng.randint(1, 8)
    merchants = rng.randint(1, 5)
    slots = [BASE + rng.randint(0, 4 * 86400) * US for _ in range(max(3, n // 3))]  # many ties
    rows = []
    for _ in range(n):
        ts = rng.choice(slots)
        if rng.random() < 0.1:
            ts += rng.randint(1, 999999)  # microsecond fractions
        elif rng.random() < 0.2:
            ts = floor_to(ts, 1800 * US)  # exactly on tile boundaries
        created = None if rng.random() < 0.3 else ts + rng.randint(0, 3) * 60 * US
        rows.append({
            "user_id": rng.randint(1, users) if rng.random() > 0.03 else None,
            "merchant_id": "m%d" % rng.randint(1, merchants),
            "amount": None if rng.random() < 0.1 else rng.randint(0, 20000) / 100,
            "qty": None if rng.random() < 0.1 else rng.randint(-3, 9),
            "channel": None if rng.random() < 0.1 else rng.choice(["web", "app", "pos"]),
            "ts": ts,
            "created_at": created,
        })
    return rows, users, merchants


COLS = ["user_id", "merchant_id", "amount", "qty", "channel", "ts", "created_at"]


def cell(v, col):
    if v is None:
        return ""
    if col in ("ts", "created_at"):
        return fmt_ts(v)
    if col == "amount":
        return "%.2f" % v
    return str(v)


def write_events(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLS)
        for r in rows:
            w.writerow([cell(r[c], c) for c in COLS])


# ---- the reference ---------------------------------------------------------------------------
def order_key(r):
    return (r["ts"], -math.inf if r["created_at"] is None else r["created_at"], r["seq"])


def agg_value(agg, vals_rows, expr):
    """vals_rows: [(value, row)] of rows in the window that passed `where`; value None = null."""
    if agg == "count":
        if expr == "*":
            return len(vals_rows)
        return sum(1 for v, _ in vals_rows if v is not None)
    vr = [(v, r) for v, r in vals_rows if v is not None]
    vals = [v for v, _ in vr]
    if agg == "sum":
        if not vals:
            return 0
        return math.fsum(vals) if isinstance(vals[0], float) else sum(vals)
    if not vals:
        return None
    if agg == "mean":
        return math.fsum(vals) / len(vals) if isinstance(vals[0], float) else sum(vals) / len(vals)
    if agg == "min":
        return min(vals)
    if agg == "max":
        return max(vals)
    if agg == "first":
        return min(vr, key=lambda x: order_key(x[1]))[0]
    if agg == "last":
        return max(vr, key=lambda x: order_key(x[1]))[0]
    if agg == "count_distinct_approx":
        return len(set(vals))
    n = len(vals)
    fr = [Fraction(v) for v in vals]
    m = sum(fr) / n
    ss = sum((x - m) ** 2 for x in fr)
    if agg in ("var_samp", "stddev_samp"):
        if n < 2:
            return None
        var = ss / (n - 1)
    else:
        var = ss / n
    return float(var) if agg.startswith("var") else math.sqrt(float(var))


def reference(view, ft, rows, keyvals, t):
    mine = [r for r in rows if all(r[k] == kv for k, kv in zip(view.keys, keyvals))]
    if ft.agg is None:
        cand = [r for r in mine if r["ts"] <= t]
        if not cand:
            return None
        r = max(cand, key=order_key)
        if view.ttl and t - r["ts"] > dur(view.ttl):
            return None
        return EXPRS[ft.expr][0](r)
    if ft.window:
        lo = floor_to(t - dur(ft.window), dur(view.hop))
        win = [r for r in mine if lo <= r["ts"] <= t]
    else:
        win = [r for r in mine if r["ts"] <= t]
    win = [r for r in win if WHERES[ft.where](r)]
    fn = (lambda r: 1) if ft.expr == "*" else EXPRS[ft.expr][0]
    return agg_value(ft.agg, [(fn(r), r) for r in win], ft.expr)


def ftype(ft):
    if ft.agg is None:
        return EXPRS[ft.expr][1]
    if ft.agg in ("count", "count_distinct_approx"):
        return "int64"
    t = "int64" if ft.expr == "*" else EXPRS[ft.expr][1]
    if ft.agg == "sum":
        return t
    if ft.agg in ("min", "max", "first", "last"):
        return t
    return "float64"


def same(kind, agg, want, got_text):
    if want is None:
        return got_text == ""
    if got_text == "":
        return False
    if kind == "timestamp":
        return parse_ts(got_text) == want
    if kind == "string":
        return got_text == want
    if kind == "bool":
        return got_text == ("true" if want else "false")
    got = float(got_text)
    if agg == "count_distinct_approx":
        return abs(got - want) <= max(1.0, 0.05 * want)
    if agg in ("mean", "stddev_samp", "stddev_pop", "var_samp", "var_pop"):
        return abs(got - want) <= 1e-9 * max(1.0, abs(want))
    return got == want


def run(cmd, cwd):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def one_case(tessera, work, rng, case_no):
    d = os.path.join(work, "case%d" % case_no)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "data"))
    views = random_case(rng)
    odf = None
    num = [(v, ft) for v in views for ft in v.features if ftype(ft) in ("float64", "int64")]
    if num and rng.random() < 0.5:
        odf = rng.choice(num)
    write_repo(d, views, odf)
    r = run([tessera, "apply"], d)
    if r.returncode != 0:
        return "apply failed: " + r.stderr
    rows, users, merchants = random_events(rng, rng.randint(0, 60))
    # several ingests, rows shuffled within each file (out of order, late)
    nfiles = rng.randint(1, 3)
    chunks = [[] for _ in range(nfiles)]
    for row in rows:
        chunks[rng.randrange(nfiles)].append(row)
    all_rows = []
    for fi, chunk in enumerate(chunks):
        rng.shuffle(chunk)
        for i, row in enumerate(chunk):
            row["seq"] = (fi, i)
        path = os.path.join(d, "data", "part%d.csv" % fi)
        write_events(path, chunk)
        r = run([tessera, "ingest", "events", path], d)
        if r.returncode != 0:
            return "ingest failed: " + r.stderr
        all_rows += chunk
    all_rows = [r for r in all_rows]
    # labels: before, between, exactly on events and on hop boundaries, unknown entities
    labels = []
    times = [r["ts"] for r in rows] or [BASE]
    for i in range(rng.randint(1, 40)):
        c = rng.random()
        if c < 0.3:
            t = rng.choice(times)
        elif c < 0.5:
            t = floor_to(rng.choice(times), 3600 * US) + rng.choice([0, -1, 1])
        elif c < 0.7:  # where a window's tail crosses an event: t - W lands on it
            t = rng.choice(times) + dur(rng.choice(["1h", "2h", "1d", "2d"])) + rng.choice([0, -1, 1])
        else:
            t = BASE + rng.randint(-86400, 6 * 86400) * US
        labels.append({
            "user_id": rng.randint(1, users + 1),
            "merchant_id": "m%d" % rng.randint(1, merchants + 1),
            "event_timestamp": t,
            "req_amount": rng.choice([0, 10.5, 99.99]),
            "label": rng.choice(["yes", "no"]),
        })
    lpath = os.path.join(d, "labels.csv")
    with open(lpath, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["user_id", "merchant_id", "event_timestamp", "req_amount", "label"])
        for l in labels:
            w.writerow([l["user_id"], l["merchant_id"], fmt_ts(l["event_timestamp"]),
                        l["req_amount"], l["label"]])
    out = os.path.join(d, "train.csv")
    r = run([tessera, "training-set", "--service", "svc", "--labels", lpath, "-o", out], d)
    if r.returncode != 0:
        return "training-set failed: " + r.stderr
    with open(out, newline="") as f:
        got = list(csv.DictReader(f))
    if len(got) != len(labels):
        return "expected %d rows, got %d" % (len(labels), len(got))
    problems = []
    for i, (l, g) in enumerate(zip(labels, got)):
        if g["label"] != l["label"] or g["merchant_id"] != l["merchant_id"]:
            problems.append("row %d: label columns changed" % (i + 1))
        values = {}
        for v in views:
            keyvals = [l[k] for k in v.keys]
            for ft in v.features:
                want = reference(v, ft, all_rows, keyvals, l["event_timestamp"])
                values[(v.name, ft.name)] = want
                if ft.name not in g:
                    problems.append("missing column %s" % ft.name)
                    continue
                if not same(ftype(ft), ft.agg, want, g[ft.name]):
                    problems.append("row %d (t=%s, keys=%s) %s:%s [%s %s where %s window %s hop %s"
                                    " ttl %s]: want %r, got %r"
                                    % (i + 1, fmt_ts(l["event_timestamp"]), keyvals, v.name,
                                       ft.name, ft.agg or "row", ft.expr, ft.where, ft.window,
                                       v.hop, v.ttl, want, g[ft.name]))
        if odf:
            x = values[(odf[0].name, odf[1].name)]
            want = None if x is None or x == 0 else l["req_amount"] / x
            if not same("float64", "mean", want, g.get("ratio", "")):
                problems.append("row %d: ratio: want %r, got %r" % (i + 1, want, g.get("ratio")))
    if problems:
        return "; ".join(problems[:5]) + (" (+%d more)" % (len(problems) - 5) if len(problems) > 5 else "") + \
            "\n    repo kept in " + d
    shutil.rmtree(d, ignore_errors=True)
    return None


def main():
    tessera, work = os.path.abspath(sys.argv[1]), sys.argv[2]
    cases, seed = 100, 1
    args = sys.argv[3:]
    while args:
        if args[0] == "--cases":
            cases = int(args[1])
        elif args[0] == "--seed":
            seed = int(args[1])
        args = args[2:]
    os.makedirs(work, exist_ok=True)
    for c in range(cases):
        rng = random.Random(seed * 100003 + c)
        why = one_case(tessera, work, rng, c)
        if why:
            print("not ok - training-set oracle case %d (seed %d)\n    %s" % (c, seed, why))
        else:
            print("ok - training-set oracle case %d" % c)


if __name__ == "__main__":
    main()
