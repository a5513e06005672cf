"""The generated app with a counter of the batch sizes its batcher forms.

The app does not report its batch sizes, so this wraps `Batcher.run_batch` of the generated
server.py (imported from BENCH_APP_DIR, not copied) and starts uvicorn with the same settings
as the app's own main(). Each worker writes its histogram of rows per model call to
BENCH_BATCH_DIR/batches-PID.json every quarter second. The benchmark uses it only in
separate runs, never for the throughput of the generated app it reports.

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

import server  # noqa: E402  (the generated app)

SIZES = {}
_started = []


def _dump():
    path = os.path.join(os.environ["BENCH_BATCH_DIR"], f"batches-{os.getpid()}.json")
    while True:
        time.sleep(0.25)
        with open(path + ".tmp", "w") as f:
            json.dump({str(k): v for k, v in sorted(SIZES.items())}, f)
        os.replace(path + ".tmp", path)


_run_batch = server.Batcher.run_batch


async def run_batch(self, loop, batch):
    if not _started:
        _started.append(threading.Thread(target=_dump, daemon=True))
        _started[0].start()
    rows = sum(len(x) for x, _ in batch)
    SIZES[rows] = SIZES.get(rows, 0) + 1
    return await _run_batch(self, loop, batch)


server.Batcher.run_batch = run_batch


def expect_one(self, now):
    """Batcher.expected_rows as it was: never wait for the rows of the last batch."""
    return 1


if os.environ.get("BENCH_BATCHER") == "eager":
    server.Batcher.expected_rows = expect_one
if os.environ.get("BENCH_INLINE") == "0":
    server.INLINE_S = 0.0
app = server.app

if __name__ == "__main__":
    import uvicorn

    workers = int(server.CONFIG["workers"])
    uvicorn.run(
        "probe_server:app" if workers > 1 else app,
        host=os.environ.get("MLGEN_HOST") or "127.0.0.1",
        port=int(os.environ["PORT"]),
        workers=workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        backlog=2048,
    )
