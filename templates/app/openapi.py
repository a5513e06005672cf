"""The service's OpenAPI document, served at /openapi.json."""

from protocols import oip, vertex
from settings import CONFIG, LIVE_PATH, READY_PATH

ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "request_id": {"type": "string"}},
    "required": ["error", "request_id"],
}


def err(text):
    return {"description": text, "content": {"application/json": {"schema": ERROR}}}


def document():
    return {
        "openapi": "3.1.0",
        "info": {
            "title": CONFIG["service"],
            "version": CONFIG["image"].rsplit(":", 1)[-1],
            "description": CONFIG.get("description") or f"{CONFIG['framework']} model",
        },
        "paths": {
            **vertex.paths(err),
            **oip.paths(err),
            READY_PATH: {"get": {"summary": "200 once the model is loaded, 503 before"}},
            LIVE_PATH: {"get": {"summary": "200 while the process serves"}},
            "/": {"get": {"summary": "The model's name, framework and features"}},
        },
    }
