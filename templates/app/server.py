"""Serves one model over HTTP on Cloud Run: the ASGI app and its routes.

A raw ASGI app with orjson, served by uvicorn (uvloop, httptools) from main.py: no framework
between the socket and the model. The request shape is a protocol's (protocols/), the model
a framework's (frameworks/); concurrent requests are batched into one model call
(batching.py). Everything specific to the service is in config.json beside this file.
"""

# First: settings sizes the native thread pools before numpy or a model library loads.
from settings import (
    CONFIG,
    DEVICE,
    FEATURES,
    FRAMEWORK,
    LIVE_PATH,
    MAX_BODY,
    MODEL_PATH,
    READY_PATH,
)

# isort: split
import asyncio
import dataclasses
import inspect
import os
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import frameworks
import openapi
import outputs
from batching import Batcher
from frameworks import LoadFailed, ModelError
from inputs import BadRequest
from logs import log, trace_of
from outputs import dumps
from protocols import oip, vertex

# A refused body is still read and dropped, up to this much, before the 413: a client that
# is still sending then reads the answer instead of a reset connection.
DRAIN_LIMIT = max(MAX_BODY, 1 << 20)
JSON = b"application/json"


def load_model(path):
    """Returns the model's Predictor, its `predict` taking the rows as the protocols parse
    them and returning the predictions the service answers with."""
    predictor = frameworks.load(FRAMEWORK, path, DEVICE)
    if predictor.width is not None and predictor.width != len(FEATURES):
        raise ModelError(
            f"the model takes {predictor.width} features, the spec lists {len(FEATURES)}"
        )
    predict = predictor.predict
    if CONFIG["output"] == "proba":
        predict = outputs.probabilities(predictor)
    if CONFIG["input"] == "dataframe":
        import frames

        def predict_frame(X, predict=predict):
            return predict(frames.frame(X))

        predict = predict_frame
    return dataclasses.replace(predictor, predict=predict)


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


async def respond(send, status, body, content_type=JSON, close=False, extra=()):
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    headers.extend(extra)
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class App:
    def __init__(self):
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self.batcher = None
        self.predictor = None
        self.ready = None
        self.loading = None  # the task that loads the model
        self.failed = False  # the service's own load code raised: never ready
        self.openapi = dumps(openapi.document())

    def describe(self):
        return dumps(
            {
                "name": CONFIG["service"],
                "framework": CONFIG["framework"],
                "runtime": FRAMEWORK,
                "features": FEATURES,
                "input": CONFIG["input"],
                "output": CONFIG["output"],
                "ready": bool(self.ready and self.ready.is_set()),
                "predict": vertex.PATH,
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
                self.loading = asyncio.get_running_loop().create_task(self.load())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                log("INFO", "shutting down", pid=os.getpid())
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def load(self):
        # In a thread, so the port answers (503 on readiness) while the model loads.
        started = time.monotonic()
        try:
            predictor = await asyncio.get_running_loop().run_in_executor(
                self.executor, load_model, MODEL_PATH
            )
        except LoadFailed as e:
            # The process stays up and unready: the startup probe fails the revision with
            # this reason in its logs, and a local run still answers /ready with 503.
            log("CRITICAL", str(e), traceback=traceback.format_exc())
            self.failed = True
            return
        except Exception as e:  # noqa: BLE001
            log(
                "CRITICAL",
                f"cannot load the model from {MODEL_PATH}: {e}",
                traceback=traceback.format_exc(),
            )
            # Exit so the revision fails now, with this line in its logs, rather than after
            # the whole startup probe window.
            os._exit(3)
        self.predictor = predictor
        self.batcher.predict = predictor.predict
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
        if path == vertex.PATH:
            if method != "POST":
                return await self.error(send, scope, 405, "use POST")
            return await self.predict(scope, receive, send)
        if path.startswith(oip.PREFIX):
            return await self.open_inference(scope, receive, send)
        if method not in ("GET", "HEAD"):
            return await self.error(send, scope, 405, "use GET")
        if path == READY_PATH:
            if self.ready is not None and self.ready.is_set():
                return await respond(send, 200, b'{"status":"ready"}')
            if self.failed:
                return await respond(send, 503, b'{"status":"failed"}')
            return await respond(send, 503, b'{"status":"loading"}')
        if path == LIVE_PATH:
            return await respond(send, 200, b'{"status":"ok"}')
        if path == "/":
            return await respond(send, 200, self.describe())
        if path == "/openapi.json":
            return await respond(send, 200, self.openapi)
        return await self.error(send, scope, 404, f"no route {path}")

    async def open_inference(self, scope, receive, send):
        ready = self.ready is not None and self.ready.is_set()
        answer = oip.route(scope["method"], scope["path"], ready)
        if answer is oip.INFER:
            call = oip.Call(dict(scope["headers"]))
            return await self.predict(scope, receive, send, call)
        status, body = answer
        if isinstance(body, str):
            return await self.error(send, scope, status, body)
        return await respond(send, status, body)

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

    async def infer(self, X):
        """The predictions for one request's rows: in a batch with other requests' rows
        where the model allows, else in a call of their own."""
        predict = self.predictor.predict
        if self.predictor.batchable:
            return await self.batcher.submit(X)
        if inspect.iscoroutinefunction(predict):
            return await predict(X)
        return await asyncio.get_running_loop().run_in_executor(self.executor, predict, X)

    async def predict(self, scope, receive, send, protocol=vertex):
        """Answers one request in `protocol`'s shape: parse(body) -> the model's input,
        answer(predictions) -> the body, sent with its `content_type` and `headers`."""
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
                X = protocol.parse(b"".join(chunks) if chunks else body)
            except BadRequest as e:
                return await self.error(send, scope, e.status, e.message)
            if not self.ready.is_set():
                # Another worker may be ready and answering the readiness probe: wait for
                # this one's model rather than fail the request (a wait, which a client
                # that leaves does not cancel).
                await asyncio.wait([self.loading])
            if self.failed:
                return await self.error(
                    send, scope, 503, "the model did not load; the logs say why"
                )
            batcher.arriving -= 1
            queued = True
            try:
                out = await self.infer(X)
            except BadRequest as e:
                return await self.error(send, scope, e.status, e.message)
            except Exception as e:  # noqa: BLE001
                return await self.error(
                    send,
                    scope,
                    500,
                    "the model failed on these instances",
                    exception=f"{type(e).__name__}: {e}",
                    traceback=traceback.format_exc(),
                )
            try:
                body = protocol.answer(out)
            except TypeError as e:
                return await self.error(
                    send, scope, 500, "the model's predictions are not JSON", exception=str(e)
                )
            content_type = getattr(protocol, "content_type", JSON)
            await respond(send, 200, body, content_type, extra=getattr(protocol, "headers", ()))
        finally:
            if not queued:
                batcher.arriving -= 1
                # With one request fewer on its way, the waiting rows may be due now.
                batcher.schedule()


app = App()
