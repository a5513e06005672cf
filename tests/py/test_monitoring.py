"""[monitoring] in every target: the documents fit the Monitoring API's message types and
name only Cloud Run's published metrics, Terraform fits the provider schema, Pulumi runs under
its mocks, the gcloud script runs (twice: it updates, it does not duplicate) against a
stand-in, and all three create the same alert policies the model decides."""

import copy
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import monitoring_api
import pytest
import tf_validate
from conftest import ROOT, copy_example, model_of, render_spec_text
from gcloud_runner import Gcloud, ok
from pulumi_harness import run_program

STANDIN = ROOT / "tests" / "py" / "monitoring_standin.py"
SHELLCHECK = Path(sys.executable).parent / "shellcheck"
DOC_TYPES = {
    "policy": "AlertPolicy",
    "channel": "NotificationChannel",
    "dashboard": "Dashboard",
}
# The stand-in finds the SDK's message types here, not through the `gcloud` it replaces.
os.environ.setdefault("MLGEN_GCLOUD_SDK", str(monitoring_api.sdk_lib().parent))
GPU_SPEC = (
    ROOT / "examples" / "forecast-gpu" / "mlgen.toml"
).read_text() + "\n[monitoring]\n"


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    """(spec, output folder) of the example with [monitoring]: public, so with an uptime check."""
    return copy_example(tmp_path_factory.mktemp("churn"), "churn-public")


@pytest.fixture(scope="module")
def gpu(tmp_path_factory):
    """(spec, output folder) of a GPU service behind internal ingress, with [monitoring]."""
    return render_spec_text(tmp_path_factory.mktemp("gpu"), GPU_SPEC, "forecast")


def documents(out):
    """(path, message type, parsed JSON) of every document gcloud sends."""
    docs = []
    for path in sorted((out / "gcloud" / "monitoring").glob("*.json")):
        docs.append(
            (path, DOC_TYPES[path.stem.split("-")[0]], json.loads(path.read_text()))
        )
    return docs


# --- the documents ----------------------------------------------------------------------


@pytest.mark.parametrize("which", ["churn", "gpu"])
def test_documents_fit_the_api_and_name_published_metrics(which, request):
    _, out = request.getfixturevalue(which)
    docs = documents(out)
    assert {t for _, t, _ in docs} == set(DOC_TYPES.values()) - (
        {"NotificationChannel"} if which == "gpu" else set()
    )
    for path, type_name, doc in docs:
        assert monitoring_api.problems(doc, type_name) == [], path.name
        assert monitoring_api.unknown_metrics(doc) == [], path.name


def _policy(out):
    return json.loads(
        (out / "gcloud" / "monitoring" / "policy-errors.json").read_text()
    )


def test_the_checker_refuses_an_unknown_field(churn):
    doc = _policy(churn[1])
    doc["conditions"][0]["conditionThreshold"]["thresholdValues"] = 1
    [found] = monitoring_api.problems(doc, "AlertPolicy")
    assert found.startswith("AlertPolicy.conditions[0].conditionThreshold: ")
    assert found.endswith("has no field `thresholdValues`")


def test_the_checker_refuses_a_bad_enum_and_a_wrong_type(churn):
    doc = _policy(churn[1])
    threshold = doc["conditions"][0]["conditionThreshold"]
    threshold["aggregations"][0]["perSeriesAligner"] = "ALIGN_PERCENTILE_98"
    threshold["duration"] = 300
    found = monitoring_api.problems(doc, "AlertPolicy")
    assert (
        len(found) == 2
        and "ALIGN_PERCENTILE_98" in found[0]
        and "expected a string" in found[1]
    ), found


def test_the_checker_refuses_an_unpublished_metric(churn):
    doc = _policy(churn[1])
    threshold = doc["conditions"][0]["conditionThreshold"]
    threshold["filter"] = threshold["filter"].replace("request_count", "request_counts")
    assert monitoring_api.unknown_metrics(doc) == ["run.googleapis.com/request_counts"]


@pytest.mark.parametrize("which", ["churn", "gpu"])
def test_every_aggregation_fits_its_metrics_kind_and_value_type(which, request):
    _, out = request.getfixturevalue(which)
    queries = 0
    for path, _, doc in documents(out):
        assert monitoring_api.misaggregated(doc) == [], path.name
        queries += len(list(monitoring_api._queries(doc)))
    assert queries >= 10


def test_the_api_documents_every_aligner_and_reducer():
    """The rules are read from the SDK's text: a rewording that hides one fails here."""
    aligners, reducers = monitoring_api.aggregation_rules()
    v3, _, _ = monitoring_api.modules()
    agg = v3.Aggregation
    assert set(aligners) == set(agg.PerSeriesAlignerValueValuesEnum.names())
    assert set(reducers) == set(agg.CrossSeriesReducerValueValuesEnum.names())
    for name, rule in {**aligners, **reducers}.items():
        assert rule.documented or name in ("ALIGN_NONE", "REDUCE_NONE"), name
    # What the API says of the aligners the model uses.
    assert aligners["ALIGN_RATE"].kinds == {"DELTA", "CUMULATIVE"}
    assert aligners["ALIGN_DELTA"].kinds == {"DELTA", "CUMULATIVE"}
    assert aligners["ALIGN_PERCENTILE_99"].values == {"DISTRIBUTION"}
    assert aligners["ALIGN_RATE"].apply("DELTA", "INT64") == ("GAUGE", "DOUBLE")


@pytest.mark.parametrize(
    ("policy", "aligner", "reducer", "expected"),
    [
        # a rate of a gauge
        ("saturation", "ALIGN_RATE", None, "ALIGN_RATE does not apply to a GAUGE INT64"),
        # a delta of a gauge
        ("saturation", "ALIGN_DELTA", None, "ALIGN_DELTA does not apply to a GAUGE INT64"),
        # a percentile of a count
        ("errors", "ALIGN_PERCENTILE_99", None, "does not apply to a DELTA INT64"),
        # a maximum of a distribution
        ("latency", "ALIGN_MAX", None, "ALIGN_MAX does not apply to a DELTA DISTRIBUTION"),
        # a reducer that the aligner's output does not allow
        ("latency", "ALIGN_DELTA", "REDUCE_MAX", "REDUCE_MAX does not apply to ALIGN_DELTA's"),
    ],
)
def test_the_checker_refuses_an_aggregation_the_metric_does_not_allow(churn, policy, aligner, reducer, expected):
    doc = json.loads((churn[1] / "gcloud" / "monitoring" / f"policy-{policy}.json").read_text())
    agg = doc["conditions"][0]["conditionThreshold"]["aggregations"][0]
    agg["perSeriesAligner"] = aligner
    if reducer:
        agg["crossSeriesReducer"] = reducer
    found = monitoring_api.misaggregated(doc)
    assert len(found) == 1 and expected in found[0], found


def test_only_a_gpu_service_charts_gpu_use_and_only_a_public_one_is_checked(churn, gpu):
    def titles(out):
        doc = json.loads((out / "gcloud" / "monitoring" / "dashboard.json").read_text())
        return [t["widget"]["title"] for t in doc["mosaicLayout"]["tiles"]]

    assert any("GPU" in t for t in titles(gpu[1]))
    assert not any("GPU" in t for t in titles(churn[1]))
    assert model_of(churn[0])["monitoring"]["uptime_check"] is not None
    assert model_of(gpu[0])["monitoring"]["uptime_check"] is None


def test_nothing_without_the_table(tmp_path):
    _, out = copy_example(tmp_path, "iris-sklearn")
    assert not (out / "terraform" / "monitoring.tf").exists()
    assert not (out / "gcloud" / "monitoring.sh").exists()
    assert "monitoring" not in (out / "pulumi" / "__main__.py").read_text()


# --- each target ------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["churn", "gpu"])
def test_terraform_fits_the_provider_schema(which, request):
    _, out = request.getfixturevalue(which)
    tf = out / "terraform"
    assert tf_validate.validate(tf) == []
    ok_fmt, output = tf_validate.fmt_check(tf)
    assert ok_fmt, output
    # The dashboard is the very document gcloud sends.
    assert (tf / "dashboard.json").read_text() == (
        out / "gcloud" / "monitoring" / "dashboard.json"
    ).read_text()


def run_script(tmp_path, out, times=1):
    g = Gcloud(tmp_path / "standin")
    (g.root / "bin" / "gcloud").write_text(
        f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(STANDIN))} "$@"\n'
    )
    for _ in range(times):
        ok(g.run(out / "gcloud" / "monitoring.sh"))
    return g


def test_gcloud_script_creates_everything_once_and_a_rerun_updates(tmp_path, churn):
    g = run_script(tmp_path, churn[1], times=2)
    assert all(r["rc"] == 0 for r in g.records()), g.records()
    world = g.world()
    model = model_of(churn[0])["monitoring"]
    assert len(world["policies"]) == len(model["policies"])
    assert len(world["channels"]) == len(model["channels"]) == 1
    assert len(world["uptime"]) == 1 and len(world["dashboards"]) == 1
    creates = [r for r in g.records() if r["command"].endswith(" create")]
    assert len(creates) == 4 + 1 + 1 + 1  # every object once, none on the second run


def test_gcloud_script_passes_shellcheck(churn):
    if not SHELLCHECK.exists():
        pytest.skip("shellcheck is not installed in the test environment")
    done = subprocess.run(
        [SHELLCHECK, churn[1] / "gcloud" / "monitoring.sh"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout


# --- the same policies everywhere -------------------------------------------------------


def camel(snake):
    head, *rest = snake.split("_")
    return head + "".join(w.title() for w in rest)


def canonical(policy):
    """A policy as (display name, number of channels, its condition), in the API's JSON."""
    [condition] = policy["conditions"]
    return (
        policy["displayName"],
        len(policy.get("notificationChannels", [])),
        {
            "displayName": condition["displayName"],
            **{
                k: float(v) if k == "thresholdValue" else v
                for k, v in condition["conditionThreshold"].items()
            },
        },
    )


def from_model(model):
    policies = []
    for p in model["monitoring"]["policies"]:
        c = p["condition"]

        def agg(s):
            return {
                "alignmentPeriod": s["alignment_period"],
                "perSeriesAligner": s["aligner"],
                "crossSeriesReducer": s["reducer"],
            }

        threshold = {
            "filter": c["series"]["filter"],
            "aggregations": [agg(c["series"])],
            "comparison": c["comparison"],
            "thresholdValue": c["threshold"],
            "duration": c["duration"],
            "trigger": {"count": 1},
        }
        if c["denominator"]:
            threshold |= {
                "denominatorFilter": c["denominator"]["filter"],
                "denominatorAggregations": [agg(c["denominator"])],
            }
        policies.append(
            {
                "displayName": p["display_name"],
                "notificationChannels": model["monitoring"]["channels"],
                "conditions": [
                    {"displayName": c["display_name"], "conditionThreshold": threshold}
                ],
            }
        )
    return sorted(map(canonical, policies), key=str)


def hcl_json(
    value, repeated=("aggregations", "denominator_aggregations", "conditions")
):
    """A python-hcl2 body as the API's JSON: camelCase keys, single blocks unwrapped."""
    if isinstance(value, dict):
        return {
            camel(k): hcl_json(
                v[0]
                if isinstance(v, list)
                and v
                and isinstance(v[0], dict)
                and k not in repeated
                else v
            )
            for k, v in value.items()
            if k not in (tf_validate.BLOCK, "project", "depends_on")
        }
    if isinstance(value, list):
        return [hcl_json(v) for v in value]
    return tf_validate.unquote(value) if tf_validate.is_string_literal(value) else value


def from_terraform(out):
    parsed = tf_validate.load_dir(out / "terraform")
    return sorted(
        (
            canonical(hcl_json(b))
            for _, t, _, b in tf_validate.resources(parsed)
            if t == "google_monitoring_alert_policy"
        ),
        key=str,
    )


def from_pulumi(out):
    recorded = run_program(out / "pulumi" / "__main__.py")
    found = []
    for r in recorded["resources"]:
        if r["type"] == "gcp:monitoring/alertPolicy:AlertPolicy":
            inputs = copy.deepcopy(r["inputs"])
            inputs.pop("project", None)
            found.append(canonical(inputs))
    return sorted(found, key=str)


def from_gcloud(tmp_path, out):
    world = run_script(tmp_path, out).world()
    return sorted(map(canonical, world.get("policies", {}).values()), key=str)


@pytest.mark.parametrize("which", ["churn", "gpu"])
def test_every_target_creates_the_policies_the_model_decides(which, request, tmp_path):
    spec, out = request.getfixturevalue(which)
    want = from_model(model_of(spec))
    assert len(want) == 4
    assert from_terraform(out) == want
    assert from_pulumi(out) == want
    assert from_gcloud(tmp_path, out) == want
