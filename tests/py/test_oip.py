"""The Open Inference Protocol (v2 REST) of the generated app, called by the protocol's own
clients from PyPI: tritonclient[http] (JSON and binary tensor data) and kserve's REST
client. They run in their own virtualenv (tests/requirements/isolated/oip.txt) against the
app a test starts: an sklearn classifier (numbers in, labels out), an xgboost model (numbers
out) and a custom text handler (strings in). Wrong shapes and datatypes get the protocol's
{"error": ...} with 400, and the app keeps serving.
"""

import json
import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
import test_app_custom
from conftest import ROOT
from test_app_e2e import (
    FEATURES,
    ROWS,
    TABULAR_NAMES,
    TABULAR_ROWS,
    App,
    app_venv,
    assert_error,
    build_service,
    proba_xgboost,
    start,
    start_pipeline,
)

VENV = Path(os.environ.get("MLGEN_VENV", ROOT / ".venv"))
PYTHON = VENV / "isolated" / "oip" / "bin" / "python"

# Runs calls given as JSON with the real clients; prints one JSON result per call.
CLIENT = """
import asyncio
import json
import sys

import numpy as np


def array(t):
    if t["datatype"] == "BYTES":
        return np.array(t["data"], dtype=object)
    from tritonclient.utils import triton_to_np_dtype

    return np.array(t["data"], dtype=triton_to_np_dtype(t["datatype"]))


def plain(values):
    return [v.decode() if isinstance(v, bytes) else v for v in values.ravel().tolist()]


def triton(url, model, call):
    import tritonclient.http as http

    client = http.InferenceServerClient(url)
    if call["kind"] == "health":
        return {
            "live": client.is_server_live(),
            "ready": client.is_server_ready(),
            "model_ready": client.is_model_ready(model),
            "metadata": client.get_model_metadata(model),
            "server": client.get_server_metadata(),
        }
    inputs = []
    for t in call["inputs"]:
        a = array(t)
        i = http.InferInput(t["name"], list(a.shape), t["datatype"])
        i.set_data_from_numpy(a, binary_data=call["binary"])
        inputs.append(i)
    # Without `outputs` the client asks for every output in binary.
    names = call.get("outputs", ["predictions"])
    outputs = None
    if not call.get("default_outputs"):
        outputs = [http.InferRequestedOutput(n, binary_data=call["binary"]) for n in names]
    result = client.infer(model, inputs, outputs=outputs, request_id=call.get("id", ""))
    got = {}
    for name in names:
        out = result.get_output(name)
        values = result.as_numpy(name)
        got[name] = {
            "datatype": out["datatype"],
            "shape": list(values.shape),
            "data": plain(values),
            "binary": "binary_data_size" in out.get("parameters", {}),
        }
    # The first output's fields, and every output by name.
    return {"id": result.get_response().get("id"), **got[names[0]], "outputs": got}


async def kserve(url, model, call):
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    base = f"http://{url}"
    try:
        if call["kind"] == "health":
            return {
                "live": await client.is_server_live(base),
                "ready": await client.is_server_ready(base),
                "model_ready": await client.is_model_ready(base, model),
            }
        inputs = []
        for t in call["inputs"]:
            a = array(t)
            i = InferInput(t["name"], list(a.shape), t["datatype"])
            i.set_data_from_numpy(a, binary_data=call["binary"])
            inputs.append(i)
        request = InferRequest(model, inputs, request_id=call.get("id"))
        result = await client.infer(base, request, model_name=model)
        got = {
            out.name: {
                "datatype": out.datatype,
                "shape": list(out.shape),
                "data": plain(np.asarray(out.as_numpy())),
            }
            for out in result.outputs
        }
        first = got[result.outputs[0].name]
        return {"id": result.id, **first, "outputs": got}
    finally:
        await client.close()


def run(url, model, call):
    try:
        if call["client"] == "triton":
            return {"ok": triton(url, model, call)}
        return {"ok": asyncio.run(kserve(url, model, call))}
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}


url, model, calls = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(json.dumps([run(url, model, c) for c in calls], default=str))
"""


def clients(tmp_path, app, model, calls):
    """The clients' results for `calls`, run against `app`."""
    if not PYTHON.exists():
        pytest.fail(f"no {PYTHON}: run scripts/venv to create the clients' virtualenv")
    script = tmp_path / "oip_client.py"
    script.write_text(textwrap.dedent(CLIENT))
    done = subprocess.run(
        [PYTHON, script, f"127.0.0.1:{app.port}", model, json.dumps(calls)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def infer(client, inputs, binary=False, **kw):
    return {"client": client, "kind": "infer", "inputs": inputs, "binary": binary, **kw}


def matrix(rows, datatype="FP32"):
    return [{"name": "input-0", "datatype": datatype, "data": rows.tolist()}]


def by_feature(rows):
    return [
        {"name": f, "datatype": "FP64", "data": rows[:, j].tolist()} for j, f in enumerate(FEATURES)
    ]


@pytest.fixture(scope="module")
def sk(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("oip-sk")
    app, reference = start(tmp_path, "sklearn")
    yield app, reference, tmp_path
    app.stop()


MODEL = "e2e-svc"


def test_health_and_metadata_with_both_clients(sk):
    app, _, tmp_path = sk
    triton, kserve = clients(
        tmp_path,
        app,
        MODEL,
        [{"client": "triton", "kind": "health"}, {"client": "kserve", "kind": "health"}],
    )
    assert triton["ok"]["live"] and triton["ok"]["ready"] and triton["ok"]["model_ready"]
    metadata = triton["ok"]["metadata"]
    assert metadata["name"] == MODEL
    assert [(i["name"], i["datatype"], i["shape"]) for i in metadata["inputs"]] == [
        (f, "FP64", [-1]) for f in FEATURES
    ]
    assert [o["name"] for o in metadata["outputs"]] == ["predictions"]
    assert triton["ok"]["server"]["name"] == MODEL
    assert kserve["ok"] == {"live": True, "ready": True, "model_ready": True}


def test_sklearn_labels_from_every_client_and_tensor_layout(sk):
    app, reference, tmp_path = sk
    want = reference(ROWS)
    calls = [
        infer("triton", matrix(ROWS), id="req-1"),
        infer("triton", matrix(ROWS), binary=True),
        infer("triton", matrix(ROWS, "FP64"), binary=True, default_outputs=True),
        infer("triton", by_feature(ROWS)),
        infer("kserve", matrix(ROWS), id="req-2"),
        infer("kserve", by_feature(ROWS), binary=True),
    ]
    results = clients(tmp_path, app, MODEL, calls)
    for call, result in zip(calls, results, strict=True):
        assert "ok" in result, (call, result)
        got = result["ok"]
        assert (got["datatype"], got["shape"], got["data"]) == ("BYTES", [4], want), (call, got)
        if "id" in call:  # echoed (kserve's client makes one up when not given)
            assert got["id"] == call["id"], got
    assert [r["ok"].get("binary") for r in results[:3]] == [False, True, True]


def test_numeric_predictions_are_numeric_tensors(tmp_path):
    app, reference = start(tmp_path, "xgboost")
    try:
        calls = [infer("triton", matrix(ROWS)), infer("kserve", matrix(ROWS, "FP64"), binary=True)]
        for result in clients(tmp_path, app, MODEL, calls):
            got = result["ok"]
            assert (got["datatype"], got["shape"]) == ("FP64", [4]), got
            np.testing.assert_allclose(got["data"], reference(ROWS), rtol=1e-6)
    finally:
        app.stop()


def test_wrong_shapes_and_datatypes_get_400_and_the_app_keeps_serving(sk):
    app, reference, tmp_path = sk
    calls = [
        infer("triton", matrix(ROWS[:, :3])),
        infer("triton", [{"name": "x", "datatype": "BYTES", "data": [["a"] * 4]}]),
        infer("kserve", by_feature(ROWS)[:3]),
        infer("triton", matrix(np.array([[1, 0, 1, 0]], dtype=bool), "BOOL")),
    ]
    results = clients(tmp_path, app, MODEL, calls)
    assert all("error" in r and "400" in r["error"] for r in results), results
    assert "[N, 4]" in results[0]["error"]
    def post(body, **kw):
        return app.request("POST", f"/v2/models/{MODEL}/infer", body, **kw)

    tensor = {"name": "input-0", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}
    assert_error(post(b"{"), 400, "not valid JSON")
    assert_error(post({"inputs": []}), 400, "empty")
    assert_error(post({"inputs": [{**tensor, "shape": [2, 4]}]}), 400, "4 values", "needs 8")
    assert_error(post({"inputs": [{**tensor, "datatype": "FP128"}]}), 400, "FP128")
    assert_error(post({"inputs": [{**tensor, "data": [1, "2", 3, 4]}]}), 400, "FP32")
    assert_error(post({"inputs": [{**tensor, "data": [[1, 2], [3]]}]}), 400, "regular")
    assert_error(
        post({"inputs": [tensor], "outputs": [{"name": "probabilities"}]}), 400, "probabilities"
    )
    binary = {"inputs": [{**tensor, "parameters": {"binary_data_size": 64}}]}
    head = json.dumps(binary).encode()
    assert_error(
        post(head + b"\0" * 16, headers={"Inference-Header-Content-Length": str(len(head))}),
        400,
        "shorter",
    )
    assert_error(app.request("POST", "/v2/models/other/infer", {"inputs": [tensor]}), 404, MODEL)
    assert_error(app.request("GET", f"/v2/models/{MODEL}/infer"), 405)
    status, body = post({"id": "7", "inputs": [{**tensor, "data": ROWS[:1].tolist()}]})
    assert status == 200 and body["id"] == "7", body
    assert body["outputs"][0]["data"] == reference(ROWS[:1])


def test_a_custom_text_handler_takes_bytes_tensors(tmp_path):
    app, model = test_app_custom.start(
        tmp_path, test_app_custom.TEXT_HANDLER, test_app_custom.train_text
    )
    texts = test_app_custom.TEXTS
    try:
        app.wait_ready()
        strings = [{"name": "text", "datatype": "BYTES", "data": texts}]
        calls = [
            infer("triton", strings),
            infer("triton", strings, binary=True),
            infer("kserve", strings),
        ]
        for result in clients(tmp_path, app, "e2e-custom", calls):
            got = result["ok"]
            assert (got["datatype"], got["shape"]) == ("BYTES", [4]), got
            labels = [json.loads(p)["label"] for p in got["data"]]
            assert labels == model.predict(texts).tolist()
        # The handler's ValueError is the client's mistake here too.
        numbers = [{"name": "text", "datatype": "INT64", "data": [1, 2]}]
        (result,) = clients(tmp_path, app, "e2e-custom", [infer("triton", numbers)])
        assert "must be a text" in result["error"], result
    finally:
        app.stop()


# The typed features' tensors: integer, number, category, boolean, string.
TABULAR_DATATYPES = ["INT64", "FP64", "BYTES", "BOOL", "BYTES"]


def typed_tensors(rows, datatypes=TABULAR_DATATYPES):
    return [
        {"name": f, "datatype": d, "data": [r[j] for r in rows]}
        for j, (f, d) in enumerate(zip(TABULAR_NAMES, datatypes, strict=True))
    ]


def test_typed_features_take_bytes_for_text_and_numbers_for_the_rest(tmp_path):
    app, want = start_pipeline(tmp_path)
    try:
        calls = [
            {"client": "triton", "kind": "health"},
            infer("triton", typed_tensors(TABULAR_ROWS)),
            infer("triton", typed_tensors(TABULAR_ROWS), binary=True),
            infer("kserve", typed_tensors(TABULAR_ROWS)),
            # A whole number in an FP tensor is still an integer.
            infer(
                "triton", typed_tensors(TABULAR_ROWS, ["FP32", "FP32", "BYTES", "BOOL", "BYTES"])
            ),
        ]
        health, *results = clients(tmp_path, app, "e2e-pipeline", calls)
        inputs = health["ok"]["metadata"]["inputs"]
        assert [(i["name"], i["datatype"]) for i in inputs] == list(
            zip(TABULAR_NAMES, TABULAR_DATATYPES, strict=True)
        )
        for call, result in zip(calls[1:], results, strict=True):
            assert "ok" in result, (call, result)
            got = result["ok"]
            assert (got["datatype"], got["data"]) == ("BYTES", want["predict"]), (call, got)

        row = TABULAR_ROWS[0]  # [3, 20.5, "free", False, "eu"]
        wrong = [
            # A category sent as a number, a number as text, a boolean as 0 or 1.
            ([*row[:2], 1.0, *row[3:]], "FP64", 2, "`plan` is category: send BYTES"),
            ([row[0], "20.5", *row[2:]], "BYTES", 1, "`charges` is number: send a numeric"),
            ([*row[:3], 0, row[4]], "INT64", 3, "`promo` must be true or false"),
        ]
        calls = []
        for values, datatype, at, _ in wrong:
            datatypes = list(TABULAR_DATATYPES)
            datatypes[at] = datatype
            calls.append(infer("triton", typed_tensors([values], datatypes)))
        for (*_, says), result in zip(wrong, clients(tmp_path, app, "e2e-pipeline", calls), strict=True):
            assert "400" in result["error"] and says in result["error"], result
        # Features of both kinds cannot share one [N, F] tensor.
        def post(body):
            return app.request("POST", "/v2/models/e2e-pipeline/infer", body)

        mixed = {"name": "x", "shape": [1, 5], "datatype": "BYTES", "data": ["a"] * 5}
        assert_error(post({"inputs": [mixed]}), 400, "`tenure` is integer")
        assert app.predict(TABULAR_ROWS) == (200, {"predictions": want["predict"]})
    finally:
        app.stop()


def test_probabilities_are_a_classes_and_a_scores_tensor(tmp_path):
    app, want = start_pipeline(tmp_path, model='output = "proba"', classes="low,mid,high")
    try:
        n, k = len(TABULAR_ROWS), len(want["classes"])
        both = ["classes", "scores"]
        calls = [
            {"client": "triton", "kind": "health"},
            infer("triton", typed_tensors(TABULAR_ROWS), outputs=both),
            infer("triton", typed_tensors(TABULAR_ROWS), binary=True, outputs=both),
            infer("triton", typed_tensors(TABULAR_ROWS), outputs=["scores"]),
            infer("kserve", typed_tensors(TABULAR_ROWS), outputs=both),
        ]
        health, *results = clients(tmp_path, app, "e2e-pipeline", calls)
        outputs = health["ok"]["metadata"]["outputs"]
        assert [(o["name"], o["datatype"], o["shape"]) for o in outputs] == [
            ("classes", "BYTES", [-1, -1]),
            ("scores", "FP64", [-1, -1]),
        ]
        for call, result in zip(calls[1:], results, strict=True):
            got = result["ok"]["outputs"]
            assert set(got) == set(call["outputs"]), (call, got)
            scores = got["scores"]
            assert (scores["datatype"], scores["shape"]) == ("FP64", [n, k]), scores
            np.testing.assert_allclose(
                np.reshape(scores["data"], (n, k)), want["proba"], rtol=1e-5, atol=1e-6
            )
            if "classes" in got:
                classes = got["classes"]
                assert (classes["datatype"], classes["shape"]) == ("BYTES", [n, k]), classes
                assert classes["data"] == want["classes"] * n
        def post(body):
            return app.request("POST", "/v2/models/e2e-pipeline/infer", body)

        tensors = [{**t, "shape": [n]} for t in typed_tensors(TABULAR_ROWS)]
        # The outputs asked for, in the order asked.
        for wanted in (["scores"], ["scores", "classes"]):
            asked = [{"name": name} for name in wanted]
            status, body = post({"inputs": tensors, "outputs": asked})
            assert status == 200, body
            assert [o["name"] for o in body["outputs"]] == wanted
        assert_error(
            post({"inputs": tensors, "outputs": [{"name": "predictions"}]}),
            400,
            "`classes`, `scores`",
        )
    finally:
        app.stop()


def test_labels_that_are_numbers_are_classes_as_text(tmp_path):
    out_dir, model_path, (classes, proba) = build_service(
        tmp_path, "xgboost", model='output = "proba"', train=proba_xgboost("multi:softprob")
    )
    app = App(out_dir, app_venv(out_dir / "app" / "requirements.txt"), model_path, tmp_path)
    try:
        app.wait_ready()
        tensor = {"name": "x", "shape": list(ROWS.shape), "datatype": "FP64", "data": ROWS.tolist()}
        status, body = app.request("POST", f"/v2/models/{MODEL}/infer", {"inputs": [tensor]})
        assert status == 200, body
        got = {o["name"]: o for o in body["outputs"]}
        assert got["classes"]["data"] == [str(c) for c in classes] * len(ROWS)
        np.testing.assert_allclose(got["scores"]["data"], proba(ROWS).ravel(), rtol=1e-5)
    finally:
        app.stop()
