"""Parity: Pulumi, Terraform and gcloud deploy the same thing.

From each target we extract the deployment it describes: from the resources the Pulumi
program creates under the SDK's mocks, from the parsed Terraform, and from the gcloud argv
recorded by the checking stand-in. All three must equal the one resolved model, for every
example, for random valid specs, and for a corpus of hostile strings (which must arrive
byte for byte in every target).
"""

import json
import os
import re
import shutil
import subprocess

import extract_gcloud
import extract_pulumi
import extract_terraform
import pytest
from conftest import ROOT, copy_example, model_of, render_spec_text
from gcloud_runner import Gcloud
from hypothesis import HealthCheck, Phase, given, note, seed, settings
from parity import expected
from pulumi_harness import run_program
from specgen import REPEAT, SEED, specs, to_toml

HOSTILE = json.loads((ROOT / "tests" / "py" / "data" / "hostile.json").read_text())


def views(workdir, out):
    """The deployment each target describes."""
    recorded = run_program(out / "pulumi" / "__main__.py")
    records, ci_records = Gcloud(workdir / "gcloud-standin").deploy_then_teardown(out)
    return {
        "pulumi": extract_pulumi.extract(recorded),
        "terraform": extract_terraform.extract(out / "terraform"),
        "gcloud": extract_gcloud.extract(records, ci_records),
    }


def assert_all_equal(model, got):
    want = expected(model)
    for target, view in got.items():
        diff = {k: (view.get(k), want[k]) for k in want if view.get(k) != want[k]}
        extra = sorted(set(view) - set(want))
        assert not diff and not extra, f"{target} differs from the model (got, want): {diff} extra keys: {extra}"


def test_every_example_deploys_the_same_thing_in_every_target(tmp_path, example):
    spec, out = copy_example(tmp_path, example)
    assert_all_equal(model_of(spec), views(tmp_path, out))


# Seeded (see specgen), no shrinking: each example runs three toolchains, so a failure is reported
# as generated rather than after minutes of shrinking.
@seed(SEED)
@settings(max_examples=15, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(spec=specs())
def test_random_specs_deploy_the_same_thing_in_every_target(tmp_path_factory, spec):
    note(REPEAT)
    tmp = tmp_path_factory.mktemp("parity")
    spec_path, out = render_spec_text(tmp, to_toml(spec))
    model = model_of(spec_path)
    # The model holds exactly what the spec said: free text is never altered.
    assert model["service"]["description"] == spec["service"]["description"]
    assert {e["name"]: e["value"] for e in model["env"]} == spec["env"]
    assert_all_equal(model, views(tmp, out))


def hostile_spec(description, values, display):
    text = (ROOT / "examples" / "fraud-onnx-gcs" / "mlgen.toml").read_text()
    env = "\n".join(f"HOSTILE_{i} = {json.dumps(v, ensure_ascii=False)}" for i, v in enumerate(values))
    return (text
            .replace('description = "Card fraud scoring: returns P(fraud) per transaction"',
                     f"description = {json.dumps(description, ensure_ascii=False)}")
            .replace('display_name = "Fraud scorer runtime"', f"display_name = {json.dumps(display, ensure_ascii=False)}")
            .replace('SCORE_THRESHOLD = "0.82"', f'SCORE_THRESHOLD = "0.82"\n{env}'))


@pytest.mark.parametrize("index", range(len(HOSTILE)))
def test_hostile_strings_arrive_byte_for_byte(tmp_path, index):
    value = HOSTILE[index]
    display = value.replace("\n", " ").replace("\u2028", " ")
    spec, out = render_spec_text(tmp_path, hostile_spec(value, HOSTILE, display))
    model = model_of(spec)
    assert model["service"]["description"] == value
    assert model["runtime_account"]["display_name"] == display
    got = views(tmp_path, out)
    assert_all_equal(model, got)
    for target, view in got.items():
        assert view["service"]["description"] == value, target
        assert view["account"]["display_name"] == display, target
        for i, v in enumerate(HOSTILE):
            assert view["env"][f"HOSTILE_{i}"] == v, (target, i)
    assert not list(tmp_path.rglob("pwned*")), "a hostile value ran a command"


FREE_TEXT_LINE = re.compile(r'^\s*(?:description|display_name|value)\s*=\s*(".*")\s*$', re.MULTILINE)


def terraform_evaluates(tmp_path, main_tf):
    """Every free-text string literal of main.tf, exactly as written, evaluated by Terraform
    itself (`terraform console` needs no provider for locals)."""
    literals = FREE_TEXT_LINE.findall(main_tf.read_text())
    work = tmp_path / "tf-console"
    work.mkdir()
    (work / "main.tf").write_text(
        "locals {\n" + "".join(f"  v{i} = {lit}\n" for i, lit in enumerate(literals)) + "}\n")
    expr = "jsonencode([" + ", ".join(f"local.v{i}" for i in range(len(literals))) + "])"
    proc = subprocess.run(
        [os.environ.get("TERRAFORM", shutil.which("terraform") or "terraform"), "console"],
        input=expr + "\n", capture_output=True, text=True, cwd=work, check=False,
        env=dict(os.environ, CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1"), timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(json.loads(proc.stdout.strip()))


def test_terraform_itself_reads_hostile_strings_back(tmp_path):
    _, out = render_spec_text(tmp_path, hostile_spec(HOSTILE[1], HOSTILE, "plain"))
    values = terraform_evaluates(tmp_path, out / "terraform" / "main.tf")
    for v in HOSTILE:
        assert v in values, f"{v!r} not read back by terraform: {values!r}"


def test_free_text_reaches_the_container_only_as_json_data(tmp_path):
    """Descriptions and env values are not baked into the image's build steps: the
    Dockerfile, its ignore file and the app code are the same whatever the free text says.
    The description reaches the app's config.json (GET / shows it), byte for byte."""
    _, plain_out = render_spec_text(tmp_path, hostile_spec("plain", ["plain"], "plain"), name="plain")
    _, nasty_out = render_spec_text(tmp_path, hostile_spec(HOSTILE[1], HOSTILE, HOSTILE[0]), name="nasty")
    for rel in ["Dockerfile", "Dockerfile.dockerignore", "app/requirements.txt", "app/main.py", "app/server.py"]:
        assert (plain_out / rel).read_text() == (nasty_out / rel).read_text(), rel
    for value in HOSTILE:
        _, out = render_spec_text(tmp_path, hostile_spec(value, ["x"], "x"), name=f"v{HOSTILE.index(value)}")
        config = json.loads((out / "app" / "config.json").read_text())
        assert config["description"] == value
