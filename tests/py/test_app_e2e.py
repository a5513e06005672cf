"""The generated serving app, end to end, with real models.

For each framework: train a small model with the real library, write a spec for it, render
it, install the generated app/requirements.txt into its own virtualenv (cached under
target/app-venvs/ by the file's hash), start the app on a loopback port and compare its
predictions with the model's own. Then the error contract, graceful shutdown, logs,
readiness, the ONNX conversion and the linters over the generated files.
"""

import fcntl
import hashlib
import http.client
import json
import operator
import os
import runpy
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    EXAMPLES,
    ROOT,
    RUN_ENV,
    copy_example,
    mlgen,
    process_parents,
    put_model,
    render_spec_text,
    servers_of_this_run,
)

VENVS = ROOT / "target" / "app-venvs"
BIN = Path(sys.executable).parent

SPEC = """
[service]
name = "{name}"
project = "test-project"
region = "europe-west1"
description = "e2e {framework} model"
deletion_protection = false

[model]
framework = "{framework}"
source = "{source}"
features = {features}
{model}

[container]
python = "3.11"

[image]
repository = "models"
tag = "1.0.0"

[resources]
cpu = {cpu}
memory = "2Gi"

[scaling]
concurrency = 80

[service_account]
account_id = "{name}-run"

[serving]
max_batch_size = 64
max_batch_wait_ms = {wait_ms}
max_request_bytes = 4096
{serving}
"""

FEATURES = ["sepal length", "sepal_width", "petal.length", "petal-width"]


# ---------------------------------------------------------------------------------------
# Models, trained with the real libraries.


def iris():
    from sklearn.datasets import load_iris

    data = load_iris()
    return data.data, np.asarray(data.target_names)[data.target]


def train_sklearn(path):
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    joblib.dump(model, path)
    return lambda rows: model.predict(rows).tolist()


def train_xgboost(path):
    import xgboost

    X, y = iris()
    target = (y == "virginica").astype(float)
    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
        xgboost.DMatrix(X, label=target),
        num_boost_round=20,
    )
    booster.save_model(path)
    return lambda rows: booster.predict(xgboost.DMatrix(rows)).tolist()


def train_lightgbm(path):
    import lightgbm

    X, y = iris()
    target = (y == "versicolor").astype(float)
    booster = lightgbm.train(
        {"objective": "binary", "num_leaves": 7, "min_data_in_leaf": 5, "verbose": -1},
        lightgbm.Dataset(X, label=target),
        num_boost_round=20,
    )
    booster.save_model(path)
    return lambda rows: booster.predict(rows).tolist()


def train_onnx(path):
    import onnxruntime
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestRegressor

    X, y = iris()
    target = X[:, 0] * 2 + (y == "setosa")
    model = RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0).fit(X, target)
    onx = to_onnx(model, X[:1].astype(np.float32), target_opset={"": 21, "ai.onnx.ml": 3})
    Path(path).write_bytes(onx.SerializeToString())
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda rows: session.run(None, {name: rows.astype(np.float32)})[0].ravel().tolist()


TRAIN = {
    "sklearn": ("model.joblib", train_sklearn),
    "xgboost": ("model.ubj", train_xgboost),
    "lightgbm": ("model.txt", train_lightgbm),
    "onnx": ("model.onnx", train_onnx),
}


class _Sleep:
    """Unpickles as time.sleep(s): makes a model file that loads slowly."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __reduce__(self):
        return (time.sleep, (self.seconds,))


class _SlowModel:
    """Unpickles as `model`, after a pause: (itemgetter(1))((sleep(s), model))."""

    def __init__(self, model, seconds):
        self.model = model
        self.seconds = seconds

    def __reduce__(self):
        return (operator.itemgetter(1), ((_Sleep(self.seconds), self.model),))


# ---------------------------------------------------------------------------------------
# Virtualenvs from the generated requirements, and the running app.


def cached_venv(requirements, folder, name=""):
    """A virtualenv under `folder` with `requirements` installed, reused while the Python
    version and the file's requirement lines (comments aside) are unchanged."""
    text = "".join(
        line for line in Path(requirements).read_text().splitlines(True) if not line.startswith("#")
    )
    key = hashlib.sha256(f"{sys.version_info[:2]}\n{text}".encode()).hexdigest()[:16]
    key = f"{name}-{key}" if name else key
    venv = folder / key
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            subprocess.run(
                [venv / "bin" / "python", "-m", "pip", "install", "--quiet",
                 "--disable-pip-version-check", "-r", requirements],
                check=True,
            )
            (venv / ".complete").write_text(text)
    return venv


def app_venv(requirements):
    """The generated app's virtualenv, under target/app-venvs/."""
    return cached_venv(requirements, VENVS)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_threads(target, args):
    """Calls target(a) for every a in `args`, each in a thread of its own, all at once;
    returns when every call has."""
    threads = [threading.Thread(target=target, args=(a,)) for a in args]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


class App:
    """The generated app, started from its output folder with a venv's Python."""

    def __init__(self, out_dir, venv, model_path, tmp_path, port=None, python_args=()):
        self.port = port or free_port()
        self.log_path = tmp_path / f"app-{self.port}.log"
        self.err_path = tmp_path / f"app-{self.port}.err"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PORT": str(self.port),
            "MLGEN_MODEL_PATH": str(model_path),
            "MLGEN_HOST": "127.0.0.1",
            **RUN_ENV,
        }
        with open(self.log_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [venv / "bin" / "python", *python_args, out_dir / "app" / "main.py"],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # a process group of its own, for stop()
            )

    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            chunked = body is not None and not isinstance(body, bytes)
            conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, json.loads(data) if data else None
        finally:
            conn.close()

    def predict(self, instances, **kw):
        return self.request("POST", "/predict", {"instances": instances}, **kw)

    def wait_ready(self, timeout=120):
        """Polls readiness; returns the statuses seen before 200."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"app exited {self.proc.returncode}: {self.output()}"
            try:
                status, _ = self.request("GET", "/ready", timeout=5)
            except OSError:
                status = None
            if status == 200:
                return seen
            seen.append(status)
            time.sleep(0.05)
        raise AssertionError(f"not ready after {timeout}s: {self.output()}")

    def logs(self):
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def output(self):
        return self.log_path.read_text()[-3000:] + self.err_path.read_text()[-3000:]

    def stop(self):
        """Kills the app with its workers, whether or not its supervisor still runs."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # the whole group has exited
            pass
        self.proc.wait()


def build_service(
    tmp_path, framework, name="svc", cpu=1, serving="", wait_ms=2, features=None, model="",
    train=None,
):
    """Trains a model, renders its spec; returns (out_dir, model_path, reference predict).
    `features` is the TOML of the spec's features (FEATURES, all numbers, by default),
    `model` more keys of `[model]`, `train` a trainer other than the framework's own."""
    file_name, own_train = TRAIN[framework]
    train = train or own_train
    folder = tmp_path / name
    (folder / "models").mkdir(parents=True)
    model_path = folder / "models" / file_name
    reference = train(model_path)
    text = SPEC.format(
        name=f"e2e-{name}",
        framework=framework,
        source=f"models/{file_name}",
        features=features or json.dumps(FEATURES),
        model=model,
        cpu=cpu,
        serving=serving,
        wait_ms=wait_ms,
    )
    _, out_dir = render_spec_text(tmp_path, text, name=name)
    return out_dir, model_path, reference


def start(tmp_path, framework, **kw):
    out_dir, model_path, reference = build_service(tmp_path, framework, **kw)
    app = App(out_dir, app_venv(out_dir / "app" / "requirements.txt"), model_path, tmp_path)
    app.wait_ready()
    return app, reference


ROWS = np.array(
    [[5.1, 3.5, 1.4, 0.2], [6.7, 3.1, 4.4, 1.4], [6.3, 3.3, 6.0, 2.5], [5.9, 3.0, 5.1, 1.8]]
)


def as_objects(rows):
    return [dict(zip(FEATURES, map(float, r), strict=True)) for r in rows]


def assert_same(got, want):
    if want and isinstance(want[0], str):
        assert got == want
    else:
        np.testing.assert_allclose(np.asarray(got, dtype=float), want, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------
# Predictions equal the model's own, for every framework.


@pytest.mark.parametrize("framework", sorted(TRAIN))
def test_predictions_match_the_model(tmp_path, framework):
    # lightgbm runs with two workers (cpu = 2) to cover the multi-process path.
    cpu = 2 if framework == "lightgbm" else 1
    app, reference = start(tmp_path, framework, cpu=cpu)
    try:
        want = reference(ROWS)
        status, body = app.predict(ROWS.tolist())
        assert status == 200, body
        assert_same(body["predictions"], want)
        status, body = app.predict(as_objects(ROWS))
        assert status == 200, body
        assert_same(body["predictions"], want)

        # Concurrent requests are batched together; each still gets its own rows back.
        results = {}

        def call(i):
            results[i] = app.predict([ROWS[i % len(ROWS)].tolist()] * (1 + i % 3))

        in_threads(call, range(24))
        for i, (status, body) in results.items():
            assert status == 200, body
            assert_same(body["predictions"], [want[i % len(ROWS)]] * (1 + i % 3))

        status, info = app.request("GET", "/")
        assert status == 200
        assert info["framework"] == framework
        assert info["features"] == [{"name": f, "type": "number"} for f in FEATURES]
        assert info["name"] == "e2e-svc"
    finally:
        app.stop()


# Class probabilities (output = "proba"), for every framework that gives them.


def proba_xgboost(objective):
    def train(path):
        import xgboost

        X, y = iris()
        labels = (y == "virginica").astype(float) if objective.startswith("binary") else (
            np.unique(y, return_inverse=True)[1]
        )
        params = {"objective": objective, "max_depth": 2, "nthread": 1}
        if objective.startswith("multi"):
            params["num_class"] = 3
        booster = xgboost.train(params, xgboost.DMatrix(X, label=labels), num_boost_round=10)
        booster.save_model(path)
        if objective == "binary:logistic":
            p = lambda rows: booster.predict(xgboost.DMatrix(rows))  # noqa: E731
            return [0, 1], lambda rows: np.column_stack([1 - p(rows), p(rows)])
        if objective == "multi:softprob":
            return [0, 1, 2], lambda rows: booster.predict(xgboost.DMatrix(rows))

        def softmax(rows):
            m = booster.predict(xgboost.DMatrix(rows), output_margin=True)
            e = np.exp(m - m.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)

        return [0, 1, 2], softmax

    return train


def proba_lightgbm(objective):
    def train(path):
        import lightgbm

        X, y = iris()
        params = {"objective": objective, "num_leaves": 7, "min_data_in_leaf": 5, "verbose": -1}
        if objective == "multiclass":
            labels = np.unique(y, return_inverse=True)[1]
            params["num_class"] = 3
        else:
            labels = (y == "versicolor").astype(float)
        booster = lightgbm.train(params, lightgbm.Dataset(X, label=labels), num_boost_round=10)
        booster.save_model(path)
        if objective == "binary":
            p = booster.predict
            return [0, 1], lambda rows: np.column_stack([1 - p(rows), p(rows)])
        return [0, 1, 2], booster.predict

    return train


def proba_onnx(path):
    """skl2onnx's default: a ZipMap output, one {class: probability} per row."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    X, y = iris()
    model = LogisticRegression(max_iter=500).fit(X, y)
    onx = to_onnx(model, X[:1].astype(np.float32), target_opset={"": 21, "ai.onnx.ml": 3})
    Path(path).write_bytes(onx.SerializeToString())
    return model.classes_.tolist(), model.predict_proba


PROBA = {
    "xgboost-binary": ("xgboost", proba_xgboost("binary:logistic")),
    "xgboost-softprob": ("xgboost", proba_xgboost("multi:softprob")),
    "xgboost-softmax": ("xgboost", proba_xgboost("multi:softmax")),
    "lightgbm-binary": ("lightgbm", proba_lightgbm("binary")),
    "lightgbm-multiclass": ("lightgbm", proba_lightgbm("multiclass")),
    "onnx-zipmap": ("onnx", proba_onnx),
}


def assert_probabilities(body, classes, scores):
    predictions = body["predictions"]
    assert [p["classes"] for p in predictions] == [classes] * len(scores), predictions
    got = [p["scores"] for p in predictions]
    np.testing.assert_allclose(got, scores, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", sorted(PROBA))
def test_probabilities_match_the_model(tmp_path, case):
    framework, train = PROBA[case]
    out_dir, model_path, (classes, proba) = build_service(
        tmp_path, framework, model='output = "proba"', train=train
    )
    app = App(out_dir, app_venv(out_dir / "app" / "requirements.txt"), model_path, tmp_path)
    try:
        app.wait_ready()
        status, body = app.predict(ROWS.tolist())
        assert status == 200, body
        assert_probabilities(body, classes, proba(ROWS))
        results = {}
        in_threads(lambda i: results.update({i: app.predict(ROWS[i % 4 : i % 4 + 1].tolist())}),
                   range(12))
        for i, (status, body) in results.items():
            assert status == 200, body
            assert_probabilities(body, classes, proba(ROWS[i % 4 : i % 4 + 1]))
    finally:
        app.stop()


def regressor(path):
    import joblib
    from sklearn.linear_model import LinearRegression

    X, _ = iris()
    joblib.dump(LinearRegression().fit(X, X[:, 0]), path)


@pytest.mark.parametrize(
    ("framework", "train", "reason"),
    [
        ("sklearn", regressor, "LinearRegression has no predict_proba"),
        ("onnx", train_onnx, "no output named for probabilities"),
        ("xgboost", proba_xgboost("reg:squarederror"), "objective reg:squarederror"),
    ],
)
def test_a_model_without_probabilities_stops_the_container(tmp_path, framework, train, reason):
    out_dir, model_path, _ = build_service(
        tmp_path, framework, model='output = "proba"', train=train
    )
    app = App(out_dir, app_venv(out_dir / "app" / "requirements.txt"), model_path, tmp_path)
    try:
        # As a model that cannot load: exit 3 with the reason, never a ready service.
        assert app.proc.wait(timeout=60) == 3, app.output()
        assert any(e["severity"] == "CRITICAL" and 'output = "proba"' in e["message"]
                   and reason in e["message"] for e in app.logs()), app.output()
    finally:
        app.stop()


# ---------------------------------------------------------------------------------------
# The error contract, on one sklearn service.


@pytest.fixture(scope="module")
def sk_app(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("sk")
    app, reference = start(tmp_path, "sklearn")
    yield app, reference
    app.stop()


def assert_error(result, status, *needles):
    got, body = result
    assert got == status, body
    assert isinstance(body["error"], str) and len(body["request_id"]) == 32
    for needle in needles:
        assert needle in body["error"], body
    assert "Traceback" not in json.dumps(body)


def test_errors_are_json_with_the_right_status(sk_app):
    app, reference = sk_app
    post = lambda body, **kw: app.request("POST", "/predict", body, **kw)  # noqa: E731
    assert_error(post(b"{not json"), 400, "not valid JSON")
    assert_error(post({"rows": []}), 422, "instances")
    assert_error(post({"instances": []}), 422, "empty")
    assert_error(app.predict([[1, 2, 3]]), 422, "instances[0]", "3 values", "takes 4")
    assert_error(app.predict([ROWS[0].tolist(), [1, 2]]), 422, "instances[1]")
    assert_error(app.predict([[1, 2, "x", 4]]), 422, "`petal.length`", "number")
    assert_error(app.predict([[1, 2, True, 4]]), 422, "`petal.length`")
    bad = as_objects(ROWS[:1])
    bad[0]["colour"] = 1.0
    del bad[0]["sepal length"]
    assert_error(app.predict(bad), 422, "unknown feature(s) `colour`", "missing feature(s) `sepal length`")
    assert_error(app.predict(["row"]), 422, "instances[0]")
    # Over max_request_bytes (4096): refused by Content-Length, and when streamed.
    big = {"instances": [ROWS[0].tolist()] * 200}
    assert_error(post(big), 413, "4096")
    assert_error(
        app.request("POST", "/predict", iter([json.dumps(big).encode()] * 2),
                    headers={"Transfer-Encoding": "chunked"}),
        413,
    )
    assert_error(app.request("GET", "/predict"), 405)
    assert_error(app.request("GET", "/nowhere"), 404)
    # The model itself fails on a missing value (LogisticRegression refuses NaN): 500 with a
    # request id, no traceback, and the id in the logs with the traceback.
    result = app.predict([[None, 3.5, 1.4, 0.2]])
    assert_error(result, 500, "model failed")
    entry = next(e for e in app.logs() if e.get("request_id") == result[1]["request_id"])
    assert entry["severity"] == "ERROR" and "Traceback" in entry["traceback"]
    # Still serving after each.
    status, body = app.predict(ROWS.tolist())
    assert status == 200
    assert body["predictions"] == reference(ROWS)


def test_a_failing_request_does_not_fail_its_batch(sk_app):
    app, reference = sk_app
    results = {}

    def call(i):
        rows = [[None, 1.0, 1.0, 1.0]] if i % 4 == 0 else [ROWS[1].tolist()]
        results[i] = app.predict(rows)

    in_threads(call, range(16))
    for i, (status, body) in results.items():
        if i % 4 == 0:
            assert status == 500, body
        else:
            assert status == 200 and body["predictions"] == reference(ROWS[1:2]), body


def test_a_failing_request_does_not_fail_its_batch_in_the_thread(tmp_path):
    """The same with a model slow enough (milliseconds a call) to run in the worker thread,
    where the rows of a failed batch are rerun one request at a time."""
    import joblib
    from sklearn.neighbors import KNeighborsClassifier

    out_dir, model_path, _ = build_service(tmp_path, "sklearn", wait_ms=20)
    rng = np.random.default_rng(0)
    X = rng.uniform(0.0, 8.0, (500_000, len(FEATURES)))
    # Brute force over 500,000 points: tens of milliseconds a call, and NaN is refused.
    model = KNeighborsClassifier(n_neighbors=3, algorithm="brute").fit(X, (X[:, 0] > 4).astype(int))
    joblib.dump(model, model_path)
    app = App(out_dir, app_venv(out_dir / "app" / "requirements.txt"), model_path, tmp_path)
    results = {}

    def call(i, rows=None):
        if rows is None:
            rows = [[None, 1.0, 1.0, 1.0]] if i % 4 == 0 else [ROWS[i % len(ROWS)].tolist()]
        results[i] = (rows, app.predict(rows))

    try:
        app.wait_ready()
        before = app.request("GET", "/")[1]["worker"]["model_calls"]
        # A 250-row request keeps the thread busy for a while (over 0.1 s), so the small
        # ones queue behind it and go out together: batches with a failing request in them.
        blocker = threading.Thread(target=call, args=(1, [[1, 2, 3, 4]] * 250))
        blocker.start()
        time.sleep(0.03)
        in_threads(call, range(2, 26))
        blocker.join()
        calls = app.request("GET", "/")[1]["worker"]["model_calls"] - before
    finally:
        app.stop()
    for i, (rows, (status, body)) in results.items():
        if i % 4 == 0:
            assert status == 500, body
        else:
            assert status == 200 and body["predictions"] == model.predict(rows).tolist(), body
    # One call per request would be 1 + 24; a batch that failed and was rerun request by
    # request (the path under test) adds its own call.
    assert calls > 1 + 24, calls


def test_a_model_answering_the_wrong_number_of_rows_gets_500s(tmp_path):
    """A prediction per row or none: a model that returns another count fails the request
    rather than hand out misaligned slices."""
    import joblib

    out_dir, model_path, _ = build_service(tmp_path, "sklearn")
    # predict(X) = X flattened: four values per row.
    joblib.dump(types.SimpleNamespace(predict=np.ravel, n_features_in_=len(FEATURES)), model_path)
    app = App(out_dir, app_venv(out_dir / "app" / "requirements.txt"), model_path, tmp_path)
    try:
        app.wait_ready()
        status, body = app.predict(ROWS.tolist())
        assert status == 500, body
        assert app.request("GET", "/live")[0] == 200
        logged = [e for e in app.logs() if e.get("request_id") == body["request_id"]]
        assert "returned 16 predictions for 4 rows" in logged[0]["exception"], logged
    finally:
        app.stop()


def test_probes_and_openapi(sk_app):
    app, _ = sk_app
    assert app.request("GET", "/ready") == (200, {"status": "ready"})
    assert app.request("GET", "/live") == (200, {"status": "ok"})
    status, doc = app.request("GET", "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    schema = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    row_array, row_object = schema["schema"]["properties"]["instances"]["items"]["oneOf"]
    assert row_array["minItems"] == row_array["maxItems"] == 4
    assert row_object["required"] == FEATURES
    assert set(doc["paths"]["/predict"]["post"]["responses"]) >= {"200", "400", "413", "422", "500"}


def test_logs_are_json_lines_with_the_trace(sk_app):
    app, _ = sk_app
    trace = "105445aa7843bc8bf206b12000100000"
    status, body = app.predict([[1, 2]], headers={"X-Cloud-Trace-Context": f"{trace}/1;o=1"})
    assert status == 422
    lines = app.log_path.read_text().splitlines()
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all("severity" in e and "message" in e for e in entries)
    entry = next(e for e in entries if e.get("request_id") == body["request_id"])
    assert entry["severity"] == "WARNING"
    assert entry["logging.googleapis.com/trace"] == f"projects/test-project/traces/{trace}"
    assert "instances[0]" in entry["message"]
    assert any(e["message"].startswith("model loaded") for e in entries)


# Typed features: integers and booleans reach the model as numbers; wrong types get 422s.
TYPED = """[
  "sepal length",
  { name = "sepal_width", type = "integer" },
  { name = "petal.length", type = "number" },
  { name = "petal-width", type = "boolean" },
]"""


def test_typed_features_are_checked_and_reach_the_model_as_numbers(tmp_path):
    app, reference = start(tmp_path, "sklearn", features=TYPED)
    try:
        rows = [[5.1, 3, 1.4, False], [6.3, 3.0, 6.0, True], [5.9, None, 5.1, None]]
        status, body = app.predict(rows[:2])
        assert status == 200, body
        assert body["predictions"] == reference(np.array(rows[:2], dtype=float))
        status, body = app.predict([dict(zip(FEATURES, r, strict=True)) for r in rows[:2]])
        assert status == 200 and body["predictions"] == reference(np.array(rows[:2], dtype=float))
        # null is a missing value: NaN to the model, which this one refuses (a 500).
        assert app.predict(rows[2:])[0] == 500
        assert_error(app.predict([[5.1, 3.5, 1.4, False]]), 422, "instances[0]",
                     "`sepal_width`", "whole number", "3.5")
        assert_error(app.predict([rows[0], [5.1, 3, 1.4, 1]]), 422, "instances[1]",
                     "`petal-width`", "true or false")
        assert_error(app.predict([[True, 3, 1.4, False]]), 422, "`sepal length`", "a number")
        assert_error(app.predict([[5.1, "3", 1.4, False]]), 422, "`sepal_width`")
        assert_error(app.predict([[5.1, 3, 1.4]]), 422, "3 values", "takes 4")

        info = app.request("GET", "/")[1]
        assert [f["type"] for f in info["features"]] == ["number", "integer", "number", "boolean"]
        doc = app.request("GET", "/openapi.json")[1]
        schema = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
        row_array, row_object = schema["schema"]["properties"]["instances"]["items"]["oneOf"]
        assert [i["type"][0] for i in row_array["prefixItems"]] == [
            "number", "integer", "number", "boolean"
        ]
        assert row_object["properties"]["petal-width"]["type"] == ["boolean", "null"]
        status, body = app.predict(rows[:1])
        assert status == 200, body
    finally:
        app.stop()


# DataFrames: a Pipeline trained on a pandas DataFrame, served unchanged.
TABULAR = """[
  { name = "tenure", type = "integer" },
  "charges",
  { name = "plan", type = "category", values = ["free", "pro", "team"] },
  { name = "promo", type = "boolean" },
  { name = "region", type = "string" },
]"""
TABULAR_NAMES = ["tenure", "charges", "plan", "promo", "region"]
TABULAR_ROWS = [
    [3, 20.5, "free", False, "eu"],
    [40, 110.0, "team", True, "us"],
    [12, 55.0, "pro", False, "eu"],
    [7, 30.0, "free", True, "mars"],  # a region the encoder never saw: ignored
]

# Run with the app's own virtualenv (pandas is in it): trains a Pipeline whose
# ColumnTransformer one-hot-encodes the text columns by name (mode "text"; "numbers": picks
# two number columns by name), trained on a DataFrame with plain object strings; writes the
# model and its own answers for the rows given.
TRAIN_PIPELINE = """
import json, sys
import joblib, numpy as np, pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

model_path, rows, out, classes, mode = sys.argv[1:]
rng = np.random.default_rng(0)
n = 600
df = pd.DataFrame({
    "tenure": rng.integers(0, 60, n),
    "charges": rng.uniform(10, 120, n),
    "plan": rng.choice(["free", "pro", "team"], n),
    "promo": rng.random(n) < 0.3,
    "region": rng.choice(["eu", "us"], n),
})
score = ((df.plan == "free") * 2 + (df.tenure < 20) + (df.charges > 90) - df.promo).to_numpy()
labels = classes.split(",")
y = np.asarray(labels)[np.clip(score, 0, 2) if len(labels) == 3 else (score > 1).astype(int)]
if mode == "numbers":
    df = df[["tenure", "charges", "promo"]]
    encode = ColumnTransformer([("picked", "passthrough", ["tenure", "promo"])])
else:
    encode = ColumnTransformer(
        [("text", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"])],
        remainder="passthrough",
    )
model = make_pipeline(encode, LogisticRegression(max_iter=2000)).fit(df, y)
joblib.dump(model, model_path)
test = pd.DataFrame(json.loads(rows), columns=list(df.columns))
json.dump({
    "predict": model.predict(test).tolist(),
    "proba": model.predict_proba(test).tolist(),
    "classes": model.classes_.tolist(),
}, open(out, "w"))
"""


def start_pipeline(tmp_path, rows=TABULAR_ROWS, features=TABULAR, model="",
                   classes="stay,churn", mode="text"):
    """Serves a Pipeline trained on a DataFrame (TRAIN_PIPELINE); returns (app, the model's
    own answers for `rows`)."""
    _, out_dir = render_spec_text(tmp_path, SPEC.format(
        name="e2e-pipeline", framework="sklearn", source="models/model.joblib",
        features=features, model=model, cpu=1, serving="", wait_ms=2,
    ))
    venv = app_venv(out_dir / "app" / "requirements.txt")
    model_path = out_dir.parent / "models" / "model.joblib"
    model_path.parent.mkdir(exist_ok=True)
    answers = tmp_path / "answers.json"
    subprocess.run(
        [venv / "bin" / "python", "-c", TRAIN_PIPELINE, model_path, json.dumps(rows), answers,
         classes, mode],
        check=True,
    )
    app = App(out_dir, venv, model_path, tmp_path)
    app.wait_ready()
    return app, json.loads(answers.read_text())


def test_a_dataframe_pipeline_with_typed_features_is_served_unchanged(tmp_path):
    app, want = start_pipeline(tmp_path)
    try:
        status, body = app.predict(TABULAR_ROWS)
        assert status == 200, body
        assert body["predictions"] == want["predict"]
        objects = [dict(zip(TABULAR_NAMES, r, strict=True)) for r in TABULAR_ROWS]
        assert app.predict(objects) == (200, {"predictions": want["predict"]})
        # Batched with other requests, each still gets its own rows' answers.
        results = {}
        in_threads(lambda i: results.update({i: app.predict([TABULAR_ROWS[i % 4]])}), range(16))
        for i, (status, body) in results.items():
            assert (status, body["predictions"]) == (200, [want["predict"][i % 4]]), body

        row = TABULAR_ROWS[0]
        assert_error(app.predict([row, ["3", *row[1:]]]), 422, "instances[1]", "`tenure`",
                     "whole number")
        assert_error(app.predict([[3, 20.5, "gold", False, "eu"]]), 422, "`plan`",
                     'one of "free", "pro", "team"', '"gold"')
        assert_error(app.predict([[3, 20.5, 1, False, "eu"]]), 422, "`plan`")
        assert_error(app.predict([[3, 20.5, "free", "no", "eu"]]), 422, "`promo`",
                     "true or false")
        assert_error(app.predict([[3, 20.5, "free", False, 7]]), 422, "`region`", "text")
        assert_error(app.predict([{**objects[0], "colour": "red"}]), 422,
                     "unknown feature(s) `colour`")
        assert_error(app.predict([row[:4]]), 422, "4 values", "takes 5")

        info = app.request("GET", "/")[1]
        assert info["features"][2] == {
            "name": "plan", "type": "category", "values": ["free", "pro", "team"]
        }
        doc = app.request("GET", "/openapi.json")[1]
        schema = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
        row_object = schema["schema"]["properties"]["instances"]["items"]["oneOf"][1]
        assert row_object["properties"]["plan"]["enum"] == ["free", "pro", "team", None]
        assert app.predict(TABULAR_ROWS) == (200, {"predictions": want["predict"]})
    finally:
        app.stop()


def test_a_dataframe_pipeline_gives_its_class_probabilities(tmp_path):
    app, want = start_pipeline(tmp_path, model='output = "proba"', classes="low,mid,high")
    try:
        status, body = app.predict(TABULAR_ROWS)
        assert status == 200, body
        assert_probabilities(body, want["classes"], want["proba"])
        assert sorted(want["classes"]) == ["high", "low", "mid"]  # labels as the model has them
        info = app.request("GET", "/")[1]
        assert (info["input"], info["output"]) == ("dataframe", "proba")
        doc = app.request("GET", "/openapi.json")[1]
        ok = doc["paths"]["/predict"]["post"]["responses"]["200"]["content"]["application/json"]
        item = ok["schema"]["properties"]["predictions"]["items"]
        assert item["required"] == ["classes", "scores"]
        assert_error(app.predict([[3, 20.5, "gold", False, "eu"]]), 422, "`plan`")
    finally:
        app.stop()


def test_input_dataframe_gives_a_numeric_model_its_column_names(tmp_path):
    """A ColumnTransformer that picks columns by name needs a DataFrame even when every
    feature is a number: `input = "dataframe"` gives it one."""
    rows = [[r[0], r[1], int(r[3])] for r in TABULAR_ROWS]
    app, want = start_pipeline(tmp_path, rows, features='["tenure", "charges", "promo"]',
                               model='input = "dataframe"', mode="numbers")
    try:
        assert app.predict(rows) == (200, {"predictions": want["predict"]})
    finally:
        app.stop()


def test_requests_in_a_closed_loop_share_model_calls(tmp_path):
    """Clients that send again as soon as they are answered: after a full batch, the first
    to come back must not go alone (a whole model call for one row) while the others queue
    behind it. With C such clients, model calls carry close to C rows each, not C / 2."""
    import joblib
    from sklearn.ensemble import RandomForestClassifier

    out_dir, model_path, _ = build_service(tmp_path, "sklearn", wait_ms=20)
    X, y = iris()
    # Slow enough per call (tens of ms) that all clients are back while it runs.
    joblib.dump(RandomForestClassifier(n_estimators=400, random_state=0).fit(X, y), model_path)
    app = App(out_dir, app_venv(out_dir / "app" / "requirements.txt"), model_path, tmp_path)
    clients, rounds = 12, 10
    try:
        app.wait_ready()
        app.predict(ROWS[:1].tolist())  # the first call warms the model
        before = app.request("GET", "/")[1]["worker"]
        statuses = []

        def client(_):
            for _ in range(rounds):
                statuses.append(app.predict(ROWS[:1].tolist())[0])

        in_threads(client, range(clients))
        after = app.request("GET", "/")[1]["worker"]
        assert statuses == [200] * clients * rounds
        assert after["pid"] == before["pid"]  # one worker: its counters see every call
        calls = after["model_calls"] - before["model_calls"]
        rows = after["rows"] - before["rows"]
        assert rows == clients * rounds
    finally:
        app.stop()
    # Ideally `rounds` calls of `clients` rows (the first round arrives spread out). A
    # batcher that sends the first request back alone, or that keeps a round split once a
    # straggler split it, makes about two calls a round: under clients / 2 rows a call.
    assert rows / calls > 0.5 * clients, f"{rows / calls} rows per model call"


def test_a_fast_model_under_concurrent_clients_answers_every_request(tmp_path):
    """A model call of microseconds runs on the event loop and the batcher gathers what one
    pass of the loop read: every request is answered, from batches of one or more rows."""
    app, reference = start(tmp_path, "sklearn")  # a logistic regression: well under 0.5 ms
    clients, rounds = 16, 40
    try:
        before = app.request("GET", "/")[1]["worker"]
        answers = []

        def client(i):
            conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
            try:
                for r in range(rounds):
                    row = ROWS[(i + r) % len(ROWS)]
                    conn.request("POST", "/predict", json.dumps({"instances": [row.tolist()]}))
                    resp = conn.getresponse()
                    answers.append((resp.status, json.loads(resp.read()), row))
            finally:
                conn.close()

        in_threads(client, range(clients))
        after = app.request("GET", "/")[1]["worker"]
    finally:
        app.stop()
    assert len(answers) == clients * rounds
    for status, body, row in answers:
        assert status == 200
        assert_same(body["predictions"], reference(row[None, :]))
    assert after["rows"] - before["rows"] == clients * rounds
    assert after["model_calls"] - before["model_calls"] <= clients * rounds


BATCHER_UNDER_LOAD = """
import asyncio, json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import uvloop
import batching

demand = [0.0]
batching.loop_demand_s = lambda: demand[0]  # the loop's busy seconds, as the test says


async def main():
    b = batching.Batcher(None)  # no executor: the model below is quick, so it runs inline
    b.predict = lambda X: X[:, 0]
    calls = []
    timed = b.timed_predict
    b.timed_predict = lambda X: calls.append(len(X)) or timed(X)
    row = np.ones((1, 4))

    async def together(n):  # n requests read in one pass of the loop
        await asyncio.gather(*[b.submit(row) for _ in range(n)])

    async def lone_then(more, after):  # one request, then `more` in one pass `after` s later
        t = time.perf_counter()
        first = b.submit(row)
        await asyncio.sleep(after)
        await together(more)
        await first
        return time.perf_counter() - t

    def window(busy):  # a load window passes, the loop busy for `busy` of it so far
        time.sleep(batching.LOAD_WINDOW_S * 1.2)
        demand[0] = b.window_demand + busy * (b.loop.time() - b.window_at)

    out = {}
    await together(3)
    t = time.perf_counter()
    await b.submit(row)  # 3 rows expected, but the loop is idle: sent at once
    out["idle"] = (time.perf_counter() - t, b.saturated, calls[-1])
    window(busy=1.0)
    await together(3)  # this batch's end measures the window: saturated
    out["busy"] = (await lone_then(2, 0.01), b.saturated, calls[-1])
    window(busy=0.65)  # under the threshold to enter, over the one to leave
    await together(3)
    out["still"] = (await lone_then(2, 0.01), b.saturated, calls[-1])
    window(busy=0.2)
    await together(3)
    t = time.perf_counter()
    await b.submit(row)
    out["calm"] = (time.perf_counter() - t, b.saturated, calls[-1])
    print(json.dumps(out))


uvloop.run(main())
"""


def test_batches_wait_for_rows_only_while_the_loop_is_saturated(tmp_path):
    """Waiting for the rows the last batch leads the batcher to expect costs latency and
    saves CPU: it waits (up to the spec's bound, 50 ms here) only while the event loop had
    no idle time to spare, and sends at once otherwise. The loop's busy time is faked."""
    out_dir, _, _ = build_service(tmp_path, "sklearn", wait_ms=50)
    python = app_venv(out_dir / "app" / "requirements.txt") / "bin" / "python"
    script = tmp_path / "batcher_under_load.py"
    script.write_text(BATCHER_UNDER_LOAD)
    done = subprocess.run(
        [str(python), str(script), str(out_dir / "app")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out = json.loads(done.stdout)
    idle_s, saturated, rows = out["idle"]
    assert not saturated and rows == 1 and idle_s < 0.025, out
    for phase in ("busy", "still"):  # waited for the two others: one call of 3 rows
        waited_s, saturated, rows = out[phase]
        assert saturated and rows == 3 and 0.009 < waited_s < 0.045, out
    calm_s, saturated, rows = out["calm"]
    assert not saturated and rows == 1 and calm_s < 0.025, out


SPLIT_ROUND = """
import asyncio, json, sys, time
from concurrent.futures import ThreadPoolExecutor
sys.path.insert(0, sys.argv[1])
import numpy as np
import uvloop
import batching

calls = []


def predict(X):
    calls.append(len(X))
    time.sleep(0.02)  # a model call of 20 ms: in the thread
    return X[:, 0]


async def main():
    b = batching.Batcher(ThreadPoolExecutor(max_workers=1))
    b.predict = predict
    row = np.ones((1, 4))

    async def client(rounds, delay):  # sends again `delay` s after each answer
        for _ in range(rounds):
            await b.submit(row)
            await asyncio.sleep(delay)

    # A round split in two: one client goes alone, eleven queue behind its call. The one
    # comes back 5 ms after its answer, well within the wait bound (a model call).
    first = asyncio.ensure_future(client(2, 0.005))
    await asyncio.sleep(0.005)
    await asyncio.gather(first, *[client(1, 0) for _ in range(11)])
    print(json.dumps(calls))


uvloop.run(main())
"""


def test_a_split_round_is_joined_again(tmp_path):
    """Rows that queued during a call wait, within the bound, for the rows that call just
    answered: in a closed loop those come straight back, and sending without them would
    leave them a call of their own in every round after."""
    out_dir, _, _ = build_service(tmp_path, "sklearn", wait_ms=50)
    python = app_venv(out_dir / "app" / "requirements.txt") / "bin" / "python"
    script = tmp_path / "split_round.py"
    script.write_text(SPLIT_ROUND)
    done = subprocess.run([str(python), str(script), str(out_dir / "app")],
                          capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == [1, 12], done.stdout


CALL_THAT_OVERRUNS = """
import asyncio, json, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
sys.path.insert(0, sys.argv[1])
import numpy as np
import uvloop
import batching

slow = []
ran_in = []


def predict(X):
    ran_in.append("loop" if threading.current_thread() is threading.main_thread() else "thread")
    if slow.pop(0):
        time.sleep(0.05)
    return X[:, 0]


async def main():
    b = batching.Batcher(ThreadPoolExecutor(max_workers=1))
    b.predict = predict
    for turns_slow in (False, False, True, False, False):
        slow.append(turns_slow)
        await b.submit(np.ones((1, 4)))
    print(json.dumps(ran_in))


uvloop.run(main())
"""


def test_a_call_that_overruns_its_estimate_sends_the_next_to_the_thread(tmp_path):
    """A model call runs on the loop only while the last one took microseconds: once a call
    overruns that (it held the loop), the next goes to the thread, and the loop again once
    calls are quick."""
    out_dir, _, _ = build_service(tmp_path, "sklearn")
    python = app_venv(out_dir / "app" / "requirements.txt") / "bin" / "python"
    script = tmp_path / "call_that_overruns.py"
    script.write_text(CALL_THAT_OVERRUNS)
    done = subprocess.run([str(python), str(script), str(out_dir / "app")],
                          capture_output=True, text=True, timeout=60, check=True)
    # The first call, of unknown length, in the thread; the slow one (third) on the loop.
    assert json.loads(done.stdout) == ["thread", "loop", "loop", "thread", "loop"]


def listening_sockets(port):
    """How many sockets listen on 127.0.0.1:`port` (from /proc/net/tcp, state 0A)."""
    want = f"0100007F:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1] == want and line.split()[3] == "0A")


def test_workers_share_the_connections(tmp_path):
    """Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads connections
    over them. (With one shared socket, one worker often accepts nearly all of a burst.)"""
    app, _ = start(tmp_path, "sklearn", cpu=2)
    conns = [http.client.HTTPConnection("127.0.0.1", app.port, timeout=30) for _ in range(24)]
    try:
        assert listening_sockets(app.port) == 2
        for conn in conns:  # a burst of connections, then a request on each
            conn.connect()
        pids = []
        for conn in conns:
            conn.request("GET", "/")
            pids.append(json.loads(conn.getresponse().read())["worker"]["pid"])
        # Each keep-alive connection stays with its worker.
        for conn, pid in zip(conns, pids, strict=True):
            conn.request("GET", "/")
            assert json.loads(conn.getresponse().read())["worker"]["pid"] == pid
    finally:
        for conn in conns:
            conn.close()
        app.stop()
    counts = sorted(pids.count(p) for p in set(pids))
    # Two workers; a fair coin for each of 24 connections gives fewer than 3 on one side
    # about once in 30,000 runs.
    assert len(counts) == 2 and counts[0] >= 3, counts


def test_workers_share_one_socket_where_so_reuseport_is_missing(tmp_path):
    out_dir, model_path, reference = build_service(tmp_path, "sklearn", cpu=2)
    # The app's own main.py, run as the entry point, in an interpreter without SO_REUSEPORT.
    code = (
        "import runpy, socket, sys; del socket.SO_REUSEPORT; "
        "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    without = ("-c", code)
    app = App(out_dir, app_venv(out_dir / "app" / "requirements.txt"), model_path, tmp_path,
              python_args=without)
    try:
        app.wait_ready()
        assert listening_sockets(app.port) == 1
        pids = set()
        for _ in range(40):
            status, body = app.predict(ROWS.tolist())
            assert status == 200 and body["predictions"] == reference(ROWS)
            pids.add(app.request("GET", "/")[1]["worker"]["pid"])
        assert len(pids) == 2, pids  # both workers accept from the shared socket
        app.proc.send_signal(signal.SIGTERM)
        assert app.proc.wait(timeout=10) == 0, app.output()
    finally:
        app.stop()


def children_of(pid):
    """The pids of `pid`'s child processes (from /proc)."""
    return [p for p, parent in process_parents().items() if parent == pid]


def test_workers_exit_when_their_supervisor_is_killed(tmp_path):
    """A SIGKILLed supervisor (a killed PID 1, say) leaves no worker serving a stale model
    on its own."""
    app, _ = start(tmp_path, "sklearn", cpu=2)
    try:
        workers = children_of(app.proc.pid)
        assert len(workers) == 2, workers
        app.proc.kill()
        app.proc.wait()
        deadline = time.monotonic() + 30
        while running := [p for p in workers if p in process_parents()]:
            assert time.monotonic() < deadline, f"workers {running} outlived their supervisor"
            time.sleep(0.05)
    finally:
        app.stop()


def test_the_run_finds_the_servers_it_left_running(tmp_path):
    """What the check at the end of the run looks for: a server that this run started,
    orphaned or not; not a process of another kind, nor a server that another run started."""
    main = tmp_path / "app" / "main.py"
    main.parent.mkdir()
    main.write_text("import time\ntime.sleep(120)\n")
    server = [sys.executable, str(main)]
    others = [
        subprocess.Popen(["sleep", "120"]),  # this run's, not a server
        subprocess.Popen(server, env={"PATH": os.environ["PATH"]}),  # not this run's
    ]
    # Started by a shell that exits at once: orphaned, as a leaked worker is.
    orphan = f'{shlex.join(server)} </dev/null >/dev/null 2>&1 & echo $!'
    pid = int(subprocess.run(["sh", "-c", orphan], capture_output=True, check=True).stdout)
    try:
        deadline = time.monotonic() + 30
        while (found := servers_of_this_run()).get(pid) != " ".join(server):
            assert time.monotonic() < deadline, found
            time.sleep(0.05)
        assert not {p.pid for p in others} & set(found), found
    finally:
        os.kill(pid, signal.SIGKILL)
        for p in others:
            p.kill()
            p.wait()


@pytest.mark.parametrize("cpu", [1, 2])
def test_a_port_in_use_stops_the_container_with_the_reason(tmp_path, cpu):
    out_dir, model_path, _ = build_service(tmp_path, "sklearn", cpu=cpu)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        app = App(out_dir, app_venv(out_dir / "app" / "requirements.txt"), model_path,
                  tmp_path, port=taken.getsockname()[1])
        try:
            assert app.proc.wait(timeout=60) != 0, app.output()
            # Said in a JSON log line, not in a traceback.
            assert any(e["severity"] in ("ERROR", "CRITICAL") and "in use" in e["message"]
                       for e in app.logs()), app.output()
            assert "Traceback" not in app.output(), app.output()
        finally:
            app.stop()


# ---------------------------------------------------------------------------------------
# Readiness before the model loads; graceful shutdown.


@pytest.mark.parametrize("cpu", [1, 2])
def test_a_model_that_cannot_load_stops_the_container(tmp_path, cpu):
    out_dir, model_path, _ = build_service(tmp_path, "sklearn", cpu=cpu)
    model_path.write_bytes(b"not a model")
    app = App(out_dir, app_venv(out_dir / "app" / "requirements.txt"), model_path, tmp_path)
    try:
        # Exit 3 with the reason logged, rather than a revision that never becomes ready.
        assert app.proc.wait(timeout=60) == 3, app.output()
        assert any(e["severity"] == "CRITICAL" and "cannot load" in e["message"]
                   for e in app.logs())
    finally:
        app.stop()


def test_ready_answers_503_until_the_model_is_loaded(tmp_path):
    import joblib

    out_dir, model_path, reference = build_service(tmp_path, "sklearn")
    model = joblib.load(model_path)
    joblib.dump(_SlowModel(model, 3.0), model_path)
    app = App(out_dir, app_venv(out_dir / "app" / "requirements.txt"), model_path, tmp_path)
    try:
        seen = app.wait_ready()
        assert 503 in seen, seen
        assert app.request("GET", "/live")[0] == 200
        status, body = app.predict(ROWS.tolist())
        assert status == 200 and body["predictions"] == reference(ROWS)
    finally:
        app.stop()


@pytest.mark.parametrize("cpu", [1, 2])
def test_sigterm_finishes_in_flight_requests_and_exits(tmp_path, cpu):
    # cpu = 2: two workers under a supervising process, which passes SIGTERM on.
    app, reference = start(tmp_path, "sklearn", cpu=cpu)
    try:
        # A request whose body is still arriving when SIGTERM comes.
        conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=30)
        body = json.dumps({"instances": ROWS.tolist()}).encode()
        conn.putrequest("POST", "/predict")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        conn.send(body[:10])
        time.sleep(0.3)
        started = time.monotonic()
        app.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        conn.send(body[10:])
        resp = conn.getresponse()
        assert resp.status == 200
        assert json.loads(resp.read())["predictions"] == reference(ROWS)
        conn.close()
        app.proc.wait(timeout=10)
        assert time.monotonic() - started < 10
        assert app.proc.returncode == 0, app.output()
        # No longer accepting.
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", app.port), timeout=2).close()
    finally:
        app.stop()


HELD_CALL = """
import os, runpy, sys, time
started, release, main = sys.argv[1:]
sys.path.insert(0, os.path.dirname(main))
import server
from frameworks import Predictor


def load_model(path):
    def predict(X):  # microseconds a call, but a row starting with -1 holds it until released
        if X[0, 0] == -1:
            open(started, "w").close()
            deadline = time.monotonic() + 60
            while not os.path.exists(release) and time.monotonic() < deadline:
                time.sleep(0.01)
            # Released after SIGTERM: hold on past uvicorn's next look for it (every 0.1 s).
            time.sleep(0.3)
        return X[:, 0]

    return Predictor(predict)


server.load_model = load_model
sys.argv = [main]
runpy.run_path(main, run_name="__main__")
"""


def test_sigterm_answers_the_requests_queued_while_a_call_held_the_loop(tmp_path):
    """A model call estimated quick runs on the event loop; when one turns slow, requests
    that arrive meanwhile wait in the listen queue, unaccepted. SIGTERM then must not reset
    them: every request that reached the socket before SIGTERM is answered."""
    out_dir, model_path, _ = build_service(tmp_path, "sklearn")
    started, release = tmp_path / "started", tmp_path / "release"
    app = App(out_dir, app_venv(out_dir / "app" / "requirements.txt"), model_path, tmp_path,
              python_args=("-c", HELD_CALL, started, release))
    held = {}
    queued = [http.client.HTTPConnection("127.0.0.1", app.port, timeout=30) for _ in range(6)]
    holder = threading.Thread(target=lambda: held.update(answer=app.predict([[-1, 0, 0, 0]])))
    try:
        app.wait_ready()
        # The first call runs in the thread and times the model: microseconds, so the held
        # call runs on the loop.
        assert app.predict(ROWS.tolist()) == (200, {"predictions": ROWS[:, 0].tolist()})
        holder.start()
        deadline = time.monotonic() + 30
        while not started.exists():
            assert time.monotonic() < deadline, app.output()
            time.sleep(0.01)
        for i, conn in enumerate(queued):
            conn.request("POST", "/predict", json.dumps({"instances": [[i, 1, 2, 3]]}))
        app.proc.send_signal(signal.SIGTERM)
        release.touch()
        answers = []
        for conn in queued:
            try:
                resp = conn.getresponse()
                answers.append((resp.status, json.loads(resp.read())))
            except OSError as e:
                answers.append(repr(e))
        holder.join()
        assert answers == [(200, {"predictions": [float(i)]}) for i in range(len(queued))]
        assert held["answer"] == (200, {"predictions": [-1.0]})
        assert app.proc.wait(timeout=15) == 0, app.output()
    finally:
        for conn in queued:
            conn.close()
        app.stop()


def test_shutdown_waits_for_queued_connections_and_unread_requests(tmp_path):
    """What the shutdown lets the loop take in first: connections in the listen queue, and
    bytes unread on a connection with no request in progress (closing either resets it)."""
    out_dir, _, _ = build_service(tmp_path, "sklearn")
    main = runpy.run_path(str(out_dir / "app" / "main.py"))  # the standard library only
    untaken = main["untaken"]

    def connection(sock, cycle):  # the parts of a uvicorn protocol that the check reads
        transport = types.SimpleNamespace(get_extra_info={"socket": sock}.get)
        return types.SimpleNamespace(cycle=cycle, transport=transport)

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        queue = [listener.fileno()]
        assert not untaken(queue, [])
        with socket.create_connection(listener.getsockname()) as client:
            assert untaken(queue, [])
            accepted, _ = listener.accept()
            with accepted:
                assert not untaken(queue, [])
                idle = connection(accepted, None)
                answered = connection(accepted, types.SimpleNamespace(response_complete=True))
                reading = connection(accepted, types.SimpleNamespace(response_complete=False))
                assert not untaken([], [idle])
                client.sendall(b"GET / HTTP/1.1\r\n\r\n")
                select.select([accepted], [], [], 10)
                assert untaken([], [idle]) and untaken([], [answered])
                assert not untaken([], [reading])  # a request in progress reads its own body
                accepted.recv(1024)
                assert not untaken([], [idle])


# ---------------------------------------------------------------------------------------
# sklearn -> ONNX at build time.


def test_onnx_conversion_is_checked_and_served(tmp_path):
    out_dir, model_path, reference = build_service(
        tmp_path, "sklearn", serving="convert_to_onnx = true"
    )
    config = json.loads((out_dir / "app" / "config.json").read_text())
    assert config["serve_framework"] == "onnx"
    assert config["model_path"].endswith(".onnx")
    requirements = (out_dir / "app" / "requirements.txt").read_text()
    assert "onnxruntime==" in requirements and "scikit-learn" not in requirements
    dockerfile = (out_dir / "Dockerfile").read_text()
    assert "AS convert" in dockerfile and "COPY --from=convert" in dockerfile

    # The build stage's step, in a venv of the generated build requirements.
    build = app_venv(out_dir / "app" / "build-requirements.txt")
    onnx_path = tmp_path / "model.onnx"
    convert = [build / "bin" / "python", out_dir / "app" / "convert.py", "--features", "4"]
    done = subprocess.run([*convert, model_path, onnx_path], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "agrees" in done.stdout

    # A model that disagrees with the original fails the step (and so the build).
    import joblib
    from sklearn.linear_model import LogisticRegression

    X, y = iris()
    other = tmp_path / "other.joblib"
    joblib.dump(LogisticRegression(C=1e-4, max_iter=500).fit(X, y), other)
    failed = subprocess.run(
        [*convert, "--check", other, onnx_path], capture_output=True, text=True
    )
    assert failed.returncode == 1
    assert "disagrees" in failed.stderr

    # The converted model serves the original's predictions.
    app = App(out_dir, app_venv(out_dir / "app" / "requirements.txt"), onnx_path, tmp_path)
    try:
        app.wait_ready()
        status, body = app.predict(as_objects(ROWS))
        assert status == 200, body
        assert body["predictions"] == reference(ROWS)
    finally:
        app.stop()


def test_a_converted_classifier_gives_the_same_probabilities(tmp_path):
    def train(path):
        import joblib
        from sklearn.ensemble import RandomForestClassifier

        X, y = iris()
        model = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(X, y)
        joblib.dump(model, path)
        return model

    out_dir, model_path, model = build_service(
        tmp_path, "sklearn", serving="convert_to_onnx = true", model='output = "proba"',
        train=train,
    )
    build = app_venv(out_dir / "app" / "build-requirements.txt")
    onnx_path = tmp_path / "model.onnx"
    subprocess.run([build / "bin" / "python", out_dir / "app" / "convert.py", "--features", "4",
                    model_path, onnx_path], check=True)
    app = App(out_dir, app_venv(out_dir / "app" / "requirements.txt"), onnx_path, tmp_path)
    try:
        app.wait_ready()
        status, body = app.predict(ROWS.tolist())
        assert status == 200, body
        assert_probabilities(body, model.classes_.tolist(), model.predict_proba(ROWS))
    finally:
        app.stop()


def test_onnx_conversion_accepts_ties_and_refuses_real_disagreement(tmp_path):
    """A 100-tree forest splits its votes 50/50 on some rows: sklearn's argmax takes the
    first class there, ONNX Runtime's float32 sums may take the other. That is no
    disagreement; a model whose labels differ where its probabilities do not tie is."""
    import joblib
    import onnxruntime
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    out_dir, _, _ = build_service(tmp_path, "sklearn", serving="convert_to_onnx = true")
    build = app_venv(out_dir / "app" / "build-requirements.txt")
    convert = [build / "bin" / "python", out_dir / "app" / "convert.py", "--features", "20"]
    X, y = make_classification(
        n_samples=300, n_features=20, n_informative=4, n_redundant=0, random_state=1
    )
    forest = tmp_path / "forest.joblib"
    model = RandomForestClassifier(n_estimators=100, random_state=1).fit(X, y)
    joblib.dump(model, forest)
    onnx_path = tmp_path / "forest.onnx"
    done = subprocess.run([*convert, forest, onnx_path], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "agrees" in done.stdout

    # The case is real: the labels do differ, only on rows whose votes tie.
    sys.path.insert(0, str(out_dir / "app"))
    try:
        import convert as convert_module
    finally:
        sys.path.pop(0)
    rows = convert_module.sample_rows(20)
    session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: rows})[0]
    wrong = np.flatnonzero(got != model.predict(rows.astype(np.float64)))
    assert wrong.size > 0
    top2 = np.sort(model.predict_proba(rows[wrong].astype(np.float64)), axis=1)[:, -2:]
    np.testing.assert_allclose(top2[:, 0], top2[:, 1], atol=1e-6)

    # Another forest on the same data: labels differ where the votes do not tie.
    other = tmp_path / "other-forest.joblib"
    joblib.dump(RandomForestClassifier(n_estimators=100, random_state=2).fit(X, y), other)
    failed = subprocess.run([*convert, "--check", other, onnx_path], capture_output=True, text=True)
    assert failed.returncode == 1
    assert "labels differ" in failed.stderr


# ---------------------------------------------------------------------------------------
# Linters over the generated files.


def test_hadolint_passes_on_every_example(tmp_path, example):
    _, out_dir = copy_example(tmp_path, example)
    done = subprocess.run(
        [BIN / "hadolint", "--no-color", out_dir / "Dockerfile"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_passes_with_onnx_conversion(tmp_path):
    out_dir, _, _ = build_service(tmp_path, "sklearn", serving="convert_to_onnx = true")
    done = subprocess.run(
        [BIN / "hadolint", "--no-color", out_dir / "Dockerfile"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


RUFF = ["check", "--isolated", "--no-cache", "--target-version", "py311", "--line-length",
        "100", "--select", "E,F,W,B,UP,I,BLE,S,RUF"]


def test_generated_app_compiles_and_passes_ruff(tmp_path):
    dirs = [copy_example(tmp_path, e)[1] / "app" for e in EXAMPLES]
    dirs.append(build_service(tmp_path, "sklearn", serving="convert_to_onnx = true")[0] / "app")
    for app_dir in dirs:
        for py in app_dir.rglob("*.py"):
            subprocess.run([sys.executable, "-m", "py_compile", py], check=True)
        done = subprocess.run([BIN / "ruff", *RUFF, app_dir], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        json.loads((app_dir / "config.json").read_text())


def test_the_build_context_holds_what_the_dockerfile_copies(tmp_path, example):
    """Every COPY source exists under the spec's folder and the ignore file lets it through."""
    spec, out_dir = copy_example(tmp_path, example)
    ignore = (out_dir / "Dockerfile.dockerignore").read_text().splitlines()
    included = [line[1:].rstrip("/") for line in ignore if line.startswith("!")]
    assert "*" in ignore
    for line in (out_dir / "Dockerfile").read_text().splitlines():
        if not line.startswith("COPY ") or "--from=" in line:
            continue
        for src in line.split()[1:-1]:
            assert any(src == inc or src.startswith(inc + "/") for inc in included), src
            if src.startswith(out_dir.name + "/"):
                assert (spec.parent / src).is_file(), src


def test_gpu_services_get_the_gpu_packages_and_device(tmp_path):
    _, out_dir = copy_example(tmp_path, "forecast-gpu")
    config = json.loads((out_dir / "app" / "config.json").read_text())
    requirements = (out_dir / "app" / "requirements.txt").read_text().splitlines()
    assert config["device"] == "cuda" and config["workers"] == 1 and config["threads"] == 4
    assert any(r.startswith("xgboost==") for r in requirements)
    assert not any(r.startswith("xgboost-cpu==") for r in requirements)
    _, out_dir = copy_example(tmp_path, "iris-sklearn")
    config = json.loads((out_dir / "app" / "config.json").read_text())
    assert config["device"] == "cpu" and config["threads"] == 1


def gpu_onnx_service(tmp_path):
    """The GPU example serving an ONNX model instead, applied; returns its out_dir."""
    d = tmp_path / "onnx-gpu"
    shutil.copytree(ROOT / "examples" / "forecast-gpu", d, ignore=shutil.ignore_patterns("deploy"))
    spec = d / "mlgen.toml"
    text = spec.read_text().replace('"xgboost"', '"onnx"').replace("forecast.ubj", "forecast.onnx")
    spec.write_text(text)
    put_model(spec)
    mlgen("apply", spec)
    return d / "deploy"


def test_a_gpu_onnx_service_installs_onnxruntime_gpu_only_from_the_lock(tmp_path):
    """onnxruntime-gpu with the CUDA and cuDNN wheels it loads, each pinned with hashes and
    installed with --require-hashes; the CPU package is not there to shadow it."""
    out_dir = gpu_onnx_service(tmp_path)
    config = json.loads((out_dir / "app" / "config.json").read_text())
    assert config["device"] == "cuda" and config["serve_framework"] == "onnx"
    text = (out_dir / "app" / "requirements.txt").read_text()
    entries = [e for e in text.split("\n") if e and not e.startswith(("#", " "))]
    pins = [e.split(" ", 1)[0] for e in entries]
    assert "onnxruntime-gpu==1.22.0" in pins
    for lib in ("cudnn", "cublas", "cuda-runtime", "cufft", "curand", "cuda-nvrtc"):
        assert any(p.startswith(f"nvidia-{lib}-cu12==") for p in pins), (lib, pins)
    assert not any(p.startswith("onnxruntime==") for p in pins)
    # Every entry continues onto its hash lines: nothing enters unhashed.
    blocks = text.split("\n\n")[-1].strip().split("\n")
    hashed = [line for line in blocks if line.lstrip().startswith("--hash=sha256:")]
    assert len(hashed) >= len(pins), text[:2000]
    dockerfile = (out_dir / "Dockerfile").read_text()
    assert "--require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.txt" in dockerfile
    done = subprocess.run(
        [BIN / "hadolint", "--no-color", out_dir / "Dockerfile"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_onnx_on_a_gpu_asks_for_cuda_and_says_once_when_it_runs_on_the_cpu(tmp_path):
    """The app of a GPU service asks ONNX Runtime for CUDA first where the driver sees a GPU;
    where it sees none (here) it serves on the CPU and logs once which provider runs."""
    out_dir, model_path, reference = build_service(tmp_path, "onnx")
    config_path = out_dir / "app" / "config.json"
    config = json.loads(config_path.read_text())
    config["device"] = "cuda"  # what a GPU service's config says (the test above)
    config_path.write_text(json.dumps(config))
    app = App(out_dir, app_venv(out_dir / "app" / "requirements.txt"), model_path, tmp_path)
    try:
        app.wait_ready()
        status, body = app.predict(ROWS.tolist())
        assert status == 200, body
        assert_same(body["predictions"], reference(ROWS))
        said = [e for e in app.logs() if "provider" in e]
        assert len(said) == 1, said
        assert said[0]["severity"] == "WARNING" and said[0]["gpus"] == 0
        assert said[0]["provider"] == "CPUExecutionProvider"
        assert said[0]["message"].startswith("CUDA is unavailable"), said
    finally:
        app.stop()
    # Where the driver sees a GPU, CUDA is asked for first, the CPU after it.
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); from frameworks.onnx import providers; "
        "print(providers('cuda', 1), providers('cuda', 0), providers('cpu', 1))"
    )
    venv = app_venv(out_dir / "app" / "requirements.txt")
    done = subprocess.run(
        [venv / "bin" / "python", "-c", script, out_dir / "app"],
        capture_output=True, text=True, check=True, env={**RUN_ENV, "PATH": os.environ["PATH"]},
    )
    cpu = "['CPUExecutionProvider']"
    assert done.stdout.split("\n")[0] == f"['CUDAExecutionProvider', 'CPUExecutionProvider'] {cpu} {cpu}"


def test_onnx_on_a_cpu_service_asks_for_the_cpu_alone(tmp_path):
    app, _ = start(tmp_path, "onnx")
    try:
        assert not [e for e in app.logs() if "provider" in e]
        assert "CUDAExecutionProvider" not in app.err_path.read_text()
    finally:
        app.stop()


def test_hadolint_can_fail(tmp_path):
    """The Dockerfile linter catches what the generated Dockerfile avoids."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nCMD python app.py\n")
    done = subprocess.run([BIN / "hadolint", "--no-color", bad], capture_output=True, text=True)
    assert done.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3025"):  # latest tag, unpinned apt, shell-form CMD
        assert rule in done.stdout, done.stdout


def test_ruff_can_fail(tmp_path):
    """The rule set the app is held to rejects common defects."""
    bad = tmp_path / "app"
    bad.mkdir()
    (bad / "server.py").write_text("import os\nimport pickle\n\ndef f(x):\n    return pickle.loads(x) + y\n")
    done = subprocess.run([BIN / "ruff", *RUFF, bad], capture_output=True, text=True)
    assert done.returncode != 0
    for rule in ("F401", "F821", "S301"):  # unused import, undefined name, unsafe pickle
        assert rule in done.stdout, done.stdout
