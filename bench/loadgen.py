"""A light, bounded HTTP/1.1 load generator for loopback benchmarks.

One process, one uvloop event loop, raw asyncio protocols with the httptools response
parser: each of C connections sends one request, waits for the whole response, records its
latency and sends the next (a closed loop, like wrk's). Keep-alive is used when the server
allows it; a server that closes (gunicorn's sync workers) gets a fresh connection for the
next request, and the reconnect counts in that request's latency.

The run stops by itself after --requests responses or --seconds, whichever comes first.
Prints one JSON object: requests/s, latency percentiles, errors, the client's own CPU time.

    loadgen.py --port P --path /predict --bodies bodies.json -c 32 --requests 20000 --seconds 8
"""

import argparse
import asyncio
import json
import resource
import sys
import time

import httptools
import uvloop


class Stop(Exception):
    pass


class Conn(asyncio.Protocol):
    """One client connection; `request(bytes)` resolves to (status, body) of one response."""

    def __init__(self):
        self.transport = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter = None
        self.body = []
        self.closed = False
        self.done = False

    # asyncio.Protocol
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(e)

    def connection_lost(self, exc):
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self._fail(ConnectionError("closed before the response ended"))

    # httptools callbacks
    def on_body(self, body):
        self.body.append(body)

    def on_message_complete(self):
        keep = self.parser.should_keep_alive()
        status = self.parser.get_status_code()
        body = b"".join(self.body)
        self.body = []
        if not keep:
            self.closed = True
            self.transport.close()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((status, body))

    def _fail(self, exc):
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def send(self, data):
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter


async def connect(host, port):
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(Conn, host, port)
    return conn


def build_requests(host, port, method, path, bodies):
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    out = []
    for body in bodies or [b""]:
        if method == "GET":
            out.append((head + "\r\n").encode())
        else:
            out.append(
                (
                    head + "Content-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                + body
            )
    return out


async def run(args):
    bodies = []
    if args.bodies:
        with open(args.bodies, "rb") as f:
            bodies = [b.encode() for b in json.load(f)]
    requests = build_requests(args.host, args.port, args.method, args.path, bodies)
    n_req = len(requests)
    latencies = []
    statuses = {}
    errors = []
    state = {"sent": 0, "reconnects": 0}
    clock = time.perf_counter
    deadline = clock() + args.seconds

    async def worker(k):
        conn = None
        i = k
        while state["sent"] < args.requests and clock() < deadline:
            state["sent"] += 1
            data = requests[i % n_req]
            i += args.connections
            start = clock()
            try:
                if conn is None or conn.closed:
                    if conn is not None:
                        state["reconnects"] += 1
                    conn = await connect(args.host, args.port)
                status, _ = await asyncio.wait_for(conn.send(data), args.timeout)
            except Exception as e:  # noqa: BLE001  (counted, reported, the run goes on)
                errors.append(f"{type(e).__name__}: {e}"[:200])
                if conn is not None and conn.transport is not None:
                    conn.transport.close()
                conn = None
                await asyncio.sleep(0.01)
                continue
            latencies.append(clock() - start)
            statuses[status] = statuses.get(status, 0) + 1
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    cpu0 = time.process_time()
    wall0 = clock()
    await asyncio.gather(*(worker(k) for k in range(args.connections)))
    wall = clock() - wall0
    cpu = time.process_time() - cpu0

    latencies.sort()
    ok = statuses.get(200, 0)

    def pct(p):
        if not latencies:
            return None
        return latencies[min(len(latencies) - 1, int(p / 100.0 * len(latencies)))] * 1000.0

    return {
        "connections": args.connections,
        "requests": len(latencies),
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "seconds": round(wall, 3),
        "rps": round(ok / wall, 1) if wall > 0 else 0.0,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": latencies[-1] * 1000.0 if latencies else None,
        "mean_ms": sum(latencies) / len(latencies) * 1000.0 if latencies else None,
        "reconnects": state["reconnects"],
        "client_cpu_s": round(cpu, 3),
        "client_cpu_share": round(cpu / wall, 3) if wall > 0 else None,
        "client_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--method", default="POST")
    p.add_argument("--path", default="/predict")
    p.add_argument("--bodies", help="a JSON list of request bodies (strings), used in turn")
    p.add_argument("-c", "--connections", type=int, default=1)
    p.add_argument("--requests", type=int, default=10_000, help="stop after this many")
    p.add_argument("--seconds", type=float, default=5.0, help="stop after this long")
    p.add_argument("--timeout", type=float, default=10.0, help="per request")
    args = p.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("loadgen: loopback only")
    result = uvloop.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
