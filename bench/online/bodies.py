#!/usr/bin/env python3
"""bench/online/bodies.py DIR USERS MERCHANTS — the request bodies of bench/online/run.sh:
lookup1.json, lookup100.json (checks that lookups answer), push1000.json and push1.json
(pushes to transactions_live: rows like the generator's, at the end of the data)."""
import json
import random
import sys

d, users, merchants = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(7)


def lookup(n):
    return {"feature_service": "bench_online",
            "entities": {"user_id": [rng.randint(1, users) for _ in range(n)],
                         "merchant_id": [rng.randint(1, merchants) for _ in range(n)]}}


def push(n):
    cols = {"txn_id": [], "user_id": [], "merchant_id": [], "amount": [], "currency": [],
            "channel": [], "is_international": [], "ts": [], "created_at": []}
    for i in range(n):
        cols["txn_id"].append(900000000 + i)
        cols["user_id"].append(rng.randint(1, users))
        cols["merchant_id"].append(rng.randint(1, merchants))
        cols["amount"].append(round(rng.uniform(1, 500), 2))
        cols["currency"].append("USD")
        cols["channel"].append(rng.choice(["web", "app", "pos"]))
        cols["is_international"].append(rng.random() < 0.1)
        ts = f"2026-01-31T00:{rng.randint(0, 29):02d}:{rng.randint(0, 59):02d}Z"  # fresh: this hour
        cols["ts"].append(ts)
        cols["created_at"].append(ts)
    return {"push_source_name": "transactions_live", "df": cols, "to": "online_and_offline"}


for name, body in (("lookup1", lookup(1)), ("lookup100", lookup(100)), ("push1000", push(1000)),
                   ("push1", push(1))):
    with open(f"{d}/{name}.json", "w") as f:
        json.dump(body, f)
