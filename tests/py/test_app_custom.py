"""Custom handlers (`framework = "custom"`), end to end: the spec's own Python class serves a
text model and a tabular model with pre- and post-processing; batchable, plain and async
handlers; and the error contract: ValueError is a 422, any other exception a 500 logged with
its request id, a load that raises leaves the service unready, and the process keeps
serving after every bad request.
"""

import json
import shutil
import textwrap
import time

import numpy as np
import pytest
import test_app_e2e as e2e
from conftest import ROOT, mlgen, render_spec_text
from test_app_e2e import App, app_venv, assert_error, in_threads, iris

SPEC = """
[service]
name = "e2e-custom"
project = "test-project"
region = "europe-west1"
deletion_protection = false

[model]
framework = "custom"
handler = "{handler}"
{source}
{features}

[container]
python = "3.11"
requirements = [
  "cloudpickle==3.1.3", "joblib==1.6.0", "scikit-learn==1.6.1", "scipy==1.17.1",
  "threadpoolctl==3.8.0",
]
include = {include}

[image]
repository = "models"
tag = "1.0.0"

[service_account]
account_id = "e2e-custom-run"

[serving]
max_batch_wait_ms = 20
"""

TEXTS = [
    "great phone, I love it",
    "terrible battery, broke in a week",
    "excellent value, works perfectly",
    "waste of money, asking for a refund",
]
LABELS = ["good", "bad", "good", "bad"]


def start(
    tmp_path, handler_source, train=None, features="", include="[]", files=None, source=True
):
    """Renders a custom service whose handler file is `handler_source` (with `files` beside
    it), writes its model with `train(path)` and starts its app, not yet ready; returns the
    app and what `train` returned. Without `source`, the spec names no model file."""
    folder = tmp_path / "custom"
    (folder / "models").mkdir(parents=True)
    (folder / "serve.py").write_text(textwrap.dedent(handler_source))
    for path, text in (files or {}).items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
    text = SPEC.format(
        handler="serve.py:Model",
        source='source = "models/model.joblib"' if source else "",
        features=features,
        include=include,
    )
    _, out_dir = render_spec_text(tmp_path, text, name="custom")
    model_path = folder / "models" / "model.joblib"
    reference = train(model_path) if train else None
    # The image holds the handler in /app/handler, laid out as beside the spec.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(e2e, "RUN_ENV", {**e2e.RUN_ENV, "MLGEN_HANDLER_DIR": str(folder)})
        venv = app_venv(out_dir / "app" / "requirements.txt")
        # An empty MLGEN_MODEL_PATH leaves the spec's path (None without a source).
        return App(out_dir, venv, model_path if source else "", tmp_path), reference


def train_text(path):
    """TF-IDF and logistic regression over raw review texts."""
    import joblib
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(TEXTS * 3, LABELS * 3)
    joblib.dump(model, path)
    return model


# A text classifier: each instance is a raw string. Each prediction carries the size of the
# model call it was in, which shows whether requests shared one.
TEXT_HANDLER = """
    import time

    import joblib


    class Model:
        batchable = True

        def load(self, path):
            self.pipeline = joblib.load(path)

        def predict(self, instances):
            for i, text in enumerate(instances):
                if not isinstance(text, str):
                    raise ValueError(f"instances[{i}] must be a text")
                if text == "crash":
                    raise RuntimeError("the tokenizer broke")
            time.sleep(0.02)  # long enough for concurrent requests to queue
            labels = self.pipeline.predict(instances).tolist()
            if instances[0] == "short":
                return labels[:-1]
            if instances[0] == "not json":
                return [{1, 2}] * len(instances)
            return [{"label": label, "call": len(instances)} for label in labels]
"""


@pytest.fixture(scope="module")
def text_app(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("text")
    app, model = start(tmp_path, TEXT_HANDLER, train_text)
    app.wait_ready()
    yield app, model
    app.stop()


def test_a_text_handler_serves_raw_strings(text_app):
    app, model = text_app
    status, body = app.predict(TEXTS)
    assert status == 200, body
    assert [p["label"] for p in body["predictions"]] == model.predict(TEXTS).tolist()
    assert [p["label"] for p in body["predictions"]] == LABELS


def test_a_batchable_handler_shares_calls_between_requests(text_app):
    app, _ = text_app
    results = {}

    def call(i):
        results[i] = app.predict([TEXTS[i % 4]])

    in_threads(call, range(16))
    for i, (status, body) in results.items():
        assert status == 200, body
        assert body["predictions"][0]["label"] == LABELS[i % 4]
    assert max(body["predictions"][0]["call"] for _, body in results.values()) > 1


def test_handler_errors_are_json_and_the_app_keeps_serving(text_app):
    app, _ = text_app
    assert_error(app.predict(["fine", 3]), 422, "instances[1] must be a text")
    result = app.predict(["crash"])
    assert_error(result, 500, "model failed")
    assert "tokenizer" not in json.dumps(result[1])
    entry = next(e for e in app.logs() if e.get("request_id") == result[1]["request_id"])
    assert (
        entry["severity"] == "ERROR" and "RuntimeError: the tokenizer broke" in entry["exception"]
    )
    assert "Traceback" in entry["traceback"]
    result = app.predict(["short", "two"])
    assert_error(result, 500)
    entry = next(e for e in app.logs() if e.get("request_id") == result[1]["request_id"])
    assert "returned 1 predictions for 2 instances" in entry["exception"]
    assert_error(app.predict(["not json"]), 500, "not JSON")
    # A bad request in a shared call fails alone.
    results = {}

    def call(i):
        results[i] = app.predict([3] if i % 4 == 0 else [TEXTS[0]])

    in_threads(call, range(12))
    for i, (status, body) in results.items():
        assert status == (422 if i % 4 == 0 else 200), body
    status, body = app.predict(TEXTS)
    assert status == 200 and len(body["predictions"]) == 4


# A tabular model wrapped with pre-processing (a derived feature, from the typed rows) and
# post-processing (a label and its probability).
TABULAR_HANDLER = """
    import json
    from pathlib import Path

    import joblib
    import numpy as np

    HERE = Path(__file__).parent


    def derived(row):
        if row["petal_length"] is None:
            raise ValueError("petal_length is required")
        return [row["sepal_length"], row["petal_length"], row["petal_length"] * row["petal_width"]]


    class Model:
        def load(self, path):
            self.model = joblib.load(path)
            self.names = json.loads((HERE / "meta" / "names.json").read_text())

        def predict(self, instances):
            proba = self.model.predict_proba(np.array([derived(r) for r in instances]))
            return [
                {"species": self.names[int(p.argmax())], "p": round(float(p.max()), 6)}
                for p in proba
            ]
"""


def test_a_tabular_handler_with_pre_and_post_processing(tmp_path):
    import joblib
    from sklearn.linear_model import LogisticRegression

    X, y = iris()
    names = sorted(set(y))
    features = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    derived = np.column_stack([X[:, 0], X[:, 2], X[:, 2] * X[:, 3]])

    def train(path):
        model = LogisticRegression(max_iter=1000).fit(derived, [names.index(s) for s in y])
        joblib.dump(model, path)
        return model

    app, model = start(
        tmp_path,
        TABULAR_HANDLER,
        train,
        features=f"features = {json.dumps(features)}",
        include='["meta/"]',
        files={"meta/names.json": json.dumps(names)},
    )
    try:
        app.wait_ready()
        rows = X[[0, 60, 120]]
        status, body = app.predict(rows.tolist())
        assert status == 200, body
        proba = model.predict_proba(derived[[0, 60, 120]])
        assert [p["species"] for p in body["predictions"]] == [names[i] for i in proba.argmax(1)]
        np.testing.assert_allclose([p["p"] for p in body["predictions"]], proba.max(1), atol=1e-6)
        # Objects by name reach the handler the same; the app checks them first.
        status, again = app.predict([dict(zip(features, r, strict=True)) for r in rows.tolist()])
        assert again == body
        assert_error(app.predict([[1, 2, 3]]), 422, "takes 4")
        assert_error(app.predict([[1, 2, None, 4]]), 422, "petal_length is required")
        assert app.predict(rows.tolist()) == (200, body)
    finally:
        app.stop()


ASYNC_HANDLER = """
    import asyncio


    class Model:
        def load(self, path):
            self.path = path

        async def predict(self, instances):
            await asyncio.sleep(0.2)
            if instances == ["bad"]:
                raise ValueError("bad is not an instance")
            return [len(instances)] * len(instances)
"""


def test_an_async_handler_is_awaited_per_request_on_the_loop(tmp_path):
    app, _ = start(tmp_path, ASYNC_HANDLER)
    try:
        app.wait_ready()
        results = {}
        started = time.monotonic()
        in_threads(lambda i: results.update({i: app.predict([i] * (1 + i % 2))}), range(10))
        elapsed = time.monotonic() - started
        # Ten calls of 0.2 s each, awaited side by side rather than one after another.
        assert elapsed < 1.0, elapsed
        for i, (status, body) in results.items():
            assert (status, body["predictions"]) == (200, [1 + i % 2] * (1 + i % 2))
        assert_error(app.predict(["bad"]), 422, "bad is not an instance")
        assert app.predict([{"any": ["json"]}]) == (200, {"predictions": [1]})
    finally:
        app.stop()


PLAIN_HANDLER = """
    import time


    class Model:
        def load(self, path):
            pass

        def predict(self, instances):
            time.sleep(0.02)
            return [len(instances)] * len(instances)
"""


def test_a_handler_that_is_not_batchable_gets_a_call_per_request(tmp_path):
    app, _ = start(tmp_path, PLAIN_HANDLER)
    try:
        app.wait_ready()
        results = {}
        in_threads(lambda i: results.update({i: app.predict(["x"] * (1 + i % 3))}), range(12))
        for i, (status, body) in results.items():
            assert (status, body["predictions"]) == (200, [1 + i % 3] * (1 + i % 3))
    finally:
        app.stop()


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        (
            "class Model:\n    def load(self, path):\n        open('/nonexistent/weights.bin')\n",
            "FileNotFoundError",
        ),
        (
            "class Model:\n    def load(self, path):\n        pass\n",
            "has no attribute 'predict'",
        ),
        ("class Other:\n    pass\n", "has no class Model"),
        ("import not_installed_anywhere\n", "No module named 'not_installed_anywhere'"),
    ],
)
def test_a_handler_that_cannot_load_leaves_the_service_unready(tmp_path, handler, reason):
    app, _ = start(tmp_path, handler)
    try:
        deadline = time.monotonic() + 60
        while not any(e["severity"] == "CRITICAL" for e in app.logs()):
            assert time.monotonic() < deadline and app.proc.poll() is None, app.output()
            time.sleep(0.05)
        critical = next(e for e in app.logs() if e["severity"] == "CRITICAL")
        assert "serve.py:Model did not load" in critical["message"]
        assert reason in critical["message"], critical
        for _ in range(3):
            assert app.request("GET", "/ready") == (503, {"status": "failed"})
        assert_error(app.predict(["x"]), 503, "did not load")
        assert app.request("GET", "/live")[0] == 200
        assert app.proc.poll() is None
    finally:
        app.stop()


# Answers each row's values with their Python types, as the handler received them.
TYPES_HANDLER = """
    class Model:
        def load(self, path):
            self.path = path

        def predict(self, instances):
            return [{k: [type(v).__name__, v] for k, v in row.items()} for row in instances]
"""

TYPED = """features = [
  { name = "n", type = "integer" },
  "x",
  { name = "flag", type = "boolean" },
  { name = "note", type = "string" },
  { name = "plan", type = "category", values = ["free", "pro"] },
]"""


def test_typed_features_reach_the_handler_with_their_types(tmp_path):
    app, _ = start(tmp_path, TYPES_HANDLER, features=TYPED)
    try:
        app.wait_ready()
        rows = [[3, 2, True, "hi", "pro"], {"n": 4.0, "x": None, "flag": False, "note": "",
                                            "plan": None}]
        status, body = app.predict(rows)
        assert status == 200, body
        assert body["predictions"] == [
            {"n": ["int", 3], "x": ["float", 2.0], "flag": ["bool", True],
             "note": ["str", "hi"], "plan": ["str", "pro"]},
            {"n": ["int", 4], "x": ["NoneType", None], "flag": ["bool", False],
             "note": ["str", ""], "plan": ["NoneType", None]},
        ]
        assert_error(app.predict([[3.5, 2, True, "hi", "pro"]]), 422, "`n`", "whole number")
        assert_error(app.predict([[3, 2, 1, "hi", "pro"]]), 422, "`flag`", "true or false")
        assert_error(app.predict([[3, 2, True, "hi", "gold"]]), 422, "`plan`", '"gold"')
        # The same rows through the Open Inference Protocol, one tensor per feature.
        tensors = [
            {"name": "n", "datatype": "INT64", "shape": [1], "data": [3]},
            {"name": "x", "datatype": "INT32", "shape": [1], "data": [2]},
            {"name": "flag", "datatype": "BOOL", "shape": [1], "data": [True]},
            {"name": "note", "datatype": "BYTES", "shape": [1], "data": ["hi"]},
            {"name": "plan", "datatype": "BYTES", "shape": [1], "data": ["pro"]},
        ]
        status, body = app.request("POST", "/v2/models/e2e-custom/infer", {"inputs": tensors})
        assert status == 200, body
        (out,) = body["outputs"]
        assert out["datatype"] == "BYTES"
        assert json.loads(out["data"][0]) == {
            "n": ["int", 3], "x": ["float", 2.0], "flag": ["bool", True],
            "note": ["str", "hi"], "plan": ["str", "pro"],
        }
    finally:
        app.stop()


def test_a_handler_without_a_source_loads_from_none(tmp_path):
    handler = """
        class Model:
            def load(self, path):
                self.path = path

            def predict(self, instances):
                return [repr(self.path)] * len(instances)
    """
    app, _ = start(tmp_path, handler, source=False)
    try:
        app.wait_ready()
        assert app.predict(["a", "b"]) == (200, {"predictions": ["None", "None"]})
    finally:
        app.stop()


def test_a_handler_package_outside_every_stack_comes_from_the_specs_lock(tmp_path):
    """tokenizers is in no locked stack of mlgen's: the image installs the spec's mlgen.lock
    (written by `mlgen lock`), hashes checked, and the handler imports it."""
    folder = tmp_path / "spec-lock"
    shutil.copytree(ROOT / "tests" / "data" / "spec-lock", folder)
    mlgen("apply", folder / "mlgen.toml")
    out_dir = folder / "deploy"
    requirements = (out_dir / "app" / "requirements.txt").read_text()
    assert "\ntokenizers==0.23.3 \\\n    --hash=sha256:" in requirements
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(e2e, "RUN_ENV", {**e2e.RUN_ENV, "MLGEN_HANDLER_DIR": str(folder)})
        app = App(out_dir, app_venv(out_dir / "app" / "requirements.txt"), "", tmp_path)
    try:
        app.wait_ready()
        assert app.predict(["two words", "and three more"]) == (200, {"predictions": [2, 3]})
    finally:
        app.stop()
