"""Serving benchmark: the app mlgen generates against the stacks users would otherwise pick.

One RandomForest (100 trees, 20 features), one joblib file, served side by side on loopback:

  generated        the app `mlgen apply` renders for it, unchanged, in a virtualenv of its own
                   generated app/requirements.txt
  generated-onnx   the same spec with [serving] convert_to_onnx = true; the model converted by
                   the generated app/convert.py in a venv of app/build-requirements.txt, as the
                   Dockerfile's build stage does
  bentoml          BentoML 1.4, @bentoml.service + @bentoml.api(batchable=True), `bentoml serve`
  flask            Flask behind gunicorn's default sync workers
  constant         a raw ASGI app on the generated app's HTTP stack that answers a constant
                   (the HTTP floor)
  generated-pipeline, bentoml-pipeline
                   an sklearn Pipeline (one-hot + RandomForest) trained on a DataFrame, served
                   by the generated app with typed features and by BentoML (bench/workloads.py)
  generated-text   a custom handler: TF-IDF + logistic regression over raw strings

Every server runs as many processes as the generated app has workers (one per core; see
--cpu). Load comes from bench/loadgen.py, one process on the same cores: single-row requests
at 1 and 32 connections, after a warm-up, each run bounded in requests and seconds.

Also measured: the batch sizes the generated app forms (a separate, instrumented run), the
model's floor at that batch size, cold start as Cloud Run starts the image (bench/coldstart.py)
against a bare import + load, and the installed size of each framework's runtime. Prints a
table; writes JSON (--out).

Run it with bench/run (it builds the release mlgen and the driver venv first).
"""

import argparse
import http.client
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import coldstart
import workloads

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENVS = ROOT / "target" / "bench-venvs"
N_FEATURES = 20
N_TREES = 100
FEATURES = [f"f{i}" for i in range(N_FEATURES)]

SPEC = """
[service]
name = "bench-forest"
project = "bench-project"
region = "europe-west1"
description = "serving benchmark: RandomForest, {trees} trees, {n} features"
deletion_protection = false

[model]
framework = "{framework}"
source = "models/{file}"
{model}
[container]
python = "{python}"
{container}

[image]
repository = "models"
tag = "1.0.0"

[resources]
cpu = {cpu}
memory = "4Gi"

[service_account]
account_id = "bench-forest-run"

[serving]
{serving}
"""


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Virtualenvs: the generated app's through the e2e tests' cache (target/app-venvs/, keyed by
# the requirements' hash); the other stacks' from bench/requirements-*.txt, the same way.


def e2e_helpers(mlgen_bin):
    """The e2e tests' helpers (render_spec_text, app_venv, App), run against `mlgen_bin`."""
    os.environ["MLGEN_BIN"] = str(mlgen_bin)
    sys.path.insert(0, str(ROOT / "tests" / "py"))
    import conftest
    import test_app_e2e

    return conftest, test_app_e2e


def site_packages_mb(venv):
    """Bytes of the venv's site-packages, less pip/setuptools (the image's venv has no pip)
    and bytecode caches (the image is built with --no-compile), in MB."""
    (site,) = (Path(venv) / "lib").glob("python3.*/site-packages")
    skip = ("pip", "setuptools", "_distutils_hack", "pkg_resources")
    total = 0
    for top in site.iterdir():
        if top.name.split("-")[0] in skip or top.name == "distutils-precedence.pth":
            continue
        if top.is_file():
            total += top.stat().st_size
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for f in filenames:
                p = os.path.join(dirpath, f)
                if not os.path.islink(p):
                    total += os.path.getsize(p)
    return round(total / 1e6, 1)


# ---------------------------------------------------------------------------------------
# Processes


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid):
    """Every process below `pid`, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def stop_tree(proc, timeout=15):
    """SIGTERM to the server's main process, then SIGKILL to whatever of its tree is left."""
    if proc.poll() is not None:
        return
    below = descendants(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pid in below:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def request(port, method, path, body=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_until(port, method, path, body=None, proc=None, timeout=180, pause=0.002):
    """Polls until a 200; returns time.time() of the first one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode} before answering")
        try:
            status, _ = request(port, method, path, body, timeout=30)
            if status == 200:
                return time.time()
        except OSError:
            pass
        time.sleep(pause)
    raise RuntimeError(f"no 200 from {path} on port {port} after {timeout}s")


class Server:
    """A server under test: how to start it, where it is ready, how to read its answer."""

    def __init__(self, name, argv, env, cwd=None, ready_path="/ready", predictions=None,
                 log_dir=None, bodies=None, sanity=()):
        self.name = name
        self.bodies = bodies  # the load's request bodies (a JSON file of strings)
        self.sanity = sanity  # (body, expected predictions), checked before the load
        self.argv = [str(a) for a in argv]
        self.env = {k: str(v) for k, v in env.items()}
        self.cwd = cwd
        self.ready_path = ready_path
        self.predictions = predictions or (lambda body: json.loads(body)["predictions"])
        self.log_dir = log_dir
        self.port = None
        self.proc = None

    def start(self):
        self.port = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
            **{k: v.replace("{port}", str(self.port)) for k, v in self.env.items()},
        }
        argv = [a.replace("{port}", str(self.port)) for a in self.argv]
        out = open(self.log_dir / f"{self.name}-{self.port}.log", "wb")  # noqa: SIM115
        started = time.time()
        self.proc = subprocess.Popen(
            argv, env=env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        out.close()
        return started

    def wait_ready(self, timeout=180):
        return wait_until(self.port, "GET", self.ready_path, proc=self.proc, timeout=timeout,
                          pause=0.02)

    def stop(self):
        if self.proc is not None:
            stop_tree(self.proc)
            self.proc = None


def loadgen(driver_python, port, bodies, connections, requests, seconds, path="/predict"):
    argv = [driver_python, BENCH / "loadgen.py", "--port", port, "--path", path,
            "--bodies", bodies, "-c", connections, "--requests", requests,
            "--seconds", seconds]
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid):
    """CPU seconds (user + system) used so far by `pid` and every process below it."""
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def loaded(server, driver, bodies, connections, cap, seconds):
    """One bounded load run, with the CPU the server, the client and the rest of the machine
    used meanwhile."""
    busy0, total0 = cpu_busy()
    cpu0 = tree_cpu(server.proc.pid)
    r = loadgen(driver, server.port, bodies, connections, cap, seconds)
    cpu1 = tree_cpu(server.proc.pid)
    busy1, total1 = cpu_busy()
    cores = os.cpu_count() or 1
    busy = (busy1 - busy0) / max(1, total1 - total0) * cores  # cores busy on average
    server_cores = (cpu1 - cpu0) / r["seconds"]
    r["server_cpu_cores"] = round(server_cores, 3)
    r["server_cpu_us_per_request"] = round((cpu1 - cpu0) / max(1, r["ok"]) * 1e6, 1)
    r["machine_busy_cores"] = round(busy, 3)
    # What else ran on these cores meanwhile (other work on a shared machine).
    r["other_cpu_cores"] = round(max(0.0, busy - server_cores - r["client_cpu_share"]), 3)
    return r


def cpu_busy():
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    fields = list(map(int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]))
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


# ---------------------------------------------------------------------------------------
# The benchmark


def train(path, task):
    import joblib
    from sklearn.datasets import make_classification, make_regression
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    if task == "classifier":
        X, y = make_classification(
            n_samples=2000, n_features=N_FEATURES, n_informative=10, random_state=0
        )
        model = RandomForestClassifier(n_estimators=N_TREES, random_state=0)
    else:
        X, y = make_regression(
            n_samples=2000, n_features=N_FEATURES, n_informative=10, random_state=0
        )
        model = RandomForestRegressor(n_estimators=N_TREES, random_state=0)
    model.fit(X, y)
    joblib.dump(model, path)
    return model


def sanity_rows(model, rows, n=8):
    """Rows whose prediction no float32 rounding can flip: a classifier's rows with a
    clear winner (an exact tie in votes may go either way in ONNX Runtime)."""
    picked = []
    for i in range(len(rows)):
        if hasattr(model, "predict_proba"):
            top = sorted(model.predict_proba(rows[i:i + 1])[0])
            if len(top) > 1 and top[-1] - top[-2] < 1e-6:
                continue
        picked.append(i)
        if len(picked) == n:
            break
    return picked


def toml_features(features):
    """`features` (names, or tables of name, type and values) as a TOML array."""
    def one(f):
        if isinstance(f, str):
            return json.dumps(f)
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in f.items()) + " }"
    return "[" + ", ".join(map(one, features)) + "]"


def render(conftest, work, name, framework, file_name, cpu, serving, python,
           features=FEATURES, model="", container=""):
    """Renders the spec into work/name; `model` and `container` are extra lines of those
    tables (features are omitted when None)."""
    folder = work / name
    (folder / "models").mkdir(parents=True, exist_ok=True)
    if features is not None:
        model = f"features = {toml_features(features)}\n{model}"
    text = SPEC.format(
        trees=N_TREES, n=N_FEATURES, framework=framework, file=file_name, model=model,
        python=python, container=container, cpu=cpu, serving=serving,
    )
    _, out_dir = conftest.render_spec_text(work, text, name=name)
    return folder, out_dir


def same(got, want):
    """Equal labels; scores equal to ONNX Runtime's float32 (convert.py's tolerance)."""
    if all(isinstance(w, (int, str)) for w in want):
        return got == want
    scale = max([1.0, *map(abs, want)])
    return len(got) == len(want) and all(abs(g - w) <= 1e-4 * scale for g, w in zip(got, want, strict=True))


def measure_load(server, driver, args):
    """Warm-up, then 1 and 32 connections; returns {c1: ..., c32: ...}."""
    result = {}
    bodies = server.bodies
    for body, want in server.sanity:
        status, got = request(server.port, "POST", "/predict", body)
        if status != 200 or not same(server.predictions(got), want):
            raise RuntimeError(f"{server.name}: answered {status} {got[:200]!r}, want {want}")
    loadgen(driver, server.port, bodies, 32, 10**9, args.warmup)
    for c, seconds, cap in ((1, args.c1_seconds, args.c1_requests),
                            (32, args.seconds, args.requests)):
        r = loaded(server, driver, bodies, c, cap, seconds)
        result[f"c{c}"] = r
        log_run(server.name, r)
    return result


def log_run(name, r):
    log(f"  {name:15s} c={r['connections']:<3d} {r['rps']:9.1f} req/s  p50 {r['p50_ms']:7.2f} "
        f"ms  p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}  non-200 {r['requests'] - r['ok']}"
        f"  server {r['server_cpu_us_per_request']:.0f} us CPU/req  client "
        f"{r['client_cpu_share']:.2f} cores  other work {r['other_cpu_cores']:.2f} cores")


def batch_sizes(app_python, out_dir, model_path, driver, bodies, work, args, tag,
                extra_env=None, connections=32):
    """The generated app with a batch-size counter (bench/probe_server.py), under 32
    connections; returns the histogram and its means. `extra_env` turns on an experiment."""
    hist_dir = work / f"batches-{tag}-c{connections}"
    hist_dir.mkdir()
    server = Server(
        f"probe-{tag}", [app_python, BENCH / "probe_server.py"],
        {"PORT": "{port}", "MLGEN_MODEL_PATH": model_path, "MLGEN_HOST": "127.0.0.1",
         "BENCH_APP_DIR": out_dir / "app", "BENCH_BATCH_DIR": hist_dir,
         "PYTHONPATH": BENCH, **(extra_env or {})},
        log_dir=work,
    )
    server.start()
    try:
        server.wait_ready()
        loadgen(driver, server.port, bodies, connections, 10**9, 1.0)
        for f in hist_dir.glob("*.json"):
            f.unlink()
        time.sleep(0.3)
        counts_before = {}
        for f in hist_dir.glob("batches-*.json"):
            counts_before[f.name] = json.loads(f.read_text())
        run = loaded(server, driver, bodies, connections, 10**9, args.probe_seconds)
        time.sleep(0.6)
        hist = {}
        per_worker = []  # rows each worker's model calls carried: how evenly load spread
        for f in hist_dir.glob("batches-*.json"):
            before = counts_before.get(f.name, {})
            worker_rows = 0
            for k, v in json.loads(f.read_text()).items():
                hist[int(k)] = hist.get(int(k), 0) + v - before.get(k, 0)
                worker_rows += int(k) * (v - before.get(k, 0))
            per_worker.append(worker_rows)
    finally:
        server.stop()
    hist = {k: v for k, v in sorted(hist.items()) if v > 0}
    calls = sum(hist.values())
    rows = sum(k * v for k, v in hist.items())
    return {
        "histogram": {str(k): v for k, v in hist.items()},
        "rows_per_worker": sorted(per_worker, reverse=True),
        "calls": calls,
        "rows": rows,
        "mean_rows_per_call": round(rows / calls, 2) if calls else None,
        "row_weighted_mean": round(sum(k * k * v for k, v in hist.items()) / rows, 2)
        if rows else None,
        "run": run,
    }


def model_floor(app_python, out_dir, model_path, bodies, batch, procs, seconds):
    """Rows/s of the bare model at `batch` rows per call, on the rows the load sends: in one
    process, and summed over `procs` processes running at once (one per server worker)."""
    base = [str(app_python), str(BENCH / "model_floor.py"), "--app-dir", str(out_dir / "app"),
            "--model", str(model_path), "--bodies", str(bodies), "--seconds", str(seconds)]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    sizes = sorted({1, batch, 64})
    one = json.loads(subprocess.run(
        [*base, "--batch", *map(str, sizes)], capture_output=True, text=True, check=True,
        env=env).stdout)
    start_at = time.time() + 3.0  # each imports and loads first
    runs = [subprocess.Popen([*base, "--batch", str(batch), "--start-at", str(start_at)],
                             stdout=subprocess.PIPE, text=True, env=env)
            for _ in range(procs)]
    parallel = [json.loads(p.communicate()[0])[str(batch)] for p in runs]
    return {
        "batch": batch,
        "one_process": one,
        "processes": procs,
        "parallel_rows_per_s": round(sum(r["rows_per_s"] for r in parallel), 1),
    }


def cold_start(server, first_body, repeats):
    """Process start to first successful prediction, `repeats` times; seconds."""
    times = []
    for _ in range(repeats):
        started = server.start()
        try:
            ok = wait_until(server.port, "POST", "/predict", first_body, proc=server.proc)
            times.append(round(ok - started, 4))
        finally:
            server.stop()
    return {"first_prediction": times}


def bare_load(argv, code, repeats, env=None):
    """A fresh interpreter (`argv`) that imports, loads and predicts once: spawn to each
    stage."""
    import_load, with_predict = [], []
    for _ in range(repeats):
        started = time.time()
        done = subprocess.run([*map(str, argv), "-c", code], capture_output=True, text=True,
                              check=True, env={"PATH": os.environ.get("PATH", ""), **(env or {})})
        t_load, t_pred = map(float, done.stdout.split())
        import_load.append(round(t_load - started, 4))
        with_predict.append(round(t_pred - started, 4))
    return {"import_load": import_load, "first_prediction": with_predict}


def workload_servers(conftest, e2e, work, args, python, bento_venv, app_env):
    """The DataFrame pipeline (the generated app and BentoML) and the custom text handler:
    trained, rendered, each server with its own load; returns (servers, descriptions)."""
    folder, out = render(conftest, work, "pipeline", "sklearn", "pipeline.joblib", args.cpu, "",
                         python, features=workloads.PIPELINE_FEATURES)
    pipeline_path = folder / "models" / "pipeline.joblib"
    pipeline = load_of(work, "pipeline", *workloads.train_pipeline(pipeline_path))
    venv = e2e.app_venv(out / "app" / "requirements.txt")
    servers = {
        "generated-pipeline": Server(
            "generated-pipeline", [venv / "bin" / "python", out / "app" / "main.py"],
            {**app_env, "MLGEN_MODEL_PATH": pipeline_path}, log_dir=work, **pipeline),
        "bentoml-pipeline": Server(
            "bentoml-pipeline",
            [bento_venv / "bin" / "bentoml", "serve", "bento_service:Pipeline",
             "--host", "127.0.0.1", "--port", "{port}"],
            {"BENCH_MODEL_PATH": pipeline_path, "BENCH_WORKERS": args.cpu,
             "BENTOML_HOME": work / "bentoml-home", "BENTOML_DO_NOT_TRACK": "True",
             "PATH": f"{bento_venv / 'bin'}:{os.environ.get('PATH', '')}"},
            cwd=BENCH, ready_path="/readyz", predictions=json.loads, log_dir=work, **pipeline),
    }
    requirements = f"requirements = {json.dumps(workloads.TEXT_REQUIREMENTS)}"
    (work / "text").mkdir()
    (work / "text" / "serve.py").write_text(workloads.TEXT_HANDLER)
    folder, out = render(conftest, work, "text", "custom", "text.joblib", args.cpu, "", python,
                         features=None, model='handler = "serve.py:Model"',
                         container=requirements)
    text_path = folder / "models" / "text.joblib"
    text = load_of(work, "text", *workloads.train_text(text_path))
    venv = e2e.app_venv(out / "app" / "requirements.txt")
    servers["generated-text"] = Server(
        "generated-text", [venv / "bin" / "python", out / "app" / "main.py"],
        {**app_env, "MLGEN_MODEL_PATH": text_path, "MLGEN_HANDLER_DIR": folder},
        log_dir=work, **text)
    descriptions = {
        "generated-pipeline": "mlgen's app, typed features (10 numbers, 2 categories): the "
                              "sklearn Pipeline (one-hot + RandomForest) gets a DataFrame",
        "bentoml-pipeline": "BentoML, the same Pipeline: rows as objects, a DataFrame per "
                            "batch, batchable=True, max_batch_size=64",
        "generated-text": "mlgen's app, framework = custom: a handler with TF-IDF + logistic "
                          "regression over raw strings, batchable",
    }
    return servers, descriptions


def load_of(work, name, bodies, sanity):
    """A server's load: its bodies written to work/bodies-NAME.json, and its sanity pairs."""
    path = work / f"bodies-{name}.json"
    path.write_text(json.dumps(bodies))
    return {"bodies": path, "sanity": sanity}


BARE_SKLEARN = """
import time, joblib, numpy as np
m = joblib.load({path!r})
t = time.time()
m.predict(np.zeros((1, {n})))
print(t, time.time())
"""

BARE_ONNX = """
import time, numpy as np, onnxruntime as ort
s = ort.InferenceSession({path!r}, providers=["CPUExecutionProvider"])
t = time.time()
s.run(None, {{s.get_inputs()[0].name: np.zeros((1, {n}), np.float32)}})
print(t, time.time())
"""


def ratio(a, b):
    return round(a / b, 2) if a and b else None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mlgen", default=str(ROOT / "target" / "release" / "mlgen"))
    p.add_argument("--out", default=str(ROOT / "target" / "bench-results.json"))
    p.add_argument("--cpu", type=int, default=os.cpu_count() or 1,
                   help="the spec's vCPUs: the generated app's workers, and every server's "
                        "process count (default: this machine's cores)")
    p.add_argument("--seconds", type=float, default=6.0, help="each 32-connection run")
    p.add_argument("--requests", type=int, default=100_000, help="cap of a 32-conn. run")
    p.add_argument("--c1-seconds", type=float, default=3.0, help="each 1-connection run")
    p.add_argument("--c1-requests", type=int, default=20_000, help="cap of a 1-conn. run")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of 32-conn. warm-up")
    p.add_argument("--probe-seconds", type=float, default=3.0)
    p.add_argument("--cold-repeats", type=int, default=3)
    p.add_argument("--paired-rounds", type=int, default=5,
                   help="rounds of the floor's pairing: the constant endpoint and each "
                        "generated app in turn, at 32 connections (0: use the runs above)")
    p.add_argument("--paired-seconds", type=float, default=3.0, help="each paired run")
    p.add_argument("--servers", default="generated,generated-onnx,bentoml,flask,constant,"
                                        "generated-pipeline,bentoml-pipeline,generated-text")
    p.add_argument("--task", choices=("classifier", "regressor"), default="classifier",
                   help="RandomForestClassifier or RandomForestRegressor")
    p.add_argument("--experiments", action="store_true",
                   help="also measure candidate changes to the app (about a minute more)")
    p.add_argument("--no-sizes", action="store_true", help="skip the installed sizes")
    args = p.parse_args()

    t0 = time.monotonic()
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    driver = sys.executable
    conftest, e2e = e2e_helpers(args.mlgen)
    work = ROOT / "target" / "bench-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    wanted = set(args.servers.split(","))
    results = {
        "command": " ".join(shlex.quote(a) for a in ["bench/run", *sys.argv[1:]]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cores": os.cpu_count(),
            "cpu": next((line.split(":", 1)[1].strip() for line in
                         Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("model name")), platform.processor()),
            "python": platform.python_version(),
            "kernel": platform.release(),
            "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
        },
        "model": f"RandomForest{args.task.title()}, {N_TREES} trees, {N_FEATURES} features",
        "workers": args.cpu,
        "load": {"warmup_s": args.warmup, "c1": [args.c1_seconds, args.c1_requests],
                 "c32": [args.seconds, args.requests],
                 "client": "bench/loadgen.py: one process, uvloop + httptools, closed loop, "
                           "on the same cores as the servers"},
    }

    # 1. The model, the specs, the generated apps and their venvs.
    log("training the model and rendering the specs")
    sk_folder, sk_out = render(conftest, work, "sklearn", "sklearn", "model.joblib", args.cpu,
                               "", python)
    model_path = sk_folder / "models" / "model.joblib"
    model = train(model_path, args.task)
    onnx_folder, onnx_out = render(conftest, work, "onnx", "sklearn", "model.joblib", args.cpu,
                                   "convert_to_onnx = true", python)
    shutil.copy(model_path, onnx_folder / "models" / "model.joblib")
    sk_config = json.loads((sk_out / "app" / "config.json").read_text())
    results["generated_config"] = {k: sk_config[k] for k in
                                   ("workers", "threads", "max_batch_size", "max_batch_wait_ms")}
    log(f"generated app: {results['generated_config']}")

    sk_venv = e2e.app_venv(sk_out / "app" / "requirements.txt")
    onnx_venv = e2e.app_venv(onnx_out / "app" / "requirements.txt")
    build_venv = e2e.app_venv(onnx_out / "app" / "build-requirements.txt")
    onnx_path = work / "model.onnx"
    done = subprocess.run([build_venv / "bin" / "python", onnx_out / "app" / "convert.py",
                           "--features", str(N_FEATURES), model_path, onnx_path],
                          capture_output=True, text=True)
    results["onnx_conversion"] = {"convert_py_exit": done.returncode,
                                  "message": (done.stdout + done.stderr).strip()}
    if done.returncode != 0:
        # The image build would stop here. To still measure the ONNX runtime, convert with
        # convert.py's own converter (the same skl2onnx call and options), without its check.
        log(f"WARNING: {done.stderr.strip()}; converting without the check")
        code = ("import sys, joblib; sys.path.insert(0, sys.argv[1]); import convert; "
                "open(sys.argv[3], 'wb').write(convert.convert(joblib.load(sys.argv[2]), "
                f"{N_FEATURES}))")
        subprocess.run([build_venv / "bin" / "python", "-c", code, onnx_out / "app",
                        model_path, onnx_path], check=True)
    log("virtualenvs of the other stacks (target/bench-venvs/, created on first use)")
    bento_venv = e2e.cached_venv(BENCH / "requirements-bentoml.txt", VENVS, "bentoml")
    flask_venv = e2e.cached_venv(BENCH / "requirements-flask.txt", VENVS, "flask")

    # Request bodies: single rows, in turn; a few checked against the model's own answer.
    import numpy as np

    rows = np.random.default_rng(1).standard_normal((512, N_FEATURES)).round(6)
    bodies = work / "bodies.json"
    texts = [json.dumps({"instances": [r.tolist()]}) for r in rows]
    bodies.write_text(json.dumps(texts))
    sanity = [(texts[i].encode(), model.predict(rows[i:i + 1]).tolist())
              for i in sanity_rows(model, rows)]

    forest = {"bodies": bodies, "sanity": sanity}
    app_env = {"PORT": "{port}", "MLGEN_HOST": "127.0.0.1"}
    servers = {
        "generated": Server(
            "generated", [sk_venv / "bin" / "python", sk_out / "app" / "main.py"],
            {**app_env, "MLGEN_MODEL_PATH": model_path}, log_dir=work, **forest),
        "generated-onnx": Server(
            "generated-onnx", [onnx_venv / "bin" / "python", onnx_out / "app" / "main.py"],
            {**app_env, "MLGEN_MODEL_PATH": onnx_path}, log_dir=work, **forest),
        "bentoml": Server(
            "bentoml",
            [bento_venv / "bin" / "bentoml", "serve", "bento_service:RandomForest",
             "--host", "127.0.0.1", "--port", "{port}"],
            {"BENCH_MODEL_PATH": model_path, "BENCH_WORKERS": args.cpu,
             "BENTOML_HOME": work / "bentoml-home", "BENTOML_DO_NOT_TRACK": "True",
             "PATH": f"{bento_venv / 'bin'}:{os.environ.get('PATH', '')}"},
            cwd=BENCH, ready_path="/readyz", predictions=json.loads, log_dir=work,
            **forest),
        "flask": Server(
            "flask",
            [flask_venv / "bin" / "gunicorn", "-w", args.cpu, "-b", "127.0.0.1:{port}",
             "--log-level", "warning", "flask_app:app"],
            {"BENCH_MODEL_PATH": model_path}, cwd=BENCH, log_dir=work, **forest),
        "constant": Server(
            "constant", [sk_venv / "bin" / "python", BENCH / "constant_app.py"],
            {**app_env, "BENCH_APP_DIR": sk_out / "app"}, cwd=BENCH, ready_path="/",
            log_dir=work, bodies=bodies),
    }
    more, more_descriptions = workload_servers(conftest, e2e, work, args, python, bento_venv,
                                               app_env)
    servers.update(more)
    results["servers"] = {
        "generated": f"mlgen's app, {args.cpu} uvicorn workers, batching up to "
                     f"{sk_config['max_batch_size']} rows / {sk_config['max_batch_wait_ms']} ms",
        "generated-onnx": "the same, [serving] convert_to_onnx = true",
        "bentoml": f"BentoML, @bentoml.service(workers={args.cpu}), "
                   "@bentoml.api(batchable=True, max_batch_size=64)",
        "flask": f"Flask + gunicorn, {args.cpu} sync workers",
        "constant": f"raw ASGI constant answer, served by the generated main.py "
                    f"({args.cpu} workers)",
        **more_descriptions,
    }

    # 2-3. Load, server by server.
    log(f"load: warm-up {args.warmup}s, then 1 connection ({args.c1_seconds}s) and 32 "
        f"connections ({args.seconds}s)")
    results["load_results"] = {}
    for name, server in servers.items():
        if name not in wanted:
            continue
        server.start()
        try:
            server.wait_ready()
            results["load_results"][name] = measure_load(server, driver, args)
        finally:
            server.stop()

    # The floors' HTTP side, paired: the constant endpoint and the generated apps all
    # running, loaded in turn round after round, so that a slow spell on a shared machine
    # hits both sides of a ratio alike. (Measured one after the other, the ONNX app's ratio
    # to the constant endpoint ranged from 1.37 to 1.81 over six runs.)
    paired_names = [n for n in ("generated", "generated-onnx", "constant") if n in wanted]
    if args.paired_rounds and "constant" in paired_names and len(paired_names) > 1:
        log(f"paired: {', '.join(paired_names)} in turn, {args.paired_rounds} rounds of "
            f"{args.paired_seconds}s at 32 connections")
        paired = {name: [] for name in paired_names}
        try:
            for name in paired_names:
                servers[name].start()
            for name in paired_names:
                servers[name].wait_ready()
                loadgen(driver, servers[name].port, bodies, 32, args.requests, args.warmup)
            for _ in range(args.paired_rounds):
                for name in paired_names:
                    r = loaded(servers[name], driver, bodies, 32, args.requests,
                               args.paired_seconds)
                    if r["errors"] or r["ok"] != r["requests"]:
                        raise RuntimeError(f"{name}: errors in a paired run: {r}")
                    paired[name].append(r["rps"])
        finally:
            for name in paired_names:
                servers[name].stop()
        results["paired_rps"] = paired

    # 4. The floor: the model at the batch size the server forms, and the HTTP stack alone.
    log("batch sizes the generated app forms at 32 connections (instrumented run)")
    floors = {}
    for tag, venv, out_dir, path in (("generated", sk_venv, sk_out, model_path),
                                     ("generated-onnx", onnx_venv, onnx_out, onnx_path)):
        if tag not in wanted:
            continue
        batches = batch_sizes(venv / "bin" / "python", out_dir, path, driver, bodies, work,
                              args, tag)
        b = max(1, round(batches["mean_rows_per_call"] or 1))
        model = model_floor(venv / "bin" / "python", out_dir, path, bodies, b, args.cpu, 3.0)
        floors[tag] = {"batches": batches, "model": model}
        log(f"  {tag}: {batches['mean_rows_per_call']} rows per call on average; the bare "
            f"model at {b} rows: {model['parallel_rows_per_s']:.0f} rows/s in {args.cpu} "
            f"processes, {model['one_process'][str(b)]['us_per_call']:.0f} us per call")
    results["floors"] = floors

    # Candidate changes to the app, each against the same instrumented app as generated.
    if args.experiments:
        log("experiments: candidate changes to the app (bench/probe_server.py)")
        exps = {}
        cases = (
            ("generated", "as generated", {}, 32),
            ("generated", "eager batcher", {"BENCH_BATCHER": "eager"}, 32),
            ("generated-onnx", "as generated", {}, 32),
            ("generated-onnx", "model in the thread", {"BENCH_INLINE": "0"}, 32),
            ("generated-onnx", "as generated", {}, 1),
            ("generated-onnx", "model in the thread", {"BENCH_INLINE": "0"}, 1),
        )
        apps = {"generated": (sk_venv, sk_out, model_path),
                "generated-onnx": (onnx_venv, onnx_out, onnx_path)}
        for i, (tag, what, env, c) in enumerate(cases):
            if tag not in wanted:
                continue
            venv, out_dir, path = apps[tag]
            if c == 32 and not env and tag in floors:
                b = floors[tag]["batches"]
            else:
                b = batch_sizes(venv / "bin" / "python", out_dir, path, driver, bodies, work,
                                args, f"{tag}-x{i}", extra_env=env, connections=c)
            exps[f"{tag}, {what}, c={c}"] = b
            log_run(f"{tag[:9]} {what[:5]}", b["run"])
        # Cold start with one worker: no supervisor, no spawned processes.
        for tag, framework_serving in (("generated", ""), ("generated-onnx", "convert_to_onnx = true")):
            if tag not in wanted:
                continue
            folder, out1 = render(conftest, work, f"{tag}-1cpu", "sklearn", "model.joblib", 1,
                                  framework_serving, python)
            venv, _, path = apps[tag]
            one = Server(f"{tag}-1cpu", [venv / "bin" / "python", out1 / "app" / "main.py"],
                         {**app_env, "MLGEN_MODEL_PATH": path}, log_dir=work)
            exps[f"{tag}, one worker, cold start"] = cold_start(one, texts[0].encode(),
                                                                args.cold_repeats)
        results["experiments"] = exps

    # 5. Cold start and installed sizes.
    log("cold start: process start to first successful prediction, as Cloud Run starts the "
        f"image ({'as uid 65534' if os.geteuid() == 0 else 'as this user'}, read-only "
        "site-packages), without bytecode and with the image's")
    first = texts[0].encode()
    # The same app for one vCPU: one worker, one import, as the bare runtime does. (With two,
    # both workers import and load at once, on cores that may be busy with other work.)
    _, one_cpu = render(conftest, work, "sklearn-1cpu", "sklearn", "model.joblib", 1, "",
                        python)
    bare_sklearn = BARE_SKLEARN.format(path=str(model_path), n=N_FEATURES)
    apps = {
        "generated": (sk_venv, sk_out / "app", model_path, "bare-sklearn", bare_sklearn),
        "generated-1cpu": (sk_venv, one_cpu / "app", model_path, "bare-sklearn", bare_sklearn),
        "generated-onnx": (onnx_venv, onnx_out / "app", onnx_path, "bare-onnx",
                           BARE_ONNX.format(path=str(onnx_path), n=N_FEATURES)),
    }
    # BentoML and Flask start as before: as this user, from their venvs as pip left them.
    others = {name: (lambda name=name: cold_start(servers[name], first, 1))
              for name in ("bentoml", "flask") if name in wanted}
    cold = coldstart.cloud_run_starts(
        work, {k: v for k, v in apps.items() if k.removesuffix("-1cpu") in wanted}, others,
        args.cold_repeats,
        lambda name, argv, env: cold_start(Server(name, argv, env, log_dir=work), first, 1),
        bare_load)
    results["cold_start_s"] = cold["bytecode"]
    results["cold_start_no_bytecode_s"] = cold["no-bytecode"]

    if not args.no_sizes:
        log("installed sizes")
        sizes = {"generated-sklearn": site_packages_mb(sk_venv),
                 "generated-onnx": site_packages_mb(onnx_venv)}
        for framework, file_name in (("xgboost", "model.ubj"), ("lightgbm", "model.txt")):
            _, out_dir = render(conftest, work, framework, framework, file_name, args.cpu,
                                "", python)
            sizes[f"generated-{framework}"] = site_packages_mb(
                e2e.app_venv(out_dir / "app" / "requirements.txt"))
        sizes["bare-sklearn"] = site_packages_mb(
            e2e.cached_venv(BENCH / "requirements-sklearn.txt", VENVS, "sklearn"))
        sizes["bentoml+sklearn"] = site_packages_mb(bento_venv)
        sizes["flask+gunicorn+sklearn"] = site_packages_mb(flask_venv)
        results["site_packages_mb"] = sizes

    results["machine"]["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    results["total_s"] = round(time.monotonic() - t0, 1)
    summarize(results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {out}")


# ---------------------------------------------------------------------------------------
# The table


def c32(load, name, key):
    return load.get(name, {}).get("c32", {}).get(key)


def against_peers(load):
    """Throughput and p99 at 32 connections against BentoML serving the same model."""
    checks = {}
    for ours, theirs, target in (("generated", "bentoml", 4), ("generated-onnx", "bentoml", 10),
                                 ("generated-pipeline", "bentoml-pipeline", 4)):
        if ours in load and theirs in load:
            x = ratio(c32(load, ours, "rps"), c32(load, theirs, "rps"))
            checks[f"{ours} / {theirs} throughput (c=32)"] = (x, f">= {target}",
                                                              x and x >= target)
    for ours, theirs in (("generated", "bentoml"), ("generated-pipeline", "bentoml-pipeline")):
        if ours in load and theirs in load:
            x = ratio(c32(load, theirs, "p99_ms"), c32(load, ours, "p99_ms"))
            checks[f"{theirs} p99 / {ours} p99 (c=32)"] = (x, ">= 5", x and x >= 5)
    if "flask" in load and "generated" in load:
        checks["generated / flask throughput (c=32)"] = (
            ratio(c32(load, "generated", "rps"), c32(load, "flask", "rps")), "", None)
    return checks


def floor_checks(results):
    """Each generated app against its floor. The model and the HTTP stack run on the same
    cores, so their costs add: floor = 1 / (1/model rows/s + 1/constant endpoint req/s).
    The ratio that counts is the median over the paired rounds, each from runs seconds apart;
    the earlier floor (the slower of the two alone) is shown beside it."""
    load, floors = results["load_results"], results["floors"]
    paired = results.get("paired_rps", {})
    http_floor = c32(load, "constant", "rps")
    checks = {}
    for name, f in floors.items():
        model_rps = f["model"]["parallel_rows_per_s"]
        if not http_floor:
            continue
        f["http_floor_rps"] = http_floor
        f["slower_of_floor_rps"] = min(model_rps, http_floor)
        f["floor_rps"] = round(combined(model_rps, http_floor), 1)
        parts = f"model {model_rps:.0f} rows/s @ {f['model']['batch']} rows"
        checks[f"{name}: slower-of floor / generated ({parts}, HTTP {http_floor:.0f} req/s)"] = (
            ratio(f["slower_of_floor_rps"], c32(load, name, "rps")), "", None)
        x = ratio(f["floor_rps"], c32(load, name, "rps"))
        label = f"{name}: floor ({f['floor_rps']:.0f} req/s) / generated"
        if name in paired and "constant" in paired:
            checks[label] = (x, "", None)
            rounds = [ratio(combined(model_rps, c), g)
                      for c, g in zip(paired["constant"], paired[name], strict=True)]
            f["paired_ratios"] = rounds
            x = statistics.median(rounds)
            label = (f"{name}: floor / generated, median of {len(rounds)} paired rounds "
                     f"({min(rounds)}-{max(rounds)})")
        checks[label] = (x, "<= 1.2", x and x <= 1.2)
        # The same floor in CPU per request, which other work on the machine moves less.
        one = f["model"]["one_process"][str(f["model"]["batch"])]
        f["cpu_floor_us"] = round(one["us_per_call"] / f["model"]["batch"]
                                  + c32(load, "constant", "server_cpu_us_per_request"), 1)
        checks[f"{name}: server CPU per request / floor's ({f['cpu_floor_us']:.0f} us: "
               "model per row + constant endpoint)"] = (
            ratio(c32(load, name, "server_cpu_us_per_request"), f["cpu_floor_us"]), "", None)
    return checks


def combined(model_rps, http_rps):
    return 1 / (1 / model_rps + 1 / http_rps)


def cold_checks(results):
    """Cold start as Cloud Run starts the image, against the bare runtime started alike."""
    checks = {}
    for key, what, target in (("cold_start_s", "with the image's bytecode", "<= 1.3"),
                              ("cold_start_no_bytecode_s", "without bytecode", "")):
        med = medians(results.get(key, {}))
        for name, bare, goal in (("generated", "bare-sklearn", target),
                                 ("generated-1cpu", "bare-sklearn", ""),
                                 ("generated-onnx", "bare-onnx", target)):
            if name in med and bare in med:
                x = ratio(med[name], med[bare])
                checks[f"{name} cold start / bare import+load+predict, {what}"] = (
                    x, goal, (x and x <= 1.3) if goal else None)
    return checks


def medians(cold):
    return {k: statistics.median(v["first_prediction"]) for k, v in cold.items()}


def summarize(results):
    load = results["load_results"]
    floors = results["floors"]
    lines = []
    m = results["machine"]
    lines.append(f"Machine: {m['cores']} cores, {m['cpu']}; Python {m['python']}; load average "
                 f"{' '.join(m['loadavg_start'])} at start, {' '.join(m['loadavg_end'])} at end")
    lines.append(f"Model: {results['model']}; every server runs {results['workers']} "
                 "processes; the load generator shares the same cores")
    lines.append("")
    head = (f"{'server':16s} {'c=1 req/s':>10s} {'p50 ms':>8s} {'p99 ms':>8s}   "
            f"{'c=32 req/s':>10s} {'p50 ms':>8s} {'p99 ms':>8s} {'srv us/req':>10s} "
            f"{'client':>7s} {'other':>6s} {'errors':>6s}")
    lines.append(head)
    lines.append("-" * len(head))
    for name, r in load.items():
        a, b = r["c1"], r["c32"]
        lines.append(
            f"{name:16s} {a['rps']:10.0f} {a['p50_ms']:8.2f} {a['p99_ms']:8.2f}   "
            f"{b['rps']:10.0f} {b['p50_ms']:8.2f} {b['p99_ms']:8.2f} "
            f"{b['server_cpu_us_per_request']:10.0f} {b['client_cpu_share']:7.2f} "
            f"{b['other_cpu_cores']:6.2f} {a['errors'] + b['errors']:6d}")
    lines.append("(c=32 columns: server CPU per request in us; cores used by the load generator and "
                 "by other work on the machine during the run)")
    lines.append("")

    checks = {**against_peers(load), **floor_checks(results), **cold_checks(results)}
    results["checks"] = {k: {"value": v, "target": t, "met": ok}
                         for k, (v, t, ok) in checks.items()}

    lines.append(f"{'ratio':86s} {'value':>7s}  target")
    for k, (v, t, ok) in checks.items():
        mark = "" if ok is None else ("  met" if ok else "  MISSED")
        lines.append(f"{k:86s} {v if v is not None else '-':>7}  {t}{mark}")
    lines.append("")
    paired = results.get("paired_rps", {})
    if paired:
        lines.append("paired rounds at 32 connections, req/s: " + "; ".join(
            f"{k} {', '.join(f'{v:.0f}' for v in vs)}" for k, vs in paired.items()))
    if floors:
        for name, f in floors.items():
            b = f["batches"]
            lines.append(f"{name}: rows per model call at 32 connections: mean "
                         f"{b['mean_rows_per_call']}, histogram {b['histogram']}, "
                         f"rows per worker {b['rows_per_worker']}")
        lines.append("")
    exps = results.get("experiments")
    if exps:
        lines.append("experiments (instrumented app; candidate changes):")
        for k, v in exps.items():
            if "run" in v:
                r = v["run"]
                lines.append(f"  {k:48s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.2f}  p99 "
                             f"{r['p99_ms']:6.2f} ms  {r['server_cpu_us_per_request']:5.0f} us "
                             f"CPU/req  rows/call {v['mean_rows_per_call']}")
            else:
                lines.append(f"  {k:48s} median {statistics.median(v['first_prediction']):.3f} s")
        lines.append("")
    for key, what in (("cold_start_no_bytecode_s", "without bytecode"),
                      ("cold_start_s", "with the image's bytecode")):
        cold = results.get(key, {})
        if cold:
            med = medians(cold)
            lines.append(f"cold start {what}, median of runs (s): " + ", ".join(
                f"{k} {med[k]:.3f}" for k in cold))
            lines.append("  (import+load alone: " + ", ".join(
                f"{k} {statistics.median(v['import_load']):.3f}"
                for k, v in cold.items() if "import_load" in v) + ")")
    if results.get("cold_start_s"):
        lines.append("  (generated*, bare-*: as Cloud Run starts the image, non-root, read-only "
                     "site-packages; bare-*: a fresh interpreter, spawn to first prediction; "
                     "bentoml, flask: as before, from their venvs as pip left them)")
    sizes = results.get("site_packages_mb")
    if sizes:
        lines.append("site-packages, MB (no pip, no bytecode): " + ", ".join(
            f"{k} {v}" for k, v in sizes.items()))
        bare = sizes["bare-sklearn"]
        lines.append(f"  over bare sklearn ({bare} MB): " + ", ".join(
            f"{k} +{v - bare:.1f}" for k, v in sizes.items()
            if k in ("generated-sklearn", "bentoml+sklearn", "flask+gunicorn+sklearn")))
    lines.append(f"total {results['total_s']} s; command: {results['command']}")
    text = "\n".join(lines)
    results["table"] = text
    print(text)


if __name__ == "__main__":
    main()
