"""Every target, replayed on the simulated control plane (controlplane/), deploys in one go,
stays right on day two, and ends where the others end.

Each property runs per target. Where today's output fails it, the test is marked
xfail(strict=True) with the defect: the fix turns it into a failure, and the marker goes.
"""

import re

import pytest
from conftest import EXAMPLES, ROOT
from cplane import TARGETS, Setup, service_of
from hypothesis import HealthCheck, Phase, given, note, seed, settings
from specgen import REPEAT, SEED, specs

PROTECTED_EXAMPLES = ["fraud-onnx-gcs", "iris-sklearn", "review-sentiment"]
UNPROTECTED_EXAMPLES = ["churn-public", "forecast-gpu"]


# --- one run, second run ---------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_one_run_deploys_from_an_empty_project(tmp_path, example, target):
    setup = Setup.example(tmp_path, example)
    d = setup.deployment(target)
    outcome = d.deploy(setup.out)
    assert outcome.ok, outcome.errors
    assert service_of(setup, d.cloud)["digest"]


@pytest.mark.parametrize(("target", "example"), [(t, e) for e in EXAMPLES for t in TARGETS])
def test_a_second_run_changes_nothing(tmp_path, example, target):
    setup = Setup.example(tmp_path, example)
    d = setup.deployed(target)
    before = len(d.cloud.changes)
    outcome = d.deploy(setup.out)
    assert outcome.ok, outcome.errors
    assert d.cloud.changes[before:] == []


@pytest.mark.parametrize("target", TARGETS)
def test_a_rebuild_rolls_out(tmp_path, target):
    """A changed input of the image builds a new one, and the service runs it."""
    setup = Setup.example(tmp_path, "iris-sklearn")
    d = setup.deployed(target)
    before = service_of(setup, d.cloud)
    dockerfile = setup.out / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "# rebuilt\n")
    outcome = d.deploy(setup.out)
    assert outcome.ok, outcome.errors
    after = service_of(setup, d.cloud)
    assert after["digest"] != before["digest"]
    assert after["digest"] == d.cloud.resolve(setup.image)
    assert after["revision"] == before["revision"] + 1


# --- parity of end states --------------------------------------------------------------


def test_the_three_targets_end_in_the_same_state(tmp_path, example):
    setup = Setup.example(tmp_path, example)
    states = {t: setup.deployed(t).cloud.end_state() for t in TARGETS}
    assert_same_end_states(states)


# deploy.sh leaves Cloud Monitoring to monitoring.sh, a separate script that test_monitoring.py
# runs against its own stand-in.
NOT_DEPLOYED_BY = {"gcloud": {"monitoring"}}


def assert_same_end_states(states):
    for target in ("pulumi", "gcloud"):
        for part, value in states["terraform"].items():
            if part not in NOT_DEPLOYED_BY.get(target, ()):
                assert states[target][part] == value, f"{target} differs from terraform in {part}"


# --- day two: what leaves the spec loses its access -----------------------------------

RUNTIME = "serviceAccount:fraud-scorer-run@acme-payments.iam.gserviceaccount.com"
SERVICE = "projects/acme-payments/locations/us-central1/services/fraud-scorer"


def without_invoker(text):
    return text.replace('  "group:risk-analysts@acme.example",\n', "")


def without_label(text):
    return text.replace('labels = { team = "risk", cost-center = "cc-4410" }', 'labels = { team = "risk" }')


def without_secret(text):
    return text.replace('SIGNING_SALT = { secret = "fraud-signing-salt", version = "2" }\n', "")


def without_bucket(text):
    return text.replace('"gs://acme-models-prod/fraud/v7/model.onnx"', '"models/model.onnx"')


def invoker_gone(cloud):
    return (SERVICE, "roles/run.invoker", "group:risk-analysts@acme.example") not in cloud.policies


def label_gone(cloud):
    return "cost-center" not in cloud.services[SERVICE]["config"]["labels"]


def secret_gone(cloud):
    return not any(p[0] == "projects/acme-payments/secrets/fraud-signing-salt" and p[2] == RUNTIME
                   for p in cloud.policies)


def bucket_gone(cloud):  # a grant on the bucket or on a managed folder in it
    return not any(re.match(r"b/acme-models-prod(/|$)", p[0]) and p[2] == RUNTIME for p in cloud.policies) \
        and not cloud.services[SERVICE]["config"]["template"]["volumes"]


REMOVALS = {
    "invoker": (without_invoker, invoker_gone),
    "label": (without_label, label_gone),
    "secret": (without_secret, secret_gone),
    "bucket": (without_bucket, bucket_gone),
}


@pytest.mark.parametrize("target", TARGETS)
def test_removing_from_the_spec_removes_its_access(tmp_path, target):
    """An invoker, a label, a secret and the bucket leave the spec at once (one redeploy
    for the four keeps the suite quick); each must lose its access."""
    setup = Setup.example(tmp_path, "fraud-onnx-gcs")
    d = setup.deployed(target)
    assert not any(gone(d.cloud) for _, gone in REMOVALS.values()), "a removed item was never there"
    (setup.spec_path.parent / "models").mkdir(exist_ok=True)
    (setup.spec_path.parent / "models" / "model.onnx").write_bytes(b"onnx")
    for edit, _ in REMOVALS.values():
        setup.respec(edit)
    outcome = d.deploy(setup.out)
    assert outcome.ok, outcome.errors
    kept = [item for item, (_, gone) in REMOVALS.items() if not gone(d.cloud)]
    assert not kept, f"removed from the spec, still granted or set: {kept}"


# --- teardown -------------------------------------------------------------------------


def left_by(cloud, before):
    """What differs from `before`, APIs aside (every target leaves them enabled on purpose)."""
    after = cloud.end_state()
    return {k: (before[k], after[k]) for k in after if k != "apis" and after[k] != before[k]}


@pytest.mark.parametrize(("target", "example"), [(t, e) for e in UNPROTECTED_EXAMPLES for t in TARGETS])
def test_teardown_removes_exactly_what_the_deploy_created(tmp_path, target, example):
    setup = Setup.example(tmp_path, example)
    d = setup.deployment(target)
    before = d.cloud.end_state()
    assert d.deploy(setup.out).ok
    outcome = d.destroy(setup.out)
    assert outcome.ok, outcome.errors
    assert left_by(d.cloud, before) == {}


def test_the_pipeline_comes_back_after_a_teardown(tmp_path):
    """A deleted identity pool keeps its id for 30 days: ci-setup.sh undeletes it."""
    setup = Setup.example(tmp_path, "churn-public")
    d = setup.deployed("gcloud")
    first = d.cloud.end_state()
    assert d.destroy(setup.out).ok
    outcome = d.deploy(setup.out)
    assert outcome.ok, outcome.errors
    again = d.cloud.end_state()
    assert (again["pools"], again["accounts"]) == (first["pools"], first["accounts"])


def shared_repository(text):
    return text.replace('tag = "0.3.1"\n', 'tag = "0.3.1"\nrepository_exists = true\n')


@pytest.mark.parametrize("target", TARGETS)
def test_a_repository_that_existed_before_survives_with_its_images(tmp_path, target):
    """`image.repository_exists`: the repository is read, pushed to, and left as it was."""
    setup = Setup.example(tmp_path, "churn-public")
    setup.respec(shared_repository)
    assert setup.model["repository"]["existing"]
    cloud = setup.cloud()
    repo = setup.model["repository"]
    cloud.repositories[f"projects/{repo['project']}/locations/{repo['location']}/repositories/{repo['id']}"] = {
        "format": "DOCKER", "description": "shared"}
    cloud.apis[repo["project"]] = {"artifactregistry.googleapis.com"}
    other = f"{repo['location']}-docker.pkg.dev/{repo['project']}/{repo['id']}/other-service"
    cloud.push(f"{other}:1.0")
    before = cloud.end_state()
    d = setup.deployment(target, cloud)
    assert d.deploy(setup.out).ok
    outcome = d.destroy(setup.out)
    assert outcome.ok, outcome.errors
    after = d.cloud.end_state()
    assert after["repositories"] == before["repositories"]
    assert after["images"].get(other) == before["images"][other]
    # Nothing else is left either (the service's own image aside, kept with the repository):
    # no grant on the repository outlives the deploy.
    assert {k: v for k, v in left_by(d.cloud, before).items() if k != "images"} == {}


def test_teardown_keeps_a_staging_bucket_deploy_sh_did_not_create(tmp_path):
    """deploy.sh uses a bucket of the staging bucket's name that it finds, and labels only the
    bucket it creates; teardown.sh deletes only a bucket with its label."""
    setup = Setup.example(tmp_path, "churn-public")
    name = setup.model["staging_bucket"]["name"]
    cloud = setup.cloud()
    found = {"project": setup.model["service"]["project"], "location": "EUROPE-WEST1"}
    cloud.buckets[name] = dict(found)
    d = setup.deployment("gcloud", cloud)
    assert d.deploy(setup.out).ok
    outcome = d.destroy(setup.out)
    assert outcome.ok, outcome.errors
    assert d.cloud.buckets[name] == found
    assert not [p for p in d.cloud.policies if p[0] == f"b/{name}"]


@pytest.mark.parametrize("target", TARGETS)
def test_a_shared_repository_that_is_missing_fails_before_anything_is_created(tmp_path, target):
    setup = Setup.example(tmp_path, "churn-public")
    setup.respec(shared_repository)
    d = setup.deployment(target)
    before = d.cloud.end_state()
    outcome = d.deploy(setup.out)
    assert not outcome.ok
    assert left_by(d.cloud, before) == {}, "created before failing"
    assert any("repositor" in e and "demos" in e for e in outcome.errors), outcome.errors


@pytest.mark.parametrize("example", PROTECTED_EXAMPLES)
@pytest.mark.parametrize("target", TARGETS)
def test_with_deletion_protection_teardown_deletes_nothing(tmp_path, target, example):
    setup = Setup.example(tmp_path, example)
    d = setup.deployed(target)
    deployed = d.cloud.end_state()
    d.destroy(setup.out)  # refuses, one way or another
    assert left_by(d.cloud, deployed) == {}


# --- prerequisites ---------------------------------------------------------------------

MISSING = {
    # prerequisite: (example, fresh_cloud switch, what the message must name)
    "secret": ("fraud-onnx-gcs", "secrets", "feature-store-key"),
    "bucket": ("fraud-onnx-gcs", "bucket", "acme-models-prod"),
    "gpu quota": ("forecast-gpu", "gpu_quota", "quota"),
}


@pytest.mark.parametrize("missing", sorted(MISSING))
@pytest.mark.parametrize("target", TARGETS)
def test_a_missing_prerequisite_fails_before_anything_is_created(tmp_path, target, missing):
    example, switch, named = MISSING[missing]
    setup = Setup.example(tmp_path, example)
    d = setup.deployment(target, setup.cloud(**{switch: False}))
    before = d.cloud.end_state()
    outcome = d.deploy(setup.out)
    assert not outcome.ok
    assert left_by(d.cloud, before) == {}, "created before failing"
    assert any(named in e for e in outcome.errors), outcome.errors


# --- who may do what ---------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_deployers_hold_what_a_deploy_needs(tmp_path, target):
    setup = Setup.example(tmp_path, "fraud-onnx-gcs")
    d = setup.deployed(target)
    gaps = {member: deployer_gaps(setup, d.cloud, member) for member in setup.spec["access"]["deployers"]}
    assert all(not g for g in gaps.values()), gaps


@pytest.mark.parametrize("target", TARGETS)
def test_the_pipeline_deploys_with_what_it_is_granted(tmp_path, target):
    """The account a [ci] pipeline acts as, through its identity pool, may deploy."""
    setup = Setup.example(tmp_path, "churn-public")
    d = setup.deployed(target)
    ci = setup.model["ci"]
    assert deployer_gaps(setup, d.cloud, ci["account"]["member"]) == []
    account = f"projects/{setup.model['service']['project']}/serviceAccounts/{ci['account']['email']}"
    assert any(r == account and role == "roles/iam.workloadIdentityUser" and m.startswith("principalSet://")
               for r, role, m in d.cloud.policies)
    pools = [n for n in d.cloud.pools if "/providers/" in n]
    assert [p.rsplit("/", 1)[1] for p in pools] == [setup.model["ci"]["provider"]], pools


@pytest.mark.parametrize("target", TARGETS)
def test_the_build_runs_as_its_own_account_with_only_what_a_build_needs(tmp_path, target):
    """The build's account may read its staged source, push to the one repository and write
    logs, nothing else; the spec's deployers may not submit builds (a build may run as the
    project's default identity)."""
    setup = Setup.example(tmp_path, "fraud-onnx-gcs")
    d = setup.deployed(target)
    s, build, repo = setup.model["service"], setup.model["build_account"], setup.model["repository"]
    account = f"projects/{s['project']}/serviceAccounts/{build['email']}"
    assert account in d.cloud.accounts
    repository = f"projects/{repo['project']}/locations/{repo['location']}/repositories/{repo['id']}"
    staging = setup.model["staging_bucket"]
    held = sorted((r, role) for r, role, m in d.cloud.policies if m == build["member"])
    assert held == [(f"b/{staging['name']}", "roles/storage.objectViewer"),
                    (f"projects/{s['project']}", "roles/logging.logWriter"),
                    (repository, "roles/artifactregistry.writer")]
    # The staging bucket is private, in the service's region, and forgets staged sources.
    assert d.cloud.buckets[staging["name"]] | {"labels": None} == {
        "project": s["project"], "location": s["region"].upper(), "uniformBucketLevelAccess": True,
        "publicAccessPrevention": "enforced", "lifecycle": [{"action": "Delete", "age": 7}], "labels": None}
    for member in setup.spec["access"]["deployers"]:
        assert not d.cloud.may(member, "iam.serviceAccounts.actAs", account), member
        assert not d.cloud.may(member, "cloudbuild.builds.create", f"projects/{s['project']}"), member
        assert not d.cloud.may(member, "storage.objects.get", f"b/{staging['name']}"), member


def deployer_gaps(setup, cloud, member):
    s, account, repo = setup.model["service"], setup.model["runtime_account"], setup.model["repository"]
    return cloud.deployer_gaps(
        member,
        f"projects/{s['project']}/locations/{s['region']}/services/{s['name']}",
        f"projects/{s['project']}/serviceAccounts/{account['email']}",
        f"projects/{repo['project']}/locations/{repo['location']}/repositories/{repo['id']}",
    )


SHARED_IMAGE = "us-central1-docker.pkg.dev/acme-shared/base/iris:2.0.0"


@pytest.mark.parametrize("target", TARGETS)
def test_the_service_agent_can_pull_an_image_from_another_project(tmp_path, target):
    setup = Setup.example(tmp_path, "iris-sklearn")
    setup.respec(lambda t: re.sub(r'\[image\]\nrepository = "[^"]*"\ntag = "[^"]*"',
                                  f'[image]\nurl = "{SHARED_IMAGE}"', t))
    assert setup.model["image"]["built_here"] is False
    cloud = setup.cloud()
    cloud.repositories["projects/acme-shared/locations/us-central1/repositories/base"] = {
        "format": "DOCKER", "description": None}
    cloud.apis["acme-shared"] = {"artifactregistry.googleapis.com"}
    cloud.push(SHARED_IMAGE)
    d = setup.deployment(target, cloud)
    outcome = d.deploy(setup.out)
    assert outcome.ok, outcome.errors


# --- random specs ------------------------------------------------------------------------


# Seeded (see specgen), no shrinking: each example replays three targets twice.
@seed(SEED)
@settings(max_examples=3, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(spec=specs())
def test_random_specs_deploy_and_end_alike_in_every_target(tmp_path_factory, spec):
    note(REPEAT)
    setup = Setup.of(tmp_path_factory.mktemp("cplane"), spec)
    states = {}
    for target in TARGETS:
        d = setup.deployed(target)
        states[target] = d.cloud.end_state()
        assert d.deploy(setup.out).ok
        assert d.cloud.end_state() == states[target], f"{target}: a second run changed the state"
    assert_same_end_states(states)


def test_the_examples_cover_each_case():
    """The properties above pick examples by what they hold; keep those facts true."""
    assert set(PROTECTED_EXAMPLES) | set(UNPROTECTED_EXAMPLES) == set(EXAMPLES)
    for example in PROTECTED_EXAMPLES:
        assert "deletion_protection = true" in (ROOT / "examples" / example / "mlgen.toml").read_text()
