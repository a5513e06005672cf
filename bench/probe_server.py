"""The generated app with a counter of the batch sizes its batcher forms.

The app does not report its batch sizes, so this wraps `Batcher.run_batch` of the generated
server.py (imported from BENCH_APP_DIR, not copied) and starts uvicorn with the same settings
as the app's own main(). Each worker writes its histogram of rows per model call to
BENCH_BATCH_DIR/batches-PID.json every quarter second. The benchmark uses it only in
separate runs, never for the throughput of the generated app it reports.

Experiments (`serving.py --experiments`), each a candidate change to the app, off unless set:
  BENCH_BATCHER=expect   the batcher does not send a batch smaller than the previous one
                         until max_batch_wait_ms has passed since it began the batch
  BENCH_INLINE=1         the model is called on the event loop, not in the executor thread

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


async def run_expect(self):
    """Batcher.run, but a batch smaller than the last one waits (up to max_batch_wait_ms)
    for the rest: under load the requests answered by the last batch come straight back."""
    loop = server.asyncio.get_running_loop()
    last = 1
    while True:
        await self.wakeup.wait()
        self.wakeup.clear()
        while self.queue:
            batch = [self.queue.popleft()]
            rows = len(batch[0][0])
            deadline = None
            while rows < server.MAX_BATCH:
                if self.queue:
                    if rows + len(self.queue[0][0]) > server.MAX_BATCH:
                        break
                    item = self.queue.popleft()
                    batch.append(item)
                    rows += len(item[0])
                    continue
                if (not self.arriving and rows >= last) or server.MAX_WAIT_S <= 0:
                    break
                now = loop.time()
                deadline = deadline or now + server.MAX_WAIT_S
                if now >= deadline:
                    break
                self.wakeup.clear()
                try:
                    await server.asyncio.wait_for(self.wakeup.wait(), deadline - now)
                except TimeoutError:
                    break
            last = rows
            await self.run_batch(loop, batch)


async def run_batch_inline(self, loop, batch):
    """Batcher.run_batch with the model called on the event loop."""
    X = batch[0][0] if len(batch) == 1 else server.np.concatenate([x for x, _ in batch])
    try:
        out = self.predict(X)
    except Exception as e:  # noqa: BLE001
        if len(batch) == 1:
            batch[0][1].set_exception(e)
            return
        for item in batch:
            await run_batch_inline(self, loop, [item])
        return
    start = 0
    for x, future in batch:
        end = start + len(x)
        if not future.done():
            future.set_result(out[start:end])
        start = end


if os.environ.get("BENCH_BATCHER") == "expect":
    server.Batcher.run = run_expect
if os.environ.get("BENCH_INLINE") == "1":
    _run_batch = run_batch_inline
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
        backlog=2048,
    )
