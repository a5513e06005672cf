"""Serves one model over HTTP on Cloud Run, with the request and response shape of Vertex AI
custom containers: POST /predict {"instances": [...]} -> {"predictions": [...]}.

A raw ASGI app with orjson, served by uvicorn (uvloop, httptools) from main.py: no framework
between the socket and the model. Concurrent requests are batched into one model call; the
batcher waits for more rows only while more are on their way, so a lone request never waits.
Everything specific to the service is in config.json beside this file.

Environment: MLGEN_MODEL_PATH (overrides the model path).
"""

import asyncio
import logging
import os
import time
import traceback
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import orjson

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.json"), "rb") as _f:
    CONFIG = orjson.loads(_f.read())
THREADS = int(CONFIG["threads"])
# Native thread pools size themselves from these on import: one model call per worker uses
# the vCPUs left to that worker, and no more.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))

import numpy as np  # noqa: E402  (after the thread settings above)

FEATURES = list(CONFIG["features"])
N_FEATURES = len(FEATURES)
FEATURE_SET = frozenset(FEATURES)
FRAMEWORK = CONFIG["serve_framework"]
DEVICE = CONFIG["device"]
MODEL_PATH = os.environ.get("MLGEN_MODEL_PATH") or CONFIG["model_path"]
MAX_BATCH = int(CONFIG["max_batch_size"])
MAX_WAIT_S = float(CONFIG["max_batch_wait_ms"]) / 1000.0
MAX_BODY = int(CONFIG["max_request_bytes"])
# A refused body is still read and dropped, up to this much, before the 413: a client that
# is still sending then reads the answer instead of a reset connection.
DRAIN_LIMIT = max(MAX_BODY, 1 << 20)

PROJECT = CONFIG["project"]
READY_PATH = CONFIG["ready_path"]
LIVE_PATH = CONFIG["live_path"]
PREDICT_PATH = "/predict"


# ---------------------------------------------------------------------------------------
# Structured logs: one JSON object per line on stdout, as Cloud Logging reads them.

SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


def log(severity, message, trace=None, **fields):
    entry = {"severity": severity, "message": message, "time": time.time(), **fields}
    if trace:
        entry["logging.googleapis.com/trace"] = trace
    # One write per line, so lines from several workers never interleave.
    os.write(1, orjson.dumps(entry, default=str) + b"\n")


class JsonHandler(logging.Handler):
    """Routes library logs (uvicorn's included) through the same JSON lines."""

    def emit(self, record):
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + "".join(traceback.format_exception(*record.exc_info))
            log(SEVERITY.get(record.levelno, "DEFAULT"), message, logger=record.name)
        except Exception:  # noqa: BLE001  (a log line must never take the server down)
            self.handleError(record)


logging.basicConfig(level=logging.INFO, handlers=[JsonHandler()], force=True)


def trace_of(headers):
    """`projects/P/traces/ID` from X-Cloud-Trace-Context (or W3C traceparent), else None."""
    value = headers.get(b"x-cloud-trace-context")
    if value:
        trace_id = value.split(b"/", 1)[0].split(b";", 1)[0].decode("latin-1").strip()
    else:
        value = headers.get(b"traceparent")
        parts = value.split(b"-") if value else []
        trace_id = parts[1].decode("latin-1") if len(parts) >= 4 else ""
    if not trace_id or not trace_id.isalnum():
        return None
    return f"projects/{PROJECT}/traces/{trace_id}"


# ---------------------------------------------------------------------------------------
# The model: loaded once per process, called with a float matrix of N_FEATURES columns.


class ModelError(Exception):
    """The model file cannot serve this service's features."""


def load_model(path):
    """Returns predict(X) -> array-like with one entry per row."""
    if FRAMEWORK == "sklearn":
        import joblib

        model = joblib.load(path)
        width = getattr(model, "n_features_in_", None)
        if width is not None and width != N_FEATURES:
            raise ModelError(f"the model takes {width} features, the spec lists {N_FEATURES}")
        return lambda X: model.predict(X)

    if FRAMEWORK == "xgboost":
        import xgboost

        booster = xgboost.Booster()
        booster.load_model(path)
        booster.set_param({"nthread": THREADS, "device": DEVICE})
        if booster.num_features() != N_FEATURES:
            raise ModelError(
                f"the model takes {booster.num_features()} features, the spec lists {N_FEATURES}"
            )
        # Predicting straight from the array skips building a DMatrix per call. Rows arrive
        # in the spec's feature order; the width was checked above.
        return lambda X: booster.inplace_predict(X, validate_features=False)

    if FRAMEWORK == "lightgbm":
        import lightgbm

        booster = lightgbm.Booster(model_file=path)
        if booster.num_feature() != N_FEATURES:
            raise ModelError(
                f"the model takes {booster.num_feature()} features, the spec lists {N_FEATURES}"
            )
        return lambda X: booster.predict(X, num_threads=THREADS, validate_features=False)

    if FRAMEWORK == "onnx":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # A pool wider than the worker's share of vCPUs only adds contention; for small
        # batches one thread is fastest.
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        if DEVICE == "cuda":
            providers.insert(0, "CUDAExecutionProvider")
        session = onnxruntime.InferenceSession(path, options, providers=providers)
        first = session.get_inputs()[0]
        width = first.shape[-1] if first.shape else None
        if isinstance(width, int) and width != N_FEATURES:
            raise ModelError(f"the model takes {width} features, the spec lists {N_FEATURES}")
        dtype = {
            "tensor(float)": np.float32,
            "tensor(double)": np.float64,
            "tensor(int64)": np.int64,
            "tensor(int32)": np.int32,
        }.get(first.type, np.float32)
        name = first.name
        output = [session.get_outputs()[0].name]

        def predict(X):
            out = session.run(output, {name: X.astype(dtype, copy=False)})[0]
            if isinstance(out, np.ndarray) and out.ndim == 2 and out.shape[1] == 1:
                out = out.ravel()
            return out

        return predict

    raise ModelError(f"unknown framework {FRAMEWORK!r}")


# ---------------------------------------------------------------------------------------
# Request validation: rows become one float64 matrix, or a 422 naming the problem.


class BadRequest(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def _number(value, row, column):
    kind = type(value)
    if kind is float or kind is int:  # not bool: True is no feature value
        return value
    if value is None:
        return np.nan  # a missing value; tree models route it, others refuse it
    raise BadRequest(
        422,
        f"instances[{row}]: feature `{FEATURES[column]}` must be a number, "
        f"got {orjson.dumps(value).decode()[:60]}",
    )


def _row_values(row, i):
    if isinstance(row, dict):
        if len(row) != N_FEATURES or not FEATURE_SET.issuperset(row):
            unknown = sorted(k for k in row if k not in FEATURE_SET)
            missing = [f for f in FEATURES if f not in row]
            problems = []
            if unknown:
                problems.append("unknown feature(s) " + ", ".join(f"`{k}`" for k in unknown))
            if missing:
                problems.append("missing feature(s) " + ", ".join(f"`{k}`" for k in missing))
            raise BadRequest(422, f"instances[{i}]: " + "; ".join(problems))
        return [_number(row[f], i, j) for j, f in enumerate(FEATURES)]
    if isinstance(row, list):
        if len(row) != N_FEATURES:
            raise BadRequest(
                422, f"instances[{i}] has {len(row)} values; the model takes {N_FEATURES}"
            )
        return [_number(v, i, j) for j, v in enumerate(row)]
    raise BadRequest(
        422,
        f"instances[{i}] must be an array of {N_FEATURES} numbers or an object keyed by "
        "feature name",
    )


def parse_instances(body):
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadRequest(400, f"the body is not valid JSON: {e}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("instances"), list):
        raise BadRequest(422, 'the body must be a JSON object {"instances": [...]}')
    rows = payload["instances"]
    if not rows:
        raise BadRequest(422, "`instances` is empty")
    if isinstance(rows[0], list) and b"true" not in body and b"false" not in body:
        # Fast path: numpy parses a rectangular numeric list in C. Anything else (strings,
        # nulls, booleans, ragged rows, objects) takes the checked path, which names the
        # problem.
        try:
            X = np.array(rows)
        except (ValueError, TypeError):
            X = None
        if X is not None and X.ndim == 2 and X.shape[1] == N_FEATURES and X.dtype.kind in "iuf":
            return X.astype(np.float64, copy=False)
    return np.array([_row_values(r, i) for i, r in enumerate(rows)], dtype=np.float64)


# ---------------------------------------------------------------------------------------
# Adaptive micro-batching: one model call for the rows of all waiting requests.

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
        X = parts[0] if len(parts) == 1 else np.concatenate(parts)
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
            # What queued meanwhile gathers from now, for as many rows as this batch had.
            self.began = now
            self.expect = self.expected_rows(now)
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


def settle(batch, results):
    """Resolves each request's future with its predictions or its exception."""
    for (_, future), result in zip(batch, results, strict=True):
        if future.done():
            continue
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)


# ---------------------------------------------------------------------------------------
# HTTP


def _default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError


def dumps(value):
    return orjson.dumps(value, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)


JSON = b"application/json"


async def drain(receive):
    """Reads and drops the rest of a request body, up to DRAIN_LIMIT bytes."""
    drained = 0
    while drained < DRAIN_LIMIT:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def respond(send, status, body, content_type=JSON, close=False):
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def openapi():
    number = {"type": ["number", "null"], "description": "null is a missing value"}
    row_array = {
        "type": "array",
        "description": "Values in feature order: " + ", ".join(FEATURES),
        "items": number,
        "minItems": N_FEATURES,
        "maxItems": N_FEATURES,
    }
    row_object = {
        "type": "object",
        "properties": {f: number for f in FEATURES},
        "required": FEATURES,
        "additionalProperties": False,
    }
    error = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "request_id": {"type": "string"}},
        "required": ["error", "request_id"],
    }

    def err(text):
        return {"description": text, "content": {"application/json": {"schema": error}}}

    return {
        "openapi": "3.1.0",
        "info": {
            "title": CONFIG["service"],
            "version": CONFIG["image"].rsplit(":", 1)[-1],
            "description": CONFIG.get("description") or f"{CONFIG['framework']} model",
        },
        "paths": {
            PREDICT_PATH: {
                "post": {
                    "summary": "Predict one value per instance",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "instances": {
                                            "type": "array",
                                            "minItems": 1,
                                            "items": {"oneOf": [row_array, row_object]},
                                        }
                                    },
                                    "required": ["instances"],
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "One prediction per instance, in order",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"predictions": {"type": "array"}},
                                        "required": ["predictions"],
                                    }
                                }
                            },
                        },
                        "400": err("The body is not JSON"),
                        "413": err(f"The body is over {MAX_BODY} bytes"),
                        "422": err("The instances do not match the features"),
                        "500": err("The model failed; quote request_id"),
                        "503": err("The model is still loading"),
                    },
                }
            },
            READY_PATH: {"get": {"summary": "200 once the model is loaded, 503 before"}},
            LIVE_PATH: {"get": {"summary": "200 while the process serves"}},
            "/": {"get": {"summary": "The model's name, framework and features"}},
        },
    }


class App:
    def __init__(self):
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self.batcher = None
        self.ready = None
        self.openapi = dumps(openapi())

    def describe(self):
        return dumps(
            {
                "name": CONFIG["service"],
                "framework": CONFIG["framework"],
                "runtime": FRAMEWORK,
                "features": FEATURES,
                "ready": bool(self.ready and self.ready.is_set()),
                "predict": PREDICT_PATH,
                "openapi": "/openapi.json",
                # This worker's batching so far: rows / model_calls is its mean batch size.
                "worker": {
                    "pid": os.getpid(),
                    "model_calls": self.batcher.calls if self.batcher else 0,
                    "rows": self.batcher.rows if self.batcher else 0,
                    "saturated": bool(self.batcher and self.batcher.saturated),
                },
            }
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.ready = asyncio.Event()
                self.batcher = Batcher(self.executor)
                asyncio.get_running_loop().create_task(self.load())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                log("INFO", "shutting down", pid=os.getpid())
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def load(self):
        # In a thread, so the port answers (503 on readiness) while the model loads.
        started = time.monotonic()
        try:
            predict = await asyncio.get_running_loop().run_in_executor(
                self.executor, load_model, MODEL_PATH
            )
        except Exception as e:  # noqa: BLE001
            log(
                "CRITICAL",
                f"cannot load the model from {MODEL_PATH}: {e}",
                traceback=traceback.format_exc(),
            )
            # Exit so the revision fails now, with this line in its logs, rather than after
            # the whole startup probe window.
            os._exit(3)
        self.batcher.predict = predict
        self.ready.set()
        log(
            "INFO",
            f"model loaded from {MODEL_PATH}",
            framework=FRAMEWORK,
            seconds=round(time.monotonic() - started, 3),
            pid=os.getpid(),
        )

    async def http(self, scope, receive, send):
        path = scope["path"]
        method = scope["method"]
        if path == PREDICT_PATH:
            if method != "POST":
                return await self.error(send, scope, 405, "use POST")
            return await self.predict(scope, receive, send)
        if method not in ("GET", "HEAD"):
            return await self.error(send, scope, 405, "use GET")
        if path == READY_PATH:
            if self.ready is not None and self.ready.is_set():
                return await respond(send, 200, b'{"status":"ready"}')
            return await respond(send, 503, b'{"status":"loading"}')
        if path == LIVE_PATH:
            return await respond(send, 200, b'{"status":"ok"}')
        if path == "/":
            return await respond(send, 200, self.describe())
        if path == "/openapi.json":
            return await respond(send, 200, self.openapi)
        return await self.error(send, scope, 404, f"no route {path}")

    async def error(self, send, scope, status, message, close=False, **fields):
        request_id = os.urandom(16).hex()
        headers = dict(scope["headers"])
        log(
            "ERROR" if status >= 500 else "WARNING",
            f"{scope['method']} {scope['path']} {status}: {message}",
            trace=trace_of(headers),
            request_id=request_id,
            status=status,
            **fields,
        )
        body = dumps({"error": message, "request_id": request_id})
        await respond(send, status, body, close=close)

    async def predict(self, scope, receive, send):
        batcher = self.batcher
        batcher.arriving += 1
        queued = False
        try:
            length = None
            for name, value in scope["headers"]:
                if name == b"content-length":
                    length = int(value) if value.isdigit() else None
            if length is not None and length > MAX_BODY:
                await drain(receive)
                return await self.error(
                    send, scope, 413, f"the body is over {MAX_BODY} bytes", close=True
                )
            # Most bodies come in one message; a streamed one is gathered chunk by chunk.
            message = await receive()
            body = message.get("body", b"")
            chunks = None
            size = len(body)
            while True:
                if message["type"] == "http.disconnect":
                    return
                if size > MAX_BODY:
                    if message.get("more_body", False):
                        await drain(receive)
                    return await self.error(
                        send, scope, 413, f"the body is over {MAX_BODY} bytes", close=True
                    )
                if not message.get("more_body", False):
                    break
                chunks = chunks or [body]
                message = await receive()
                chunk = message.get("body", b"")
                size += len(chunk)
                chunks.append(chunk)
            try:
                X = parse_instances(b"".join(chunks) if chunks else body)
            except BadRequest as e:
                return await self.error(send, scope, e.status, e.message)
            if not self.ready.is_set():
                # Another worker may be ready and answering the readiness probe: wait for
                # this one's model rather than fail the request.
                await self.ready.wait()
            batcher.arriving -= 1
            queued = True
            try:
                out = await batcher.submit(X)
            except Exception as e:  # noqa: BLE001
                return await self.error(
                    send,
                    scope,
                    500,
                    "the model failed on these instances",
                    exception=f"{type(e).__name__}: {e}",
                    traceback=traceback.format_exc(),
                )
            await respond(send, 200, dumps({"predictions": out}))
        finally:
            if not queued:
                batcher.arriving -= 1
                # With one request fewer on its way, the waiting rows may be due now.
                batcher.schedule()


app = App()
