"""A spec with [environments] on the simulated control plane: staging builds and deploys,
then prod, in its own project, deploys staging's image by digest, in every target.

Each target starts from empty projects. Prod never builds (the registry holds exactly the
images staging pushed), its Cloud Run service agent can pull staging's image (the control
plane refuses a revision whose image it cannot read), and the end states agree across the
targets.
"""

import json
import os
import shutil
import subprocess
import tomllib

import extract_pulumi
import extract_terraform
import jsonschema
import monitoring_api
import pytest
import tf_validate
import yaml
from conftest import ENV_EXAMPLES, ROOT, copy_example, mlgen, model_of
from cplane import TARGETS, Deployment, fresh_cloud, prerequisites, spec_of
from gcloud_standin import project_number
from parity import expected
from pulumi_harness import ProgramError, run_program
from test_ci import message_fields, unknown_fields
from test_cplane import assert_same_end_states
from test_gcloud import shellcheck
from test_monitoring import documents, from_gcloud, from_model, from_terraform

EXAMPLE = "churn-staged"


def service_name(model):
    s = model["service"]
    return f"projects/{s['project']}/locations/{s['region']}/services/{s['name']}"


def deploy_both(tmp_path, target):
    """Staging from an empty project, then prod from another empty project with the registry
    staging left; returns (cloud after staging, cloud after prod, staging's model, prod's)."""
    spec, out = copy_example(tmp_path / "spec", EXAMPLE)
    staging, prod = model_of(spec)
    assert (staging["environment"], prod["environment"]) == ("staging", "prod")
    cloud = fresh_cloud(spec_of(spec), staging)
    d = Deployment(target, cloud, tmp_path / "state-staging", prerequisites(staging))
    outcome = d.deploy(out / "staging")
    assert outcome.ok, outcome.errors
    after_staging = cloud.copy()
    digest = cloud.services[service_name(staging)]["digest"]
    image = f"{staging['image']['path']}@{digest}"
    # Prod's project is another one, empty; the registry is staging's, as prod sees it.
    prod_cloud = cloud.copy()
    prod_cloud.project, prod_cloud.number = prod["service"]["project"], project_number(prod["service"]["project"])
    d = Deployment(target, prod_cloud, tmp_path / "state-prod", prerequisites(prod))
    outcome = d.deploy(out / "prod", image=image)
    assert outcome.ok, outcome.errors
    return after_staging, prod_cloud, staging, prod


def test_the_example_has_environments():
    assert EXAMPLE in ENV_EXAMPLES


@pytest.mark.parametrize("target", TARGETS)
def test_prod_deploys_stagings_image_by_digest_and_never_builds(tmp_path, target):
    after_staging, cloud, staging, prod = deploy_both(tmp_path, target)
    running = cloud.services[service_name(prod)]
    assert running["digest"] == after_staging.services[service_name(staging)]["digest"]
    image = running["config"]["template"]["containers"][0]["image"]
    assert image.startswith(staging["image"]["path"] + "@sha256:"), image
    # No build: the registry holds what staging pushed, and prod has no repository of its own.
    assert cloud.images == after_staging.images
    assert cloud.repositories == after_staging.repositories
    # Prod's service agent reads staging's repository: the grant the promotion needs.
    agent = f"serviceAccount:service-{project_number('acme-prod')}@serverless-robot-prod.iam.gserviceaccount.com"
    repo = "projects/acme-staging/locations/europe-west1/repositories/models"
    assert (repo, "roles/artifactregistry.reader", agent) in cloud.policies
    # The pipeline (staging's deploy account) may deploy new revisions to prod.
    pipeline = staging["ci"]["account"]
    runtime = f"projects/acme-prod/serviceAccounts/{prod['runtime_account']['email']}"
    assert cloud.deployer_gaps(pipeline["member"], service_name(prod), runtime, None) == []
    assert prod["service"]["project"] == "acme-prod" and running["config"]["template"]["scaling"]["minInstanceCount"] == 2


@pytest.mark.parametrize("target", ["pulumi", "gcloud"])
def test_prod_refuses_an_image_that_is_not_stagings_digest(tmp_path, target):
    """A tag, or another image, is not a promotion: the target stops before deploying."""
    spec, out = copy_example(tmp_path / "spec", EXAMPLE)
    staging, prod = model_of(spec)
    cloud = fresh_cloud(spec_of(spec), prod)
    d = Deployment(target, cloud, tmp_path / "state", prerequisites(prod))
    for image in NOT_PROMOTIONS(staging):
        if target == "pulumi":
            with pytest.raises(ProgramError, match="the image of staging"):
                d.deploy(out / "prod", image=image)
        else:
            assert not d.deploy(out / "prod", image=image).ok
        assert cloud.services == {} and cloud.changes == []


def NOT_PROMOTIONS(staging):  # noqa: N802 a constant of the example
    path = staging["image"]["path"]
    return [f"{path}:1.4.0", f"{path}@sha256:{'0' * 63}", f"{path.replace('acme-staging', 'other')}@sha256:{'0' * 64}"]


def test_terraform_refuses_an_image_that_is_not_stagings_digest(tmp_path):
    """The real terraform evaluates the variable's validation (variables.tf alone: no provider)."""
    spec, out = copy_example(tmp_path / "spec", EXAMPLE)
    staging, _ = model_of(spec)
    work = tmp_path / "tf"
    work.mkdir()
    shutil.copy(out / "prod" / "terraform" / "variables.tf", work)
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}

    def plan(image):
        return subprocess.run(
            ["terraform", "plan", "-input=false", "-no-color", f"-var=image={image}"], cwd=work, capture_output=True, text=True, env=env, check=False
        )

    subprocess.run(["terraform", "init", "-input=false", "-no-color"], cwd=work, capture_output=True, env=env, check=True)
    ok = plan(f"{staging['image']['path']}@sha256:{'a' * 64}")
    assert ok.returncode == 0, ok.stderr
    for image in NOT_PROMOTIONS(staging):
        refused = plan(image)
        assert refused.returncode != 0 and "the image of environment staging" in refused.stderr, refused.stderr


def test_the_three_targets_end_in_the_same_state(tmp_path):
    states = {t: deploy_both(tmp_path / t, t)[1].end_state() for t in TARGETS}
    assert_same_end_states(states)


def test_the_schema_describes_environments_and_rejects_what_cannot_vary():
    schema = json.loads((ROOT / "schema" / "mlgen.schema.json").read_text())
    for example in ENV_EXAMPLES:
        spec = tomllib.loads((ROOT / "examples" / example / "mlgen.toml").read_text())
        jsonschema.validate(spec, schema)
    for key, table in (("model", {"framework": "onnx"}), ("service", {"name": "other"}), ("image", {"tag": "2"})):
        spec = tomllib.loads((ROOT / "examples" / EXAMPLE / "mlgen.toml").read_text())
        spec["environments"]["prod"][key] = table
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(spec, schema)


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_each_environments_terraform_is_formatted_valid_and_deploys_its_model(tmp_path, environment):
    spec, out = copy_example(tmp_path, EXAMPLE)
    model = {m["environment"]: m for m in model_of(spec)}[environment]
    tf = out / environment / "terraform"
    ok, output = tf_validate.fmt_check(tf)
    assert ok, output
    assert tf_validate.validate(tf) == []
    promoted = model["image"].get("promoted")
    given = {"image": f"{promoted['digest_prefix']}{'0' * 64}"} if promoted else {}
    assert bool(promoted) == (environment == "prod")
    assert extract_terraform.extract(tf, given) == expected(model)


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_each_environments_pulumi_program_deploys_its_model(tmp_path, environment):
    spec, out = copy_example(tmp_path, EXAMPLE)
    model = {m["environment"]: m for m in model_of(spec)}[environment]
    promoted = model["image"].get("promoted")
    config = {"image": f"{promoted['digest_prefix']}{'0' * 64}"} if promoted else {}
    record = run_program(out / environment / "pulumi" / "__main__.py", config=config)
    assert extract_pulumi.extract(record) == expected(model)


def test_the_cloud_build_pipeline_deploys_each_environment_in_order_after_approval(tmp_path):
    spec, out = copy_example(tmp_path, EXAMPLE)
    spec.write_text(spec.read_text().replace('provider = "github"', 'provider = "cloudbuild"'))
    mlgen("apply", spec)
    doc = yaml.safe_load((out / "staging" / "ci" / "cloudbuild" / "cloudbuild.yaml").read_text())
    assert unknown_fields(doc, "Build", message_fields()) == []
    deploys = [s for s in doc["steps"] if s["id"].startswith("deploy-")]
    assert [s["id"] for s in deploys] == ["deploy-staging", "deploy-prod"]
    assert ["PROJECT=acme-staging" in s["env"] for s in deploys] == [True, False]
    assert "PROJECT=acme-prod" in deploys[1]["env"]
    assert not (out / "prod" / "ci").exists()
    [staging, _] = model_of(spec)
    assert staging["ci"]["trigger"]["approval_required"]


def test_each_environments_scripts_pass_shellcheck(tmp_path):
    _, out = copy_example(tmp_path, EXAMPLE)
    scripts = sorted(out.glob("*/gcloud/*.sh"))
    assert {p.parent.parent.name for p in scripts} == {"staging", "prod"}
    proc = shellcheck(*scripts)
    assert proc.returncode == 0, proc.stdout


def test_each_environment_has_its_own_monitoring_in_every_target(tmp_path):
    spec, out = copy_example(tmp_path, EXAMPLE)
    models = {m["environment"]: m for m in model_of(spec)}
    names = {}
    for env, model in models.items():
        for path, type_name, doc in documents(out / env):
            assert monitoring_api.problems(doc, type_name) == [], path
            assert monitoring_api.unknown_metrics(doc) == [], path
        want = from_model(model)
        assert len(want) == 4
        assert from_terraform(out / env) == want
        assert from_gcloud(tmp_path / env, out / env) == want
        policies = model["monitoring"]["policies"]
        names[env] = {p["display_name"] for p in policies}
        region = f'resource.labels.location="{model["service"]["region"]}"'
        assert all(region in p["condition"]["series"]["filter"] for p in policies)
    assert not names["staging"] & names["prod"]
