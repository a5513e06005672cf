"""The generated app with a counter of the batch sizes its batcher forms.

The app does not report its batch sizes, so this wraps `Batcher.timed_predict` of the generated
server.py and serves it with the generated main.py (both imported from BENCH_APP_DIR, not
copied), so the process model and uvicorn settings are the app's own. Each worker writes its
histogram of rows per model call to BENCH_BATCH_DIR/batches-PID.json every quarter second.
The benchmark uses it only in separate runs, never for the throughput of the generated app it
reports.

Experiments (`serving.py --experiments`), each undoing one of the app's choices, off unless
set, to show what that choice is worth:
  BENCH_BATCHER=eager    the batcher sends whatever is queued at once, rather than waiting
                         (boundedly) for as many rows as the last batch had
  BENCH_INLINE=0         every model call goes through the executor thread, even one
                         quicker than the handoff

    BENCH_APP_DIR=deploy/app BENCH_BATCH_DIR=out/ python probe_server.py
"""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.environ["BENCH_APP_DIR"])

SIZES = {}
_started = []


def _dump():
    path = os.path.join(os.environ["BENCH_BATCH_DIR"], f"batches-{os.getpid()}.json")
    while True:
        time.sleep(0.25)
        with open(path + ".tmp", "w") as f:
            json.dump({str(k): v for k, v in sorted(SIZES.items())}, f)
        os.replace(path + ".tmp", path)


def expect_one(self, now):
    """Batcher.expected_rows as it was: never wait for the rows of the last batch."""
    return 1


def load_app():
    """In each worker, as main.py's own loader: the generated app, instrumented."""
    import batching
    import server

    timed_predict_as_generated = batching.Batcher.timed_predict

    def timed_predict(self, X):
        if not _started:
            _started.append(threading.Thread(target=_dump, daemon=True))
            _started[0].start()
        SIZES[len(X)] = SIZES.get(len(X), 0) + 1
        return timed_predict_as_generated(self, X)

    batching.Batcher.timed_predict = timed_predict
    if os.environ.get("BENCH_BATCHER") == "eager":
        batching.Batcher.expected_rows = expect_one
    if os.environ.get("BENCH_INLINE") == "0":
        batching.INLINE_S = 0.0
    return server.app


if __name__ == "__main__":
    import main

    sys.exit(main.main(load_app))
