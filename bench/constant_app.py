"""The HTTP floor of the serving benchmark: a raw ASGI app on the generated app's stack that
reads the request body and answers a constant. It is served by the generated app's own
main.py (imported from BENCH_APP_DIR, not copied): the same uvicorn settings, the same worker
count and the same process model. No parsing, no model: what the stack alone can do here.

    BENCH_APP_DIR=deploy/app PORT=8080 MLGEN_HOST=127.0.0.1 python constant_app.py
"""

import os
import sys

BODY = b'{"predictions":[0]}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    sys.path.insert(0, os.environ["BENCH_APP_DIR"])
    import main

    sys.exit(main.main(lambda: app))
