"""The container's entry point: starts the model server (server.py) in one process per worker.

This file imports only the standard library. With one worker it serves in this process; with
several it forks them and only supervises: each worker imports the app and loads its own
model, so nothing heavy is loaded twice and no thread exists when a process forks.

Each worker listens on its own socket bound with SO_REUSEPORT, so the kernel spreads new
connections evenly over the workers. With one shared socket, whichever worker wakes first
accepts a whole burst of connections, and under keep-alive one worker can end up serving
nearly all of them while the other idles. (Cloud Run's second-generation environment, which
the deploy targets ask for, runs a Linux kernel; where SO_REUSEPORT is missing, the workers
fall back to sharing one socket.)

At SIGTERM each worker answers every request that reached its socket, in-flight or still
queued, then exits; a worker whose supervisor dies gets SIGTERM from the kernel, so a killed
supervisor leaves no worker serving on.

Environment: PORT (Cloud Run sets it), MLGEN_HOST (the listen address, 0.0.0.0 by default).
"""

import os
import signal
import socket
import sys
import time

# Cloud Run sends SIGKILL 10 s after SIGTERM; in-flight requests get most of that.
GRACEFUL_SHUTDOWN_S = 8
BACKLOG = 2048
# A worker that exits sooner than this after its start failed to start: another would too.
STARTUP_S = 30
# At SIGTERM, the connections still queued on a listening socket, or accepted with their
# request not yet read, get up to this long to be taken in before the sockets close.
TAKE_IN_S = 1.0
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def log_line(severity, message, **fields):
    """One JSON log line from this process, as Cloud Logging reads them."""
    import json

    entry = {"severity": severity, "message": message, "time": time.time(), **fields}
    os.write(1, json.dumps(entry).encode() + b"\n")


def listen(host, port, reuse_port):
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    return sock


def can_reuse_port(host, port):
    """Whether workers can each bind the port with SO_REUSEPORT. Raises OSError when the port
    cannot be bound at all, so that error comes from here rather than from every worker."""
    if not hasattr(socket, "SO_REUSEPORT"):
        return False
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        except OSError:
            return False
        # Bound but not listening: it takes no connections, and closing it frees the port.
        sock.bind((host, port))
        return True
    finally:
        sock.close()


def unread_bytes(sock):
    """Bytes that arrived on a connected socket and were not read yet."""
    import fcntl
    import termios

    return int.from_bytes(fcntl.ioctl(sock.fileno(), termios.FIONREAD, bytes(4)), sys.byteorder)


def untaken(listeners, connections):
    """Whether a connection waits in a listening socket's queue, or a connection with no
    request in progress (which uvicorn's shutdown closes at once) has sent bytes it has not
    read yet. Closing either resets a request that reached this process."""
    import select

    if select.select(listeners, [], [], 0)[0]:
        return True
    for connection in connections:
        cycle = connection.cycle
        if cycle is None or cycle.response_complete:
            sock = connection.transport.get_extra_info("socket")
            try:
                if sock is not None and unread_bytes(sock):
                    return True
            except OSError:  # closed meanwhile
                continue
    return False


async def take_in(server):
    """Lets the loop accept and read what `server` (a uvicorn.Server) has not yet: a model
    call that held the loop when SIGTERM came leaves the requests of that while untaken."""
    import asyncio

    listeners = [sock.fileno() for s in server.servers for sock in s.sockets]
    connections = server.server_state.connections
    deadline = time.monotonic() + TAKE_IN_S
    while untaken(listeners, connections) and time.monotonic() < deadline:
        await asyncio.sleep(0.001)


def serve(app, host, port, sock=None):
    """Serves the ASGI `app` in this process until SIGTERM; returns the exit code."""
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets=None):
            await take_in(self)
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        # The app reads neither the client's address nor the scheme; uvicorn's proxy-headers
        # middleware would parse them (with `ipaddress`) on every request.
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        backlog=BACKLOG,
    )
    Server(config).run(sockets=[sock] if sock is not None else None)
    return 0


def exit_with(supervisor):
    """Has the kernel send this worker SIGTERM when its supervisor dies (Linux), so a killed
    supervisor leaves no worker serving on; and exits if it died before the ask."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:
        sys.exit(0)


def run(load_app, host, port, workers):
    """Serves the app that `load_app()` imports, in `workers` processes; returns the exit code."""
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it; exit 0 rather than die of
    # the signal, so a clean shutdown looks clean.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if workers == 1:
        return serve(load_app(), host, port)

    try:
        shared = None if can_reuse_port(host, port) else listen(host, port, reuse_port=False)
    except OSError as e:
        log_line("CRITICAL", f"cannot listen on {host}:{port}: {e}")
        return 1
    children = {}  # pid -> time.monotonic() at start
    supervisor = os.getpid()

    def fork():
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
                signal.signal(signal.SIGINT, signal.default_int_handler)
                exit_with(supervisor)
                sock = shared or listen(host, port, reuse_port=True)
                code = serve(load_app(), host, port, sock)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 0
            except BaseException:  # noqa: BLE001  (reported here: os._exit would drop it)
                import traceback

                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        children[pid] = time.monotonic()

    stopping = []

    def stop(signum, _frame):
        # Each worker stops accepting, finishes its in-flight requests (uvicorn's graceful
        # shutdown) and exits; this process waits for them.
        if not stopping:
            stopping.append(signum)
            if shared is not None:
                shared.close()
            for pid in children:
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(workers):
        fork()
    code = 0
    while children:
        pid, status = os.wait()
        started = children.pop(pid, None)
        if started is None or stopping:
            continue
        exit_code = os.waitstatus_to_exitcode(status)
        if exit_code == 3 or time.monotonic() - started < STARTUP_S:
            # The model cannot load (exit 3), or the worker died while starting: another
            # would fail the same way, so the container exits and the revision shows why.
            log_line("CRITICAL", f"worker {pid} exited {exit_code} while starting; stopping")
            code = exit_code if exit_code > 0 else 1
            stop(signal.SIGTERM, None)
        else:
            # Connections waiting in its socket's queue are reset; new ones go to the others
            # until the new worker listens.
            log_line("ERROR", f"worker {pid} exited {exit_code}; starting another")
            fork()
    return code


def load_server():
    import server

    return server.app


def main(load_app=load_server):
    import json

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    with open(os.path.join(here, "config.json"), "rb") as f:
        config = json.load(f)
    workers = int(config["workers"])
    port = int(os.environ.get("PORT") or config["port"])
    # Cloud Run's contract: listen on all interfaces.
    host = os.environ.get("MLGEN_HOST") or "0.0.0.0"  # noqa: S104
    log_line(
        "INFO",
        f"serving {config['service']} on port {port}",
        workers=workers,
        framework=config["serve_framework"],
        device=config["device"],
        pid=os.getpid(),
    )
    return run(load_app, host, port, workers)


if __name__ == "__main__":
    sys.exit(main())
