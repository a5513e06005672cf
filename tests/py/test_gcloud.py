"""The gcloud scripts, run for real under bash against the stand-in gcloud (offline).

The stand-in (gcloud_standin.py) checks each call against gcloud's command surface
(gcloud_surface.json, extracted from google-cloud-cli by gcloud_surface.py), simulates the
project's state and records every call; extract_gcloud.py reads the record back into
parity.py's canonical view.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import ci_specs
import pytest
from conftest import ROOT, copy_example, copy_with_include_folder, image_files, mlgen, model_of, render_spec_text
from extract_gcloud import extract
from gcloud_runner import STANDIN, Gcloud, ok
from gcloud_standin import project_number
from iam_specs import CROSS_PROJECT
from parity import expected

SCRIPTS = ("deploy.sh", "teardown.sh")
SHELLCHECK = Path(sys.executable).parent / "shellcheck"


@pytest.fixture
def gcloud(tmp_path):
    return Gcloud(tmp_path / "gcloud-standin")


def no_usage_errors(records):
    """A usage error hides behind `describe || create`, so check every call, failed or not."""
    bad = [r for r in records if r["rc"] not in (0, 1)]
    assert not bad, json.dumps(bad, indent=1, ensure_ascii=False)
    failed = [r for r in records if r["rc"] == 1 and r.get("command", "").split()[-1] != "describe"]
    assert not failed, json.dumps(failed, indent=1, ensure_ascii=False)


def unprotect(spec):
    text = spec.read_text()
    spec.write_text(text.replace("deletion_protection = true", "deletion_protection = false"))
    mlgen("apply", spec)


# ------------------------------------------------------------------------------- deploy


def test_deploy_succeeds(tmp_path, example, gcloud):
    spec, out = copy_example(tmp_path, example)
    model = model_of(spec)
    ok(gcloud.run(out / "gcloud" / "deploy.sh"))
    records = gcloud.records()
    no_usage_errors(records)
    commands = [r["command"].removeprefix("beta ") for r in records if r["rc"] == 0]
    assert commands[0] == "services enable"
    deploy_at = commands.index("run deploy")
    grants = [c for c in commands if c.endswith("add-iam-policy-binding")]
    assert len(grants) == len(model["iam"])
    at = [i for i, c in enumerate(commands) if c.endswith("add-iam-policy-binding")]
    for g, i in zip(model["iam"], at, strict=True):
        assert (i < deploy_at) == g["before_service"], g
    if model["image"]["built_here"]:
        assert commands.index("artifacts repositories create") < commands.index("builds submit") < deploy_at
    world = gcloud.world()
    assert list(world["services"]) == [f"{model['service']['project']}/{model['service']['region']}/{model['service']['name']}"]


def test_second_deploy_creates_nothing(tmp_path, example, gcloud):
    _, out = copy_example(tmp_path, example)
    ok(gcloud.run(out / "gcloud" / "deploy.sh"))
    first = gcloud.records()
    state = gcloud.world()
    ok(gcloud.run(out / "gcloud" / "deploy.sh"))
    second = gcloud.records()[len(first):]
    no_usage_errors(second)
    creates = [r["argv"] for r in first + second if r.get("command", "").endswith(" create")]
    assert creates and len(creates) == len({json.dumps(a) for a in creates})
    assert not [r for r in second if r.get("command", "").endswith(" create")]
    assert gcloud.world() == state


# What a user keeps beside a spec, none of which the image needs.
BESIDE_THE_SPEC = (".env", "service-account-key.json", "notebooks/explore.ipynb", "data/train.csv",
                   "models/old.joblib", ".git/HEAD", ".venv/bin/python", "__pycache__/x.pyc",
                   "deploy/app/__pycache__/main.cpython-312.pyc", "deploy/app/notes.txt",
                   "deploy/terraform/.terraform/plugin", "deploy/terraform/terraform.tfstate")


def spec_folder_with_clutter(tmp_path):
    spec, out = copy_example(tmp_path, "iris-sklearn")
    for junk in BESIDE_THE_SPEC:
        (spec.parent / junk).parent.mkdir(parents=True, exist_ok=True)
        (spec.parent / junk).write_text("junk")
    return spec, out


def test_build_uploads_only_the_image_inputs(tmp_path, gcloud):
    spec, out = spec_folder_with_clutter(tmp_path)
    model = model_of(spec)
    ok(gcloud.run(out / "gcloud" / "deploy.sh"))
    [build] = [r for r in gcloud.records() if r.get("command") == "builds submit"]
    assert build["upload"] == model["build"]["inputs"]
    assert "models/iris.joblib" in build["upload"] and model["build"]["dockerfile"] in build["upload"]
    assert Path(build["cwd"]) == spec.parent.resolve()


def real_gcloud():
    sdk = os.environ.get("MLGEN_GCLOUD_SDK")
    return str(Path(sdk) / "bin" / "gcloud") if sdk else shutil.which("gcloud")


def listed_for_upload(tmp_path, spec):
    """What gcloud's own ignore-file reader (offline: it only lists files) uploads with the
    generated ignore file."""
    model = model_of(spec)
    # `meta list-files-for-upload` reads the folder's .gcloudignore, the file
    # `builds submit --ignore-file` names.
    shutil.copy(spec.parent / model["build"]["ignore_file"], spec.parent / ".gcloudignore")
    proc = subprocess.run(
        [real_gcloud(), "meta", "list-files-for-upload", str(spec.parent)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, check=False,
        env={**os.environ, "CLOUDSDK_CONFIG": str(tmp_path / "gcloud-config"), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    return sorted(proc.stdout.split())


def test_real_gcloud_lists_only_the_image_inputs_for_upload(tmp_path):
    """With the generated ignore file, nothing but the Dockerfile's inputs leaves the machine."""
    spec, _ = spec_folder_with_clutter(tmp_path)
    assert listed_for_upload(tmp_path, spec) == model_of(spec)["build"]["inputs"]


def test_real_gcloud_uploads_an_included_folder_whole(tmp_path):
    spec, _ = copy_with_include_folder(tmp_path)
    inputs = model_of(spec)["build"]["inputs"]
    assert listed_for_upload(tmp_path, spec) == sorted(image_files(spec.parent, inputs))
    assert "assets.txt" not in image_files(spec.parent, inputs)


# ----------------------------------------------------------------------------- teardown


def test_teardown_removes_everything_and_is_repeatable(tmp_path, example, gcloud):
    spec, out = copy_example(tmp_path, example)
    unprotect(spec)
    ok(gcloud.run(out / "gcloud" / "deploy.sh"))
    before = len(gcloud.records())
    proc = ok(gcloud.run(out / "gcloud" / "teardown.sh", "--yes"))
    world = gcloud.world()
    assert world["services"] == {} and world["accounts"] == {} and world["repositories"] == {}
    assert world["bindings"] == []
    teardown = [r["command"] for r in gcloud.records()[before:]]
    assert teardown[0] == "run services delete" and teardown[-1] == "iam service-accounts delete"
    assert "already gone" not in proc.stdout
    again = ok(gcloud.run(out / "gcloud" / "teardown.sh", "--yes"))
    assert "already gone" in again.stdout


def test_teardown_refuses_a_protected_service(tmp_path, gcloud):
    spec, out = copy_example(tmp_path, "fraud-onnx-gcs")
    assert model_of(spec)["service"]["deletion_protection"]
    ok(gcloud.run(out / "gcloud" / "deploy.sh"))
    before = len(gcloud.records())
    proc = gcloud.run(out / "gcloud" / "teardown.sh", "--yes")
    assert proc.returncode == 1
    assert "deletion_protection = true" in proc.stderr
    assert len(gcloud.records()) == before


def test_teardown_asks_unless_yes(tmp_path, gcloud):
    _, out = copy_example(tmp_path, "churn-public")
    ok(gcloud.run(out / "gcloud" / "deploy.sh"))
    before = len(gcloud.records())
    proc = gcloud.run(out / "gcloud" / "teardown.sh")
    assert proc.returncode == 1 and "--yes" in proc.stderr
    assert gcloud.run(out / "gcloud" / "teardown.sh", "--bogus").returncode == 2
    assert len(gcloud.records()) == before


# ------------------------------------------------------------------------------- parity


def test_parity_with_model(tmp_path, example, gcloud):
    spec, out = copy_example(tmp_path, example)
    assert extract(*gcloud.deploy_then_teardown(out)) == expected(model_of(spec))


def test_prebuilt_image_without_env(tmp_path, gcloud):
    """No build, no repository, no env file: the scripts still deploy, match the model,
    tear down and pass shellcheck."""
    text = copy_example_text("forecast-gpu").replace(
        'repository = "ml-models"\ntag = "2025.11.3"',
        'url = "europe-west4-docker.pkg.dev/acme-ml-prod/shared/forecast:7"')
    assert "forecast:7" in text
    spec, out = render_spec_text(tmp_path, text)
    model = model_of(spec)
    assert model["repository"] is None and model["env"] == []
    assert sorted(p.name for p in (out / "gcloud").iterdir()) == ["deploy.sh", "teardown.sh"]
    ok(gcloud.run(out / "gcloud" / "deploy.sh"))
    ok(gcloud.run(out / "gcloud" / "teardown.sh", "--yes"))
    no_usage_errors(gcloud.records())
    assert extract(gcloud.records()) == expected(model)
    assert shellcheck(*(out / "gcloud" / s for s in SCRIPTS)).returncode == 0


HOSTILE = "it's \"quoted\" $(touch pwned) `touch pwned2` ${HOME} a,b=c ^@^ x\nsecond line\tтаб ünï ✓ \\ 100%"


def test_hostile_values_arrive_byte_for_byte(tmp_path, gcloud):
    text = (copy_example_text("churn-public")
            .replace('description = "Public churn-risk demo: \\"what-if\\" scoring for the docs site"',
                     f"description = {json.dumps(HOSTILE, ensure_ascii=False)}")
            .replace('LOG_LEVEL = "info"', f"LOG_LEVEL = \"info\"\nHOSTILE = {json.dumps(HOSTILE, ensure_ascii=False)}"))
    assert HOSTILE.split("\n")[0] not in copy_example_text("churn-public")
    spec, out = render_spec_text(tmp_path, text)
    model = model_of(spec)
    assert model["service"]["description"] == HOSTILE
    ok(gcloud.run(out / "gcloud" / "deploy.sh"))
    [deploy] = [r for r in gcloud.records() if r.get("command", "").endswith("run deploy")]
    assert f"--description={HOSTILE}" in deploy["argv"]
    view = extract(gcloud.records())
    assert view["env"]["HOSTILE"] == HOSTILE
    assert view["env"] == {e["name"]: e["value"] for e in model["env"]}
    assert not list(tmp_path.rglob("pwned*"))


def copy_example_text(example):
    return (ROOT / "examples" / example / "mlgen.toml").read_text()


# ----------------------------------------------------------------------------- shellcheck


def shellcheck(*paths):
    return subprocess.run([str(SHELLCHECK), "--shell=bash", "--severity=style", *map(str, paths)],
                          capture_output=True, text=True)


def test_shellcheck_clean(tmp_path, example):
    _, out = copy_example(tmp_path, example)
    proc = shellcheck(*(out / "gcloud").glob("*.sh"))
    assert proc.returncode == 0, proc.stdout


def test_shellcheck_clean_ci_setup_for_cloudbuild(tmp_path):
    _, out = ci_specs.with_provider(tmp_path, "cloudbuild")
    proc = shellcheck(out / "gcloud" / "ci-setup.sh")
    assert proc.returncode == 0, proc.stdout


def test_shellcheck_flags_an_unquoted_expansion(tmp_path):
    _, out = copy_example(tmp_path, "iris-sklearn")
    script = (out / "gcloud" / "deploy.sh").read_text()
    broken = tmp_path / "broken.sh"
    # $context comes from a command substitution, so shellcheck cannot prove it safe unquoted.
    broken.write_text(script.replace('cd "$context"', "cd $context", 1))
    assert broken.read_text() != script
    proc = shellcheck(broken)
    assert proc.returncode != 0 and "SC2086" in proc.stdout, proc.stdout


# -------------------------------------------------------------------- the stand-in itself

DEPLOY = ["run", "deploy", "svc", "--image=europe-docker.pkg.dev/p/r/i:1", "--project=p",
          "--region=europe-west1", "--service-account=x@other.iam.gserviceaccount.com", "--quiet"]


@pytest.mark.parametrize("argv, message", [
    (DEPLOY + ["--imgae=x"], "unrecognized arguments: --imgae (did you mean '--image'?)"),
    (["run", "deploi", "svc", "--project=p", "--quiet"], "Invalid choice: 'deploi'"),
    (DEPLOY + ["--ingress=everywhere"], "Invalid choice: 'everywhere'"),
    (DEPLOY + ["--execution-environment=gen3"], "Invalid choice: 'gen3'"),
    (["artifacts", "repositories", "create", "r", "--location=l", "--project=p", "--quiet"],
     "argument --repository-format: Must be specified."),
    (["iam", "service-accounts", "describe", "--project=p"], "Must be specified."),
    (DEPLOY + ["--startup-probe=httpGet.path=/x,periodSecond=5"], "Key [periodSecond] not recognized"),
    (DEPLOY + ["--add-volume=name=m,type=cloud-storage,bucket=b,read-only=true"], "Key [read-only] not recognized"),
    (DEPLOY + ["--add-volume=name=m,type=gcs,bucket=b"], "Volume type gcs not supported"),
    (DEPLOY + ["--add-volume-mount=volume=m"], "Key [mount-path] required"),
    (DEPLOY + ["--clear-env-vars", "--set-env-vars=A=1"], "At most one of"),
    (DEPLOY + ["--cpu-boost=yes"], "ignored explicit argument 'yes'"),
    (DEPLOY + ["--no-such-thing"], "unrecognized arguments: --no-such-thing"),
    (DEPLOY + ["--memory=1Gi", "--memory=2Gi"], "given more than once"),
    (["run", "deploy", "svc", "--image=i", "--project=p", "--quiet"], "--region must be given"),
    (["run", "deploy", "svc", "--image=i", "--region=r", "--project=p"], "--quiet must be given"),
    (["run", "jobs", "list"], "exists in gcloud but not in the recorded surface"),
])
def test_standin_rejects_what_gcloud_rejects(gcloud, argv, message):
    proc = gcloud.call(*argv)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr, proc.stderr
    [record] = gcloud.records()
    assert record["argv"] == argv and record["rc"] == 2


def test_standin_accepts_a_valid_deploy_and_simulates_state(gcloud):
    assert gcloud.call("iam", "service-accounts", "describe", "a-runtime@p.iam.gserviceaccount.com",
                       "--project=p").returncode == 1
    ok(gcloud.call("iam", "service-accounts", "create", "a-runtime", "--display-name=A", "--project=p", "--quiet"))
    ok(gcloud.call("iam", "service-accounts", "describe", "a-runtime@p.iam.gserviceaccount.com", "--project=p"))
    again = gcloud.call("iam", "service-accounts", "create", "a-runtime", "--project=p", "--quiet")
    assert again.returncode == 1 and "already exists" in again.stderr
    volume = ["--add-volume=name=m,type=cloud-storage,bucket=bkt,readonly=true",
              "--add-volume-mount=volume=m,mount-path=/mnt/m"]
    unreadable = gcloud.call(*DEPLOY, *volume)
    assert unreadable.returncode == 1 and "Permission denied on gs://bkt/" in unreadable.stderr
    ok(gcloud.call("storage", "buckets", "add-iam-policy-binding", "gs://bkt",
                   "--member=serviceAccount:x@other.iam.gserviceaccount.com", "--role=roles/storage.objectViewer",
                   "--condition=None", "--project=p", "--quiet"))
    ok(gcloud.call(*DEPLOY, "--no-cpu-throttling", "--labels=^;^a=1;b=2", *volume))
    denied = gcloud.call(*DEPLOY, "--set-secrets=K=s:1")
    assert denied.returncode == 1 and "Permission denied on secret" in denied.stderr
    gone = gcloud.call("secrets", "remove-iam-policy-binding", "s", "--member=user:a@b.c",
                       "--role=roles/secretmanager.secretAccessor", "--condition=None", "--project=p", "--quiet")
    assert gone.returncode == 1 and "not found!" in gone.stderr


def test_standin_never_opens_a_socket():
    proc = subprocess.run(
        [sys.executable, "-c",
         f"import runpy, socket; runpy.run_path({str(STANDIN)!r}, run_name='not_main')['disable_network'](); "
         "socket.create_connection(('127.0.0.1', 9))"],
        capture_output=True, text=True,
    )
    assert proc.returncode != 0 and "never opens a network connection" in proc.stderr


def test_importing_the_standin_leaves_the_network_alone():
    """Tests import helpers from the stand-in; only running it as gcloud cuts sockets."""
    import socket

    import gcloud_standin  # noqa: F401

    assert socket.socket.__name__ != "_no_network"


# ---------------------------------------------------------------------- convergence, ownership


def _bindings(world, kind, role):
    return {b[3] for b in world["bindings"] if b[0] == kind and b[2] == role}


def test_a_redeploy_removes_what_the_spec_no_longer_names(tmp_path, gcloud):
    spec, out = copy_example(tmp_path, "fraud-onnx-gcs")
    ok(gcloud.run(out / "gcloud" / "deploy.sh"))
    world = gcloud.world()
    [service] = world["services"].values()
    assert service["labels"] == {"team": "risk", "cost-center": "cc-4410"}
    checkout = "serviceAccount:checkout@acme-payments.iam.gserviceaccount.com"
    deployer = "serviceAccount:deploy@acme-ci.iam.gserviceaccount.com"
    assert checkout in _bindings(world, "service", "roles/run.invoker")
    text = spec.read_text()
    text = text.replace('labels = { team = "risk", cost-center = "cc-4410" }', 'labels = { team = "risk" }')
    text = text.replace(f'  "{checkout}",\n', "")
    text = text.replace(f'deployers = ["{deployer}"]', "deployers = []")
    spec.write_text(text)
    mlgen("apply", spec)
    ok(gcloud.run(out / "gcloud" / "deploy.sh"))
    no_usage_errors(gcloud.records())
    world = gcloud.world()
    [service] = world["services"].values()
    assert service["labels"] == {"team": "risk"}
    invokers = _bindings(world, "service", "roles/run.invoker")
    assert checkout not in invokers and len(invokers) == 2
    for kind, role in (("service", "roles/run.developer"), ("service_account", "roles/iam.serviceAccountUser"),
                       ("repository", "roles/artifactregistry.writer")):
        assert deployer not in _bindings(world, kind, role), role


def test_teardown_keeps_an_account_and_a_repository_that_existed_before(tmp_path, gcloud):
    spec, out = copy_example(tmp_path, "iris-sklearn")
    unprotect(spec)
    model = model_of(spec)
    repo = model["repository"]
    rkey = f"{repo['project']}/{repo['location']}/{repo['id']}"
    other_image = f"{repo['location']}-docker.pkg.dev/{repo['project']}/{repo['id']}/other-service:3"
    account = model["runtime_account"]["email"]
    gcloud.state.write_text(json.dumps({
        "repositories": {rkey: {"format": "docker", "description": "shared", "labels": {}}},
        "images": {other_image: "sha256:" + "0" * 64},
        "accounts": {account: {"display_name": "made by hand", "description": "ops team"}},
    }))
    ok(gcloud.run(out / "gcloud" / "deploy.sh"))
    proc = ok(gcloud.run(out / "gcloud" / "teardown.sh", "--yes"))
    # The account, the repository, and the staging bucket (the stand-in holds a bucket it is
    # not told is absent, unlabelled: not deploy.sh's).
    assert proc.stdout.count("kept: deploy.sh did not create it") == 3
    world = gcloud.world()
    assert world["services"] == {}
    assert rkey in world["repositories"] and other_image in world["images"]
    assert account in world["accounts"]


def test_teardown_deletes_what_deploy_created(tmp_path, gcloud):
    spec, out = copy_example(tmp_path, "iris-sklearn")
    unprotect(spec)
    ok(gcloud.run(out / "gcloud" / "deploy.sh"))
    world = gcloud.world()
    [repo] = world["repositories"].values()
    assert repo["labels"] == {"mlgen_service": model_of(spec)["service"]["name"]}
    ok(gcloud.run(out / "gcloud" / "teardown.sh", "--yes"))
    world = gcloud.world()
    assert world["repositories"] == {} and world["accounts"] == {}


def test_a_missing_prerequisite_stops_the_deploy_before_anything_is_created(tmp_path, gcloud):
    _, out = copy_example(tmp_path, "fraud-onnx-gcs")
    gcloud.state.write_text(json.dumps({
        "absent": ["secrets/acme-payments/fraud-signing-salt", "managedFolders/acme-models-prod/fraud/v7/"],
    }))
    proc = gcloud.run(out / "gcloud" / "deploy.sh")
    assert proc.returncode == 1
    assert "create the secret fraud-signing-salt: gcloud secrets create fraud-signing-salt" in proc.stderr
    assert "gcloud storage managed-folders create gs://acme-models-prod/fraud/v7/" in proc.stderr
    assert "feature-store-key" not in proc.stderr
    changes = [r["command"] for r in gcloud.records()
               if r["rc"] == 0 and r["command"].split()[-1] not in ("describe", "enable")]
    assert changes == []


def test_an_image_of_another_project_is_pulled_by_the_service_agent(tmp_path, gcloud):
    spec, out = render_spec_text(tmp_path, CROSS_PROJECT)
    ok(gcloud.run(out / "gcloud" / "deploy.sh"))
    records = gcloud.records()
    no_usage_errors(records)
    ok(gcloud.run(out / "gcloud" / "teardown.sh", "--yes"))
    assert extract(gcloud.records()) == expected(model_of(spec))
    assert gcloud.world()["bindings"] == []


# ---------------------------------------------------------------------------- pipeline


@pytest.mark.parametrize("provider", ["github", "cloudbuild"])
def test_ci_setup_creates_what_the_model_says_and_converges(tmp_path, gcloud, provider):
    """ci-setup.sh after deploy.sh: every call valid, the pool and provider (GitHub) or the
    trigger (Cloud Build) and the deploy account's grants as the model resolves them; run
    again, it creates nothing and fails nothing."""
    spec, out = ci_specs.with_provider(tmp_path, provider)
    ok(gcloud.run(out / "gcloud" / "deploy.sh"))
    deployed = len(gcloud.records())
    ok(gcloud.run(out / "gcloud" / "ci-setup.sh"))
    records = gcloud.records()
    no_usage_errors(records)
    assert extract(records[:deployed], records[deployed:])["ci"] == expected(model_of(spec))["ci"]
    world = gcloud.world()
    assert (len(world["pools"]), len(world["triggers"])) == ((1, 0) if provider == "github" else (0, 1))
    setup = gcloud.run(out / "gcloud" / "ci-setup.sh")
    ok(setup)
    again = gcloud.records()[len(records):]
    no_usage_errors(again)
    # (An existing trigger is updated to the spec, which leaves the world as it was.)
    assert not [r["command"] for r in again if r["command"].endswith((" create", " create-oidc", " create github"))]
    assert gcloud.world() == world


def test_standin_refuses_a_principal_set_of_a_pool_that_does_not_exist(gcloud):
    member = ("principalSet://iam.googleapis.com/projects/{}/locations/global/workloadIdentityPools/gh-a/"
              "attribute.repository/o/r")
    ok(gcloud.call("iam", "service-accounts", "create", "svc-deploy", "--project=p-1", "--quiet"))
    grant = ("iam", "service-accounts", "add-iam-policy-binding", "svc-deploy@p-1.iam.gserviceaccount.com",
             "--role=roles/iam.workloadIdentityUser", "--condition=None", "--project=p-1", "--quiet")
    number = project_number("p-1")
    assert gcloud.call(*grant, f"--member={member.format(number)}").returncode == 1
    ok(gcloud.call("iam", "workload-identity-pools", "create", "gh-a", "--location=global", "--project=p-1",
                   "--quiet"))
    assert gcloud.call(*grant, f"--member={member.format('999')}").returncode == 1
    ok(gcloud.call(*grant, f"--member={member.format(number)}"))


def test_standin_runs_a_trigger_only_as_an_existing_account(gcloud):
    create = ("builds", "triggers", "create", "github", "--name=svc-deploy", "--repo-owner=o", "--repo-name=r",
              "--branch-pattern=^main$", "--build-config=cloudbuild.yaml",
              "--service-account=projects/p-1/serviceAccounts/svc-deploy@p-1.iam.gserviceaccount.com",
              "--project=p-1", "--quiet")
    assert gcloud.call(*create).returncode == 1
    assert gcloud.call("builds", "triggers", "describe", "svc-deploy", "--project=p-1").returncode == 1
    ok(gcloud.call("iam", "service-accounts", "create", "svc-deploy", "--project=p-1", "--quiet"))
    ok(gcloud.call(*create))
    ok(gcloud.call("builds", "triggers", "describe", "svc-deploy", "--project=p-1"))
    assert gcloud.call(*create).returncode == 1
