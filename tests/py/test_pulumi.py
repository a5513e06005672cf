"""The generated Pulumi program, run offline under the Pulumi SDK's mocks.

Each example is applied into a temporary folder, its pulumi/__main__.py is run by
pulumi_harness (real pulumi and pulumi_gcp, mocked engine), and what it would deploy must
equal the resolved model's canonical view (parity.py). The harness itself is tested on
deliberately broken programs, so a passing run means something.
"""

import hashlib
import subprocess
import sys
import textwrap

import ci_specs
import pytest
import yaml
from conftest import ROOT, copy_example, model_of, render_spec_text
from extract_pulumi import extract
from hypothesis import HealthCheck, given, note, seed, settings
from iam_specs import CROSS_PROJECT
from parity import by_digest, expected
from pulumi_harness import DOCKER_IMAGE, ProgramError, run_program
from rollout import revision_name
from specgen import REPEAT, SEED, specs, to_toml

ACCOUNT = "gcp:serviceaccount/account:Account"
SERVICE = "gcp:cloudrunv2/service:Service"
REPOSITORY = "gcp:artifactregistry/repository:Repository"
COMMAND = "command:local:Command"
POOL = "gcp:iam/workloadIdentityPool:WorkloadIdentityPool"
TRIGGER = "gcp:cloudbuild/trigger:Trigger"


def _program(tmp_path, example):
    spec, out = copy_example(tmp_path, example)
    return spec, out / "pulumi"


def test_program_deploys_what_the_model_says(tmp_path, example):
    spec, program = _program(tmp_path, example)
    recorded = run_program(program / "__main__.py")
    assert extract(recorded) == expected(model_of(spec))


def test_exports_resolve(tmp_path, example):
    spec, program = _program(tmp_path, example)
    model = model_of(spec)
    recorded = run_program(program / "__main__.py")
    exports = recorded["exports"]
    exports["image"] = by_digest(exports["image"])
    assert exports == {
        "uri": f"https://{model['service']['name']}-mock.{model['service']['region']}.run.app",
        "runtime_account": model["runtime_account"]["email"],
        "image": expected(model)["image"],
        **ci_exports(model["ci"]),
        **rollout_exports(model, recorded),
    }


def rollout_exports(model, recorded):
    """A canary's revision, named from the content tag the program built."""
    if "rollout" not in model:
        return {}
    [build] = [r for r in recorded["resources"] if r["name"] == "image-build"]
    return {"revision": revision_name(model, build["inputs"]["environment"]["CONTENT_TAG"])}


def test_the_service_runs_the_build_by_digest(tmp_path):
    spec, program = _program(tmp_path, "iris-sklearn")
    model = model_of(spec)
    recorded = run_program(program / "__main__.py")
    [build] = [r for r in recorded["resources"] if r["type"] == COMMAND]
    [tag] = build["inputs"]["triggers"]
    assert f"{REPOSITORY}::images" in build["depends_on"]
    assert build["inputs"]["dir"] == str(spec.parent)
    # The digest is read for the tag this build pushes, and that digest is what runs.
    [read] = [c for c in recorded["calls"] if c["token"] == DOCKER_IMAGE]
    assert read["args"]["imageName"] == f"{model['image']['name']}:{tag}"
    [service] = [r for r in recorded["resources"] if r["type"] == SERVICE]
    [container] = service["inputs"]["template"]["containers"]
    assert container["image"] == f"{model['image']['path']}@sha256:{hashlib.sha256(read['args']['imageName'].encode()).hexdigest()}"
    # A changed input is a new tag, so a new digest: the service rolls out.
    (program.parent / "app" / "main.py").write_text("changed")
    again = run_program(program / "__main__.py")
    [service_again] = [r for r in again["resources"] if r["type"] == SERVICE]
    assert service_again["inputs"]["template"]["containers"][0]["image"] != container["image"]


def ci_exports(ci):
    """What the program exports for the pipeline: its account, and the provider a GitHub
    workflow signs in through."""
    if ci is None:
        return {}
    out = {"ci_service_account": ci["account"]["email"]}
    if f := ci["federation"]:
        out["ci_workload_identity_provider"] = (
            f"projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/{f['pool_id']}/providers/"
            f"{f['provider_id']}")
    return out


def test_grants_are_ordered_and_reference_outputs(tmp_path, example):
    spec, program = _program(tmp_path, example)
    model = model_of(spec)
    resources = run_program(program / "__main__.py")["resources"]
    by_name = {r["name"]: r for r in resources}
    (service,) = [r for r in resources if r["type"] == SERVICE]
    account = f"{ACCOUNT}::runtime"
    assert account in service["depends_on"]
    for grant in model["iam"]:
        r = by_name[grant["key"]]
        ref = f"{r['type']}::{r['name']}"
        if grant["before_service"]:
            assert ref in service["depends_on"], f"{grant['key']} must exist before the service"
        if grant["principal"] == "runtime" or grant["target"] == "service_account":
            assert account in r["depends_on"], f"{grant['key']} must use the account's outputs"
        if grant["target"] == "service":
            assert f"{SERVICE}::service" in r["depends_on"], f"{grant['key']} must use the service's outputs"
    apis = {f"{r['type']}::{r['name']}" for r in resources
            if r["type"] == "gcp:projects/service:Service" and r["name"] in model["apis"]}
    assert len(apis) == len(model["apis"]) and apis <= set(service["depends_on"])
    if model["ci"]:
        # The pipeline's APIs come before what calls them: the pool, or the trigger.
        ci_apis = {f"gcp:projects/service:Service::ci-{api}" for api in model["ci"]["apis"]}
        [needs] = [r for r in resources if r["type"] in (POOL, TRIGGER)]
        assert ci_apis <= set(needs["depends_on"])
    assert all(r["inputs"]["disableOnDestroy"] is False for r in resources if r["type"] == "gcp:projects/service:Service")


def test_program_is_clean_python(tmp_path, example):
    _, program = _program(tmp_path, example)
    main = program / "__main__.py"
    subprocess.run([sys.executable, "-m", "py_compile", str(main)], check=True, capture_output=True)
    # ruff's defaults plus pycodestyle, bugbear and pyupgrade; line length is left to the
    # spec's values (a long description is not a defect).
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--extend-select", "E,W,B,UP",
         "--ignore", "E501", "--target-version", "py311", str(main)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


def test_project_file_and_pins(tmp_path, example):
    spec, program = _program(tmp_path, example)
    model = model_of(spec)
    project = yaml.safe_load((program / "Pulumi.yaml").read_text())
    want = {
        "name": model["service"]["name"],
        "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}},
    }
    if model["service"]["description"] is not None:
        want["description"] = model["service"]["description"]
    assert project == want

    def pins(path):
        lines = (line.strip() for line in path.read_text().splitlines())
        return sorted(line for line in lines if line and not line.startswith("#"))

    # The program's own requirements are the SDK versions this suite validates against.
    packages = ("pulumi", "pulumi-command", "pulumi-gcp")
    sdk = [p for p in pins(ROOT / "tests" / "requirements" / "pulumi.txt") if p.split("==")[0] in packages]
    assert len(sdk) == len(packages)
    assert pins(program / "requirements.txt") == sdk


HOSTILE = r'''
[service]
name = "hostile"
project = "acme-demos"
region = "europe-west1"
description = "say \"hi\" it's C:\\temp\\{x} {{ y }} {% z %} ${HOME} %s\nline two\ttab é ✓ \u2028 end\\"
labels = { team = "devrel" }
deletion_protection = false

[model]
framework = "lightgbm"
source = "model/churn.txt"
features = ["a", "b"]

[container]
python = "3.12"

[image]
url = "europe-west1-docker.pkg.dev/acme-demos/shared/hostile:1"

[resources]
cpu = 1
memory = "1Gi"

[scaling]
max_instances = 2

[service_account]
account_id = "hostile-run"
display_name = "it's \"quoted\" \\ {braces}"

[access]
public = true

[env]
GREETING = "Hello, \"world\"! '\\n' \\ {0} {name} %(x)s f\"{y}\" $HOME ${X} `id`\nsecond line"
'''


def test_hostile_strings_arrive_intact(tmp_path):
    spec, out = render_spec_text(tmp_path, HOSTILE)
    main = out / "pulumi" / "__main__.py"
    subprocess.run([sys.executable, "-m", "py_compile", str(main)], check=True, capture_output=True)
    recorded = run_program(main)
    model = model_of(spec)
    assert extract(recorded) == expected(model)
    assert yaml.safe_load((out / "pulumi" / "Pulumi.yaml").read_text())["description"] == model["service"]["description"]


# --- the harness catches what the SDK lets through ----------------------------------------

BROKEN = {
    "misspelt nested key": (
        """
        gcp.cloudrunv2.Service("s", location="us-central1", template={
            "containers": [{"image": "img", "ports": {"contianer_port": 8080}}],
        })
        """,
        "unknown key 'contianer_port'",
    ),
    "wire name instead of python name": (
        """
        gcp.cloudrunv2.Service("s", location="us-central1", template={
            "containers": [{"image": "img", "resources": {"cpuIdle": True}}],
        })
        """,
        "unknown key 'cpuIdle'",
    ),
    "misspelt key under a typed Args class": (
        """
        gcp.cloudrunv2.Service("s", location="us-central1", template=gcp.cloudrunv2.ServiceTemplateArgs(
            containers=[gcp.cloudrunv2.ServiceTemplateContainerArgs(image="img", envs=[{"nmae": "A", "value": "1"}])],
        ))
        """,
        "unknown key 'nmae'",
    ),
    "missing required key": (
        """
        gcp.cloudrunv2.Service("s", location="us-central1", template={"containers": [{"ports": {"container_port": 80}}]})
        """,
        "missing required key 'image'",
    ),
    "number where the API takes a string": (
        """
        gcp.cloudrunv2.Service("s", location="us-central1", template={
            "containers": [{"image": "img", "resources": {"limits": {"cpu": 2}}}],
        })
        """,
        "int 2 where",
    ),
    "string where the API takes a bool": (
        """
        gcp.serviceaccount.Account("a", account_id="abcdef", disabled="False")
        """,
        "str 'False' where",
    ),
    "f-string on an Output": (
        """
        sa = gcp.serviceaccount.Account("a", account_id="abcdef")
        gcp.storage.BucketIAMMember("b", bucket="bkt", role="roles/storage.objectViewer",
                                    member=f"serviceAccount:{sa.email}")
        """,
        "stringified Output at resources",
    ),
    ".format on an Output in an export": (
        """
        sa = gcp.serviceaccount.Account("a", account_id="abcdef")
        pulumi.export("who", "serviceAccount:{}".format(sa.email))
        """,
        "stringified Output at exports.who",
    ),
    "exception in the program": (
        """
        gcp.serviceaccount.Account("a", account_id="abcdef")
        raise RuntimeError("boom")
        """,
        "RuntimeError: boom",
    ),
    "exception inside apply": (
        """
        sa = gcp.serviceaccount.Account("a", account_id="abcdef")
        pulumi.export("x", sa.email.apply(lambda e: e / 2))
        """,
        "TypeError",
    ),
    "wrong argument name": (
        """
        gcp.serviceaccount.Account("a", acount_id="abcdef")
        """,
        "unexpected keyword argument 'acount_id'",
    ),
}


def _write_program(tmp_path, body):
    d = tmp_path / "prog"
    d.mkdir()
    (d / "Pulumi.yaml").write_text('name: "prog"\nruntime: python\n')
    (d / "__main__.py").write_text("import pulumi\nimport pulumi_gcp as gcp\n" + textwrap.dedent(body))
    return d / "__main__.py"


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_harness_catches(tmp_path, case):
    body, needle = BROKEN[case]
    with pytest.raises(ProgramError) as err:
        run_program(_write_program(tmp_path, body))
    assert any(needle in p for p in err.value.problems), err.value.problems


def test_harness_accepts_typed_args_and_outputs(tmp_path):
    main = _write_program(tmp_path, """
        sa = gcp.serviceaccount.Account("a", account_id="abcdef", project="p")
        svc = gcp.cloudrunv2.Service("s", name="svc", location="us-central1", project="p",
            template=gcp.cloudrunv2.ServiceTemplateArgs(
                service_account=sa.email,
                containers=[gcp.cloudrunv2.ServiceTemplateContainerArgs(
                    image="img", envs=[{"name": "A", "value": sa.email.apply(lambda e: "mail:" + e)}])],
            ))
        pulumi.export("uri", svc.uri)
    """)
    recorded = run_program(main)
    (svc,) = [r for r in recorded["resources"] if r["type"] == SERVICE]
    container = svc["inputs"]["template"]["containers"][0]
    assert container["envs"] == [{"name": "A", "value": "mail:abcdef@p.iam.gserviceaccount.com"}]
    assert recorded["exports"] == {"uri": "https://svc-mock.us-central1.run.app"}



# --- random valid specs with hostile free text ---------------------------------------------


@seed(SEED)
@settings(max_examples=20, deadline=None, database=None, derandomize=False,
          suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs())
def test_random_specs_deploy_what_the_model_says(tmp_path_factory, spec):
    note(REPEAT)
    tmp = tmp_path_factory.mktemp("random")
    spec_path, out = render_spec_text(tmp, to_toml(spec))
    recorded = run_program(out / "pulumi" / "__main__.py")
    assert extract(recorded) == expected(model_of(spec_path))


def test_ruff_check_of_the_program_can_fail(tmp_path):
    bad = tmp_path / "__main__.py"
    bad.write_text("import pulumi\nimport os\n\nx = pulumi.export('a', undefined_name)\n")
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--extend-select", "E,W,B,UP",
         "--ignore", "E501", "--target-version", "py311", str(bad)],
        check=False, capture_output=True, text=True,
    )
    assert ruff.returncode != 0 and "F401" in ruff.stdout and "F821" in ruff.stdout, ruff.stdout


def test_an_image_of_another_project_is_pulled_by_the_service_agent(tmp_path):
    spec, out = render_spec_text(tmp_path, CROSS_PROJECT)
    recorded = run_program(out / "pulumi" / "__main__.py")
    got = extract(recorded)
    assert got == expected(model_of(spec))
    [pull] = [r for r in recorded["resources"] if r["type"].endswith("RepositoryIamMember")]
    assert pull["inputs"]["member"] == (
        "serviceAccount:service-PROJECT_NUMBER@serverless-robot-prod.iam.gserviceaccount.com")
    assert f"{SERVICE}::service" not in pull["depends_on"]
    [service] = [r for r in recorded["resources"] if r["type"] == SERVICE]
    assert f"{pull['type']}::{pull['name']}" in service["depends_on"]


def test_prerequisites_are_looked_up_before_anything_is_created(tmp_path):
    _, program = _program(tmp_path, "fraud-onnx-gcs")
    recorded = run_program(program / "__main__.py")
    # The built image's digest is read after its build, not as a prerequisite.
    looked_up = {c["token"] for c in recorded["calls"]} - {DOCKER_IMAGE}
    assert looked_up == {"gcp:secretmanager/getSecret:getSecret",
                         "gcp:storage/getManagedFolderIamPolicy:getManagedFolderIamPolicy"}
    with pytest.raises(ProgramError) as failed:
        run_program(program / "__main__.py", missing={"gcp:secretmanager/getSecret:getSecret"})
    assert failed.value.recorded["resources"] == []
    assert "missing prerequisite: create the secret feature-store-key: gcloud secrets create" in str(failed.value)


def test_a_protected_service_is_protected_from_destroy(tmp_path, example):
    spec, program = _program(tmp_path, example)
    [service] = [r for r in run_program(program / "__main__.py")["resources"] if r["type"] == SERVICE]
    assert service["protect"] == model_of(spec)["service"]["deletion_protection"]


@pytest.mark.parametrize("provider", ["github", "cloudbuild"])
def test_the_pipeline_registers_what_the_model_says(tmp_path, provider):
    """The pool, its provider's condition and the repository's principal set (GitHub) or
    the trigger (Cloud Build), and the deploy account's grants, with resolved inputs."""
    spec, out = ci_specs.with_provider(tmp_path, provider)
    model = model_of(spec)
    recorded = run_program(out / "pulumi" / "__main__.py")
    got = extract(recorded)["ci"]
    assert got == expected(model)["ci"]
    exports = {**recorded["exports"], "image": by_digest(recorded["exports"]["image"])}
    assert exports == {
        "uri": f"https://{model['service']['name']}-mock.{model['service']['region']}.run.app",
        "runtime_account": model["runtime_account"]["email"],
        "image": expected(model)["image"],
        **ci_exports(model["ci"]),
    }
    federated = [g for g in got["iam"] if g["member"].startswith("principalSet://")]
    if provider == "github":
        assert got["pool"]["attribute_condition"] == (
            "assertion.repository == 'acme/churn-demo' && assertion.ref == 'refs/heads/main'")
        assert [g["member"] for g in federated] == [(
            "principalSet://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/"
            "workloadIdentityPools/gh-churn-demo/attribute.repository/acme/churn-demo")]
        assert got["trigger"] is None
    else:
        assert (got["pool"], federated) == (None, [])
        assert got["trigger"]["github"] == {"owner": "acme", "name": "churn-demo", "branch": "^main$"}
        assert got["trigger"]["service_account"] == model["ci"]["account"]["email"]
