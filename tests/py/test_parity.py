"""Parity: Pulumi, Terraform and gcloud deploy the same thing.

From each target we extract the deployment it describes: from the resources the Pulumi
program creates under the SDK's mocks, from the parsed Terraform, and from the gcloud argv
recorded by the checking stand-in. All three must equal the one resolved model, for every
example, for random valid specs, and for a corpus of hostile strings (which must arrive
byte for byte in every target). A canary is driven in every target as its user drives it (a
first deploy, a deploy beside the revision before, each step, a rollback) and must name the
same revision, tag the same revisions and split the traffic alike at each step.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess

import extract_gcloud
import extract_pulumi
import extract_terraform
import pytest
from conftest import ROOT, copy_example, copy_with_include_folder, image_files, model_of, render_spec_text
from gcloud_runner import Gcloud, ok
from hypothesis import HealthCheck, Phase, given, note, seed, settings
from parity import expected, rollout
from pulumi_harness import run_program
from specgen import REPEAT, SEED, specs, to_toml

HOSTILE = json.loads((ROOT / "tests" / "py" / "data" / "hostile.json").read_text())


def views(workdir, out, model=None):
    """The deployment each target describes; given the `model`, its canary too (`rollout`)."""
    recorded = run_program(out / "pulumi" / "__main__.py")
    records, ci_records = Gcloud(workdir / "gcloud-standin").deploy_then_teardown(out)
    got = {
        "pulumi": extract_pulumi.extract(recorded),
        "terraform": extract_terraform.extract(out / "terraform"),
        "gcloud": extract_gcloud.extract(records, ci_records),
    }
    if model is not None:
        for target, view in rollouts(workdir, out, model, recorded, records).items():
            got[target]["rollout"] = view
    return got


# The revision that served before the candidate, as a user gives it to the deploy.
BEFORE = "svc-before-00001"


def rollouts(workdir, out, model, first_pulumi, first_gcloud):
    """The canary each target carries out, from the runs of the first deploy and, with a canary,
    those of a deploy beside BEFORE at each percent the model names (Terraform and Pulumi: the
    inputs of one apply; gcloud: deploy.sh, promote.sh per step, rollback.sh)."""
    canary = model.get("rollout")
    percents = [s["candidate"] for s in canary["splits"]] if canary else []
    program = out / "pulumi" / "__main__.py"
    pulumi = {p: run_program(program, config={"stable_revision": BEFORE, "candidate_percent": p}) for p in percents}
    gcloud, rolled_back = {}, None
    if canary:
        scripts = Gcloud(workdir / "gcloud-rollout")
        scripts.env["STABLE_REVISION"] = BEFORE
        ok(scripts.run(out / "gcloud" / "deploy.sh"))
        gcloud[0] = scripts.records()
        for p in canary["steps"]:
            ok(scripts.run(out / "gcloud" / "promote.sh", str(p)))
            gcloud[p] = scripts.records()
        ok(scripts.run(out / "gcloud" / "rollback.sh"))
        rolled_back = scripts.records()
    content_tag = terraform_content_tag(out) if canary and model["image"]["built_here"] else None
    return {
        "pulumi": extract_pulumi.rollout(first_pulumi, pulumi, BEFORE),
        "terraform": extract_terraform.rollout(out / "terraform", BEFORE, percents, content_tag=content_tag),
        "gcloud": extract_gcloud.rollout(first_gcloud, gcloud, rolled_back, BEFORE),
    }


def revision_key(model, out):
    """What the model names the canary's revision by: the content tag of the build (the hash of
    its inputs, computed here as the reference), or the reference of an image built elsewhere."""
    assert not model["image"].get("promoted"), "a later environment's revision is named by the digest it is given"
    if not model["image"]["built_here"]:
        return model["image"]["url"]
    return content_tag(out / model["build"]["context_from_out"], model["build"]["inputs"])


def assert_all_equal(model, got, out=None):
    """Every target's view equals the model's; with `out` (views() was given the model), the
    canary's too."""
    want = expected(model)
    if out is not None:
        want["rollout"] = rollout(model, model.get("rollout") and revision_key(model, out))
    for target, view in got.items():
        diff = {k: (view.get(k), want[k]) for k in want if view.get(k) != want[k]}
        extra = sorted(set(view) - set(want))
        assert not diff and not extra, f"{target} differs from the model (got, want): {diff} extra keys: {extra}"


def test_every_example_deploys_the_same_thing_in_every_target(tmp_path, example):
    spec, out = copy_example(tmp_path, example)
    model = model_of(spec)
    assert_all_equal(model, views(tmp_path, out, model), out)


# Seeded (see specgen), no shrinking: each example runs three toolchains, so a failure is reported
# as generated rather than after minutes of shrinking. derandomize is off explicitly: hypothesis
# turns it on when it sees a CI environment, which would ignore the seed.
@seed(SEED)
@settings(max_examples=15, deadline=None, database=None, derandomize=False, phases=[Phase.explicit, Phase.generate],
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
    assert_all_equal(model, views(tmp, out, model), out)


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


# ------------------------------------------------------------------ the image's content tag


def content_tag(context, inputs):
    """The reference hash: the SHA-256 of the inputs' hex SHA-256 digests, in order."""
    digests = "".join(hashlib.sha256((context / f).read_bytes()).hexdigest() for f in image_files(context, inputs))
    return hashlib.sha256(digests.encode()).hexdigest()


def terraform_content_tag(out):
    """`local.content_tag` evaluated by Terraform itself, from a folder beside terraform/ so
    `path.module` reaches the build context the same way."""
    text = (out / "terraform" / "main.tf").read_text()
    [locals_block] = re.findall(r"^locals \{\n.*?^\}\n", text, re.MULTILINE | re.DOTALL)
    work = out / "tf-console"
    work.mkdir()
    (work / "main.tf").write_text(locals_block)
    proc = subprocess.run(
        [os.environ.get("TERRAFORM", shutil.which("terraform") or "terraform"), "console"],
        input="local.content_tag\n", capture_output=True, text=True, cwd=work, check=False,
        env=dict(os.environ, CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1"), timeout=120,
    )
    shutil.rmtree(work)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip())


def tags_of_every_target(workdir, out):
    [build] = [r for r in run_program(out / "pulumi" / "__main__.py")["resources"] if r["name"] == "image-build"]
    assert build["inputs"]["triggers"] == [build["inputs"]["environment"]["CONTENT_TAG"]]
    gcloud = Gcloud(workdir)
    ok(gcloud.run(out / "gcloud" / "deploy.sh"))
    [submit] = [r for r in gcloud.records() if r.get("command") == "builds submit"]
    [substitution] = [a for a in submit["argv"] if a.startswith("--substitutions=")]
    return {
        "pulumi": build["inputs"]["environment"]["CONTENT_TAG"],
        "terraform": terraform_content_tag(out),
        "gcloud": substitution.removeprefix("--substitutions=_CONTENT_TAG="),
    }


def test_every_target_tags_the_image_with_the_hash_of_its_inputs(tmp_path):
    spec, out = copy_example(tmp_path, "fraud-onnx-gcs")
    inputs = model_of(spec)["build"]["inputs"]
    want = content_tag(spec.parent, inputs)
    assert tags_of_every_target(tmp_path / "first", out) == dict.fromkeys(("pulumi", "terraform", "gcloud"), want)
    # Any input changed, every target's tag changes with it.
    app = out / "app" / "server.py"
    app.write_text(app.read_text() + "\n")
    changed = content_tag(spec.parent, inputs)
    assert changed != want
    assert set(tags_of_every_target(tmp_path / "second", out).values()) == {changed}


def test_an_included_folder_is_hashed_file_by_file_in_every_target(tmp_path):
    spec, out = copy_with_include_folder(tmp_path)
    inputs = model_of(spec)["build"]["inputs"]
    assert "assets/" in inputs
    want = content_tag(spec.parent, inputs)
    assert tags_of_every_target(tmp_path / "first", out) == dict.fromkeys(("pulumi", "terraform", "gcloud"), want)
    # A file deep in the folder changed, every target's tag changes with it.
    (spec.parent / "assets" / "sub" / "weights.bin").write_text("retrained")
    changed = content_tag(spec.parent, inputs)
    assert changed != want
    assert set(tags_of_every_target(tmp_path / "second", out).values()) == {changed}
