"""The model's floor for the serving benchmark: rows/s of the bare model called in-process
with batches of a given size, through the generated app's own load_model() (so the same
library, the same thread settings, the same input conversion). The rows are the ones the load
generator sends, taken in turn: a tree model called again and again on the same rows walks
the same paths with a warm cache and looks faster than it is under real requests.

    python model_floor.py --app-dir deploy/app --model model.joblib --bodies bodies.json \
        --batch 16 --seconds 3
Prints one JSON object. Run several at once (one per server process) for the parallel floor.
"""

import argparse
import json
import os
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--app-dir", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--bodies", required=True, help="the load's request bodies (JSON list)")
    p.add_argument("--batch", type=int, nargs="+", required=True)
    p.add_argument("--seconds", type=float, default=2.0, help="per batch size")
    p.add_argument("--start-at", type=float, default=0.0, help="time.time() to begin at")
    args = p.parse_args()
    os.environ["MLGEN_MODEL_PATH"] = args.model
    sys.path.insert(0, args.app_dir)
    import numpy as np
    import server  # the generated app: config, thread settings, load_model
    from protocols import vertex  # its request parser

    predict = server.load_model(args.model).predict
    with open(args.bodies) as f:
        rows = np.concatenate([vertex.parse(body.encode()) for body in json.load(f)])
    results = {}
    for b in args.batch:
        # Batches of b consecutive rows, wrapping around, as many as it takes to use them all.
        order = np.arange(len(rows) * b) % len(rows)
        batches = [rows[order[i:i + b]] for i in range(0, len(order), b)]
        for X in batches[:8]:
            predict(X)  # warm
        if args.start_at:
            time.sleep(max(0.0, args.start_at - time.time()))
        calls = 0
        start = time.perf_counter()
        end = start + args.seconds
        while True:
            predict(batches[calls % len(batches)])
            calls += 1
            now = time.perf_counter()
            if now >= end:
                break
        elapsed = now - start
        results[str(b)] = {
            "calls": calls,
            "us_per_call": elapsed / calls * 1e6,
            "rows_per_s": b * calls / elapsed,
        }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
