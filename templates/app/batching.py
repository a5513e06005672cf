"""Adaptive micro-batching: one model call for the rows of all waiting requests.

The batcher waits for more rows only while more are on their way, so a lone request never
waits; a model call of microseconds runs on the event loop, a longer one in the thread.
"""

import asyncio
import time
from collections import deque

import numpy as np
from frameworks import ModelError
from settings import MAX_BATCH, MAX_WAIT_S

# A model call quicker than this is made on the event loop: handing it to the thread and back
# costs tens of microseconds of CPU, more than a small model's whole call.
INLINE_S = 0.0005
TIMER_RESOLUTION_S = 0.001
# Waiting for rows costs latency and saves CPU: worth it only while CPU is what limits the
# worker. The event loop's thread counts as saturated once it spent most of a window running
# or waiting for a core rather than idle; it stays so until it idles for half of one (bigger
# batches leave the loop a little more idle time, which must not switch them off again).
LOAD_WINDOW_S = 0.05
SATURATED = 0.8
UNSATURATED = 0.5


def loop_demand_s():
    """Seconds the calling thread has run or waited for a core (Linux schedstat: run time
    and run-queue wait, in ns); where that file is missing, its CPU time."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as f:
            run_ns, wait_ns = f.read().split()[:2]
        return (int(run_ns) + int(wait_ns)) / 1e9
    except (OSError, ValueError):
        return time.thread_time()


class Batcher:
    """Gathers the rows of concurrent requests into one model call, one call at a time.

    No task of its own: a request's arrival, a timer and the end of a model call each run
    decide(), which sends the next batch if it is due. Gathering a batch then costs no task
    switches, which matters when the model call itself takes microseconds."""

    def __init__(self, executor):
        self.executor = executor
        self.predict = None
        self.loop = asyncio.get_running_loop()  # made in the app's lifespan, on its loop
        self.queue = deque()  # (rows, future) of requests waiting for a model call
        self.queued_rows = 0
        self.arriving = 0  # requests being read or parsed, not yet queued
        self.busy = False  # a model call is running in the thread
        self.call_task = None  # the task awaiting it
        self.scheduled = False  # decide() is on the loop's ready queue
        self.timer = None  # decide() at the wait bound
        self.timer_at = 0.0  # that bound, in loop.time()
        self.began = 0.0  # loop.time() when the waiting rows began to gather
        self.expect = 1  # rows worth waiting for, fixed when they began to gather
        # How long the last model call took; before the first, unknown, so taken as long:
        # the first call goes to the thread and waits are bounded by MAX_WAIT_S alone.
        self.call_s = float("inf")
        self.last_rows = 1  # rows in the last batch
        self.last_done = float("-inf")  # loop.time() when the last batch was answered
        self.calls = 0  # model calls and the rows they carried, for GET /
        self.rows = 0
        self.saturated = False  # the loop had no idle time to spare lately
        self.window_at = self.loop.time()
        self.window_demand = loop_demand_s()

    def submit(self, X):
        """Queues one request's rows; returns the future of their predictions."""
        future = self.loop.create_future()
        if not self.queue:
            self.began = self.loop.time()
            self.expect = self.expected_rows(self.began)
        self.queue.append((X, future))
        self.queued_rows += len(X)
        self.schedule()
        return future

    def schedule(self):
        # decide() runs after everything already on the loop's ready queue, so requests read
        # in the same pass of the loop are queued first and go out in one batch.
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.decide)

    def expected_rows(self, now):
        """Rows worth waiting for before the next call. Under load, the requests the last
        batch answered come straight back, one by one: sending the first alone would cost a
        whole model call for one row while the rest queue behind it. So expect as many rows
        as the last batch had, if it was answered within the last MAX_WAIT_S; after a
        quieter spell expect one, so a lone request never waits."""
        return self.last_rows if now - self.last_done < MAX_WAIT_S else 1

    def wait_bound(self, rows, expect):
        """How long to wait for more rows: up to MAX_WAIT_S while requests are being read.
        For the rows the last batch leads us to expect: while the loop is saturated, up to
        MAX_WAIT_S too, since every model call saved is CPU for other requests; otherwise no
        longer than a model call takes, the most that waiting can save. 0: send now."""
        if self.arriving:
            return MAX_WAIT_S
        if rows < expect:
            return MAX_WAIT_S if self.saturated else min(MAX_WAIT_S, self.call_s)
        return 0.0

    def decide(self):
        """Sends a batch if one is due, else makes sure a timer comes back when it will be."""
        self.scheduled = False
        if self.busy or not self.queue:
            return
        rows = self.queued_rows
        deadline = self.began + self.wait_bound(rows, self.expect)
        # uvloop's timers count whole milliseconds: a shorter wait cannot be timed, and
        # polling the loop until it passes costs more CPU than the rows it might add would save.
        if rows < MAX_BATCH and self.loop.time() + TIMER_RESOLUTION_S <= deadline:
            if self.timer is None or self.timer_at != deadline:
                if self.timer is not None:
                    self.timer.cancel()
                self.timer_at = deadline
                self.timer = self.loop.call_at(deadline, self.on_timer)
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.send()

    def on_timer(self):
        # A timer may fire up to a millisecond early: decide() then sends or sets another.
        self.timer = None
        self.decide()

    def send(self):
        batch = [self.queue.popleft()]
        rows = len(batch[0][0])
        while self.queue and rows + len(self.queue[0][0]) <= MAX_BATCH:
            item = self.queue.popleft()
            batch.append(item)
            rows += len(item[0])
        self.queued_rows -= rows
        self.last_rows = rows
        parts = [x for x, _ in batch]
        X = parts[0] if len(parts) == 1 else concat(parts)
        if self.call_s < INLINE_S:
            settle(batch, self.predict_each(parts, X))
            self.finished()
        else:
            # In the thread, so the loop goes on reading the next batch's requests.
            self.busy = True
            # The loop keeps only a weak reference to a task.
            self.call_task = self.loop.create_task(self.call_in_thread(batch, parts, X))

    def finished(self):
        self.last_done = now = self.loop.time()
        if now - self.window_at >= LOAD_WINDOW_S:
            self.measure_load(now)
        if self.queue:
            # What queued meanwhile gathers from now, and waits for the rows just answered
            # too: in a closed loop they come straight back, and a batch sent without them
            # leaves them a call of their own, a split that then repeats every round.
            self.began = now
            self.expect = self.queued_rows + self.expected_rows(now)
            self.schedule()

    def measure_load(self, now):
        """Whether the loop's thread was saturated since the window began (on the loop)."""
        demand = loop_demand_s()
        share = (demand - self.window_demand) / (now - self.window_at)
        self.saturated = share >= (UNSATURATED if self.saturated else SATURATED)
        self.window_at = now
        self.window_demand = demand

    def timed_predict(self, X):
        self.calls += 1
        self.rows += len(X)
        started = time.perf_counter()
        out = self.predict(X)
        self.call_s = time.perf_counter() - started
        return out

    def predict_each(self, parts, X):
        """Per request, the predictions for its rows (`parts`, stacked in `X`) or the
        exception they raised. Runs on the loop or in the thread, so it touches no future."""
        error = None
        try:
            out = self.timed_predict(X)
            if len(out) != len(X):
                raise ModelError(f"the model returned {len(out)} predictions for {len(X)} rows")
        except Exception as e:  # noqa: BLE001
            error = e
        if error is not None:
            if len(parts) == 1:
                return [error]
            # One request's rows failed the call: rerun each alone, so only it fails (and
            # outside the handler, so its error does not carry the batch's as its context).
            return [self.predict_each([x], x)[0] for x in parts]
        results = []
        start = 0
        for x in parts:
            results.append(out[start : start + len(x)])
            start += len(x)
        return results

    async def call_in_thread(self, batch, parts, X):
        try:
            results = await self.loop.run_in_executor(self.executor, self.predict_each, parts, X)
        except Exception as e:  # noqa: BLE001  (the executor itself failed)
            results = [e] * len(batch)
        finally:
            self.busy = False
        settle(batch, results)
        self.finished()


def concat(parts):
    """One model input of the requests' inputs: float matrices stack, lists of rows join."""
    if isinstance(parts[0], list):
        return [row for part in parts for row in part]
    return np.concatenate(parts)


def settle(batch, results):
    """Resolves each request's future with its predictions or its exception."""
    for (_, future), result in zip(batch, results, strict=True):
        if future.done():
            continue
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)
