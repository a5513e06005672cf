"""The Cloud Build trigger of `[ci] provider = "cloudbuild"`, replayed on the simulated control
plane (controlplane/) for every target: created after the Cloud Build API is on and its
account exists, running as that account (which may deploy and write its logs), on the
repository and branch of the spec, with the build file mlgen writes and approval as the model
decides; every field one the Cloud Build API's BuildTrigger message defines; the same trigger
from all three targets. Each property fails for a mutated target (see the end of the file).
"""

import re
import shutil

import monitoring_api
import pytest
from ci_specs import with_provider
from controlplane.project import Cloud, Rejected, Res, trigger
from cplane import TARGETS, Setup
from test_cplane import assert_same_end_states, deployer_gaps


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The churn-public example with its pipeline on Cloud Build, rendered once."""
    spec, _ = with_provider(tmp_path_factory.mktemp("cloudbuild"), "cloudbuild")
    return spec.parent


def setup_in(tmp_path, rendered):
    folder = tmp_path / "svc"
    shutil.copytree(rendered, folder)
    return Setup(tmp_path, folder / "mlgen.toml")


def the_trigger(setup, cloud):
    """(resource name, fields) of the one trigger in cloud."""
    assert len(cloud.triggers) == 1, cloud.triggers
    ((name, fields),) = cloud.triggers.items()
    return name, fields


def build_trigger_problems(fields):
    """Every way `fields` is not a BuildTrigger of the installed SDK's Cloud Build v1 client."""
    monitoring_api.modules()  # puts the SDK's lib on sys.path
    from googlecloudsdk.generated_clients.apis.cloudbuild.v1 import cloudbuild_v1_messages as v1

    out = []
    monitoring_api._walk(fields, v1.BuildTrigger, "trigger", out)
    return out


# --- what each target creates ------------------------------------------------------------


def check_trigger(setup, cloud):
    """The trigger in cloud is the one the model decides, on what it needs."""
    ci, project = setup.model["ci"], setup.model["service"]["project"]
    name, t = the_trigger(setup, cloud)
    assert name == f"projects/{project}/locations/global/triggers/{ci['trigger']['name']}"
    assert t["github"] == {"owner": ci["owner"], "name": ci["name"], "push": {"branch": ci["branch_regex"]}}
    assert re.fullmatch(t["github"]["push"]["branch"], ci["branch"])
    assert not re.fullmatch(t["github"]["push"]["branch"], ci["branch"] + "-old")
    assert t["approvalConfig"] == {"approvalRequired": ci["trigger"]["approval_required"]}
    # The build file, from the repository root, is the one mlgen wrote.
    assert t["filename"] == ci["trigger"]["filename"]
    root = setup.spec_path.parent / ci["root_from_directory"]
    assert (root / t["filename"]).resolve() == (setup.out / "ci" / "cloudbuild" / "cloudbuild.yaml").resolve()
    assert (root / t["filename"]).is_file()
    # It runs as the pipeline's account, which exists and may deploy and write build logs.
    account = f"projects/{project}/serviceAccounts/{ci['account']['email']}"
    assert t.get("serviceAccount") == account and account in cloud.accounts
    assert deployer_gaps(setup, cloud, ci["account"]["member"]) == []
    assert (f"projects/{project}", "roles/logging.logWriter", ci["account"]["member"]) in cloud.policies


@pytest.mark.parametrize("target", TARGETS)
def test_each_target_creates_the_trigger_the_model_decides(tmp_path, rendered, target):
    setup = setup_in(tmp_path, rendered)
    check_trigger(setup, setup.deployed(target).cloud)


@pytest.mark.parametrize("target", TARGETS)
def test_the_trigger_fits_the_cloud_build_api(tmp_path, rendered, target):
    _, t = the_trigger(None, setup_in(tmp_path, rendered).deployed(target).cloud)
    assert build_trigger_problems(t) == []


def test_the_api_checker_refuses_a_field_buildtrigger_lacks():
    t = {"name": "x", "github": {"owner": "o", "name": "n", "push": {"branch": "^main$"}},
         "approvalConfig": {"approvalRequired": "yes"}, "serviceAcount": "projects/p/serviceAccounts/a"}
    found = build_trigger_problems(t)
    assert len(found) == 2, found
    assert any("serviceAcount" in f for f in found) and any("expected a boolean" in f for f in found), found


def test_the_three_targets_end_with_the_same_trigger(tmp_path, rendered):
    states = {}
    for target in TARGETS:
        states[target] = setup_in(tmp_path / target, rendered).deployed(target).cloud.end_state()
    assert len(states["terraform"]["triggers"]) == 1
    assert_same_end_states(states)


@pytest.mark.parametrize("target", TARGETS)
def test_a_second_run_leaves_the_trigger_alone(tmp_path, rendered, target):
    setup = setup_in(tmp_path, rendered)
    d = setup.deployed(target)
    before = len(d.cloud.changes)
    outcome = d.deploy(setup.out)
    assert outcome.ok, outcome.errors
    assert d.cloud.changes[before:] == []


def on_release_branch(text):
    return text.replace('repository = "acme/churn-demo"\n', 'repository = "acme/churn-demo"\nbranch = "release"\n')


@pytest.mark.parametrize("target", TARGETS)
def test_a_changed_branch_reaches_the_trigger(tmp_path, rendered, target):
    setup = setup_in(tmp_path, rendered)
    d = setup.deployed(target)
    setup.respec(on_release_branch)
    outcome = d.deploy(setup.out)
    assert outcome.ok, outcome.errors
    assert setup.model["ci"]["branch"] == "release"
    check_trigger(setup, d.cloud)


# --- the rules the control plane holds a trigger to ----------------------------------------

PROJECT = "acme"
ACCOUNT = f"projects/{PROJECT}/serviceAccounts/ci-deploy@{PROJECT}.iam.gserviceaccount.com"


def a_trigger(**fields):
    base = {"name": "svc-deploy", "filename": "deploy/ci/cloudbuild/cloudbuild.yaml", "serviceAccount": ACCOUNT,
            "github": {"owner": "o", "name": "n", "push": {"branch": "^main$"}}}
    return trigger(PROJECT, "global", {**base, **fields})


def ready_cloud():
    cloud = Cloud(PROJECT, accounts=[ACCOUNT.rsplit("/", 1)[1]])
    cloud.apply(Res("api", "x", {"project": PROJECT, "service": "cloudbuild.googleapis.com"}), "create")
    return cloud


@pytest.mark.parametrize(
    ("prepare", "res", "expected"),
    [
        (lambda c: c.apis.clear(), a_trigger(), "cloudbuild.googleapis.com has not been used"),
        (lambda c: c.accounts.clear(), a_trigger(), "service account ci-deploy@acme.iam.gserviceaccount.com does not exist"),
        (None, a_trigger(serviceAccount="ci-deploy@acme.iam.gserviceaccount.com"), "is not projects/"),
        (None, a_trigger(name="-deploy"), "trigger name"),
        (None, a_trigger(filename=None), "no build config file"),
        (None, a_trigger(github={"owner": "o", "name": "n"}), "push.branch"),
        (None, a_trigger(github={"owner": "o", "name": "n", "push": {"branch": "^(main$"}}), "not a regular expression"),
    ],
)
def test_the_cloud_refuses_a_trigger_the_api_would(prepare, res, expected):
    cloud = ready_cloud()
    if prepare:
        prepare(cloud)
    with pytest.raises(Rejected, match=re.escape(expected)):
        cloud.apply(res, "create")
    cloud = ready_cloud()
    cloud.apply(a_trigger(), "create")
    with pytest.raises(Rejected, match="ALREADY_EXISTS"):
        cloud.apply(a_trigger(), "create")


# --- a mutated target fails ------------------------------------------------------------------

ACCOUNT_OF_CHURN = "projects/acme-demos/serviceAccounts/churn-demo-deploy@acme-demos.iam.gserviceaccount.com"
# mutation: (target, file, [(old, new)]); each `old` occurs once.
MUTATIONS = {
    # The trigger names its account as text and waits for nothing: it goes first, before the
    # Cloud Build API is on.
    "terraform-no-dependency": ("terraform", "terraform/ci.tf", [
        ("service_account = google_service_account.ci.id", f'service_account = "{ACCOUNT_OF_CHURN}"'),
        ("\n  depends_on = [google_project_service.apis, google_project_service.ci_apis]\n}", "\n}"),
    ]),
    # One target requires approval the model does not ask for.
    "terraform-approval": ("terraform", "terraform/ci.tf", [("approval_required = false", "approval_required = true")]),
    # One target runs the trigger as Cloud Build's default account.
    "pulumi-account": ("pulumi", "pulumi/__main__.py", [("    service_account=ci_account.id,\n", "")]),
    # One target builds another file.
    "gcloud-build-file": ("gcloud", "gcloud/ci-setup.sh", [("--build-config=", "--build-config=ci/")]),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_mutated_target_fails(tmp_path, rendered, mutation):
    target, path, edits = MUTATIONS[mutation]
    setup = setup_in(tmp_path, rendered)
    f = setup.out / path
    text = f.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    f.write_text(text)
    d = setup.deployment(target)
    outcome = d.deploy(setup.out)
    if not outcome.ok:  # refused by the cloud
        assert mutation == "terraform-no-dependency" and "SERVICE_DISABLED" in " ".join(outcome.errors), outcome.errors
        return
    with pytest.raises(AssertionError):
        check_trigger(setup, d.cloud)
