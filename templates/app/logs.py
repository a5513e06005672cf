"""Structured logs: one JSON object per line on stdout, as Cloud Logging reads them."""

import logging
import os
import time
import traceback

import orjson
from settings import PROJECT

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
