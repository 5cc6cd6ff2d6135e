#!/usr/bin/env python3
"""Online values against offline ones (DESIGN.md: "for the same events and the same t, the
online value equals the offline value").

For each case: a random repo (views with row-level features and ttl, windowed and lifetime
aggregates of every kind, where filters, a two-key view, an on-demand feature with a request
field), generated events split into chunks. Chunk by chunk, at an increasing "now": ingest it,
`tessera materialize` (incremental after the first), then `tessera get --json` for random
entities and `tessera training-set` for the same entities with t = now; every value and status
must agree (a null offline value is NOT_FOUND, NULL_VALUE or OUTSIDE_MAX_AGE online; floats
are compared as doubles, exactly). At the end a full rematerialization must give the same.

usage: online_oracle.py TESSERA GEN WORKDIR [--cases N] [--seed S]
Prints TAP lines ("ok - ..." / "not ok - ...").
"""
import csv
import json
import os
import random
import shutil
import subprocess
import sys

AGGS = [
    ("count", None), ("sum", "amount"), ("mean", "amount"), ("min", "amount"), ("max", "amount"),
    ("first", "channel"), ("last", "currency"), ("stddev_samp", "amount"), ("var_pop", "amount"),
    ("count_distinct_approx", "merchant_id"), ("count", "amount"), ("min", "channel"),
    ("sum", "txn_id"),
]
WINDOWS = ["2h", "3h", "1d", "2d", None]


def definitions(rng):
    hop = rng.choice(["1h", "30m", "2h"])  # every window below is a multiple of each
    feats_user, feats_merch = [], []
    n = 0
    for _ in range(rng.randint(3, 7)):
        agg, expr = rng.choice(AGGS)
        w = rng.choice(WINDOWS)
        f = {"name": f"a{n}", "agg": agg}
        if expr:
            f["expr"] = expr
        if w:
            f["window"] = w
        if rng.random() < 0.3:
            f["where"] = rng.choice(["amount > 50", "channel = 'web'", "is_international"])
        (feats_user if rng.random() < 0.6 else feats_merch).append(f)
        n += 1
    feats_user.insert(0, {"name": "last_amount", "expr": "amount"})
    feats_user.insert(1, {"name": "last_channel_upper", "expr": "upper(channel)"})
    feats_merch.insert(0, {"name": "merchant_last_currency", "expr": "currency"})
    ttl_u = rng.choice(["", "ttl: 6h", "ttl: 2d"])
    ttl_m = rng.choice(["", "ttl: 1d"])

    def view(name, ent, ttl, feats):
        lines = [f"  - name: {name}", f"    entities: [{ent}]", "    source: transactions",
                 f"    hop: {hop}"]
        if ttl:
            lines.append(f"    {ttl}")
        lines.append("    features:")
        for f in feats:
            lines.append("      - " + json.dumps(f))
        return "\n".join(lines)

    pair = [{"name": "pair_count_1d", "agg": "count", "window": "1d"},
            {"name": "pair_last_amount", "expr": "amount * 2"}]
    return f"""entities:
  - name: user
    join_keys: [{{name: user_id, type: int64}}]
  - name: merchant
    join_keys: [{{name: merchant_id, type: int64}}]
sources:
  - name: transactions
    type: batch
    path: data/transactions.csv
    format: csv
    timestamp: ts
    created_timestamp: created_at
    schema: {{txn_id: int64, user_id: int64, merchant_id: int64, amount: float64, currency: string,
             channel: string, is_international: bool, ts: timestamp, created_at: timestamp}}
  - name: transactions_live
    type: push
    batch_source: transactions
feature_views:
{view("user_txn", "user", ttl_u, feats_user)}
{view("merchant_txn", "merchant", ttl_m, feats_merch)}
{view("user_merchant", "user, merchant", "", pair)}
on_demand_features:
  - name: amount_ratio
    inputs: {{features: ["user_txn:last_amount"], request: {{amount: float64}}}}
    expr: "amount / last_amount"
feature_services:
  - name: svc
    features: ["user_txn:*", "merchant_txn:*", "user_merchant:*", amount_ratio]
"""


def run(cmd, cwd, env):
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def same(off, on_val, on_status, ftype_hint):
    """off: the CSV cell ('' = null); on_val: the JSON value."""
    if off == "":
        return on_val is None and on_status in ("NOT_FOUND", "NULL_VALUE", "OUTSIDE_MAX_AGE")
    if on_val is None or on_status not in ("PRESENT", "NOT_FOUND"):
        return False
    if isinstance(on_val, bool):
        return off == ("true" if on_val else "false")
    if isinstance(on_val, float):
        try:
            return float(off) == on_val or (off == "nan" and on_val != on_val)
        except ValueError:
            return False
    if isinstance(on_val, int):
        try:
            return int(off) == on_val
        except ValueError:
            return float(off) == float(on_val)
    return off == str(on_val)


def fmt_ts(us):
    import datetime
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=us)
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def one_case(tessera, gen, work, seed):
    rng = random.Random(seed)
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    users, merchants = rng.randint(5, 40), rng.randint(3, 10)
    events = rng.randint(300, 3000)
    run([gen, "--out", "gen", "--events", str(events), "--users", str(users), "--merchants",
         str(merchants), "--seed", str(seed), "--days", "4"], work, os.environ)
    with open(os.path.join(work, "tessera.yaml"), "w") as f:
        f.write("project: online_oracle\nstore: .tessera\n")
    with open(os.path.join(work, "defs.yaml"), "w") as f:
        f.write(definitions(rng))
    lines = open(os.path.join(work, "gen", "transactions.csv")).read().splitlines()
    header, rows = lines[0], lines[1:]
    k = rng.randint(1, 4)
    cuts = sorted(rng.sample(range(1, len(rows)), k - 1)) if k > 1 else []
    chunks = [rows[a:b] for a, b in zip([0] + cuts, cuts + [len(rows)])]
    env = dict(os.environ)
    start_us = 1767225600 * 1000000  # 2026-01-01
    nows = sorted(start_us + rng.randint(0, 5 * 86400) * 1000000 for _ in chunks)
    run([tessera, "apply"], work, env)
    failures = []

    def compare(now, label):
        env["TESSERA_NOW"] = fmt_ts(now)
        ents = [(rng.randint(1, users + 2), rng.randint(1, merchants + 1),
                 round(rng.uniform(1, 200), 2)) for _ in range(rng.randint(1, 8))]
        with open(os.path.join(work, "labels.csv"), "w") as f:
            f.write("user_id,merchant_id,amount,event_timestamp\n")
            for u, m, a in ents:
                f.write(f"{u},{m},{a},{fmt_ts(now)}\n")
        run([tessera, "training-set", "--service", "svc", "--labels", "labels.csv", "-o",
             "out.csv"], work, env)
        off = list(csv.DictReader(open(os.path.join(work, "out.csv"))))
        args = [tessera, "get", "--service", "svc", "--json"]
        for u, m, a in ents:
            args += ["--entity", f"user_id={u},merchant_id={m},amount={a}"]
        on = json.loads(run(args, work, env))
        names = on["metadata"]["feature_names"]
        for i, name in enumerate(names):
            if name in ("user_id", "merchant_id", "amount"):
                continue
            res = on["results"][i]
            for r in range(len(ents)):
                if not same(off[r][name], res["values"][r], res["statuses"][r], None):
                    failures.append(f"{label} at {fmt_ts(now)}: entity {ents[r][:2]} {name}: "
                                    f"offline {off[r][name]!r}, online {res['values'][r]!r} "
                                    f"{res['statuses'][r]}")

    for i, (chunk, now) in enumerate(zip(chunks, nows)):
        path = os.path.join(work, f"part{i}.csv")
        with open(path, "w") as f:
            f.write(header + "\n" + "\n".join(chunk) + "\n")
        env["TESSERA_NOW"] = fmt_ts(now)
        if i > 0 and rng.random() < 0.6:
            # pushed: kept offline in the batch source's store and applied online at once
            run([tessera, "push", "transactions_live", path], work, env)
            how = "pushed"
        else:
            run([tessera, "ingest", "transactions", path], work, env)
            run([tessera, "materialize"], work, env)
            how = "ingested"
        compare(now, f"chunk {i + 1}/{len(chunks)} ({how})")
        if rng.random() < 0.7:
            # a few fresh events in the minutes before now, pushed: the records written at
            # this now take the write's fast path (only the head tile and latest row change)
            fresh = os.path.join(work, f"fresh{i}.csv")
            with open(fresh, "w") as f:
                f.write(header + "\n")
                for k in range(rng.randint(1, 12)):
                    ts = fmt_ts(now - rng.randint(0, 20 * 60) * 1000000)
                    f.write(f"{9000000 + i * 100 + k},{rng.randint(1, users)},{rng.randint(1, merchants)},"
                            f"{round(rng.uniform(1, 3000), 2)},USD,{rng.choice(['web', 'app', 'pos'])},"
                            f"{rng.choice(['true', 'false'])},{ts},{ts}\n")
            run([tessera, "push", "transactions_live", fresh], work, env)
            compare(now, f"chunk {i + 1}/{len(chunks)}, fresh pushes")
        # later, without a write: another hop bucket (tiles instead of rollups, future rows due)
        later = now + rng.randint(1, 6 * 3600) * 1000000
        compare(later, f"chunk {i + 1}/{len(chunks)}, read later")
    # tessera check draws its own sample and compares every value exactly
    env["TESSERA_NOW"] = fmt_ts(nows[-1])
    p = subprocess.run([tessera, "check", "--sample", "40"], cwd=work, env=env,
                       capture_output=True, text=True)
    if p.returncode != 0:
        failures.append(f"tessera check at {fmt_ts(nows[-1])}: {p.stdout.strip()} {p.stderr.strip()}")
    run([tessera, "materialize", "--full"], work, env)
    compare(nows[-1], "after --full")
    return failures


def main():
    a = sys.argv[1:]
    if len(a) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    tessera, gen, workdir = a[:3]
    cases = int(a[a.index("--cases") + 1]) if "--cases" in a else 20
    seed = int(a[a.index("--seed") + 1]) if "--seed" in a else 1
    bad = 0
    for c in range(cases):
        s = seed * 100003 + c
        work = os.path.join(workdir, f"case{c}")
        try:
            fails = one_case(tessera, gen, work, s)
        except RuntimeError as e:
            fails = [str(e)]
        if fails:
            bad += 1
            print(f"not ok - online equals offline, case {c} (seed {s}, kept in {work})")
            for f in fails[:10]:
                print(f"    {f}")
        else:
            print(f"ok - online equals offline, case {c} (seed {s})")
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
