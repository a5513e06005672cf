"""A canary rollout on the simulated control plane, in every target, as its users drive it:
Terraform with `-var stable_revision=... -var candidate_percent=N`, Pulumi with the same two
config values, gcloud with `STABLE_REVISION=... deploy.sh`, `promote.sh N` and `rollback.sh`.

The first deploy's revision serves everything. A second deploy (a new setting, the same
image) creates a revision named as the model says, at 0% behind its `candidate` tag; 5%, 25%
and 100% move traffic to it as the model's splits say; rolling back returns everything to
the revision that served before. At each step the three targets' traffic is the same, and
each mutation below (a rollback to the candidate, a revision name not from the model, a
percent not applied) makes the rollout fail."""

import pytest
from cplane import TARGETS, Setup, service_of
from pulumi_harness import ProgramError, run_program
from rollout import Canary, Mutation, expect, revision_name, service_name, sub
from test_parity import content_tag

EXAMPLE = "fraud-onnx-gcs"


def _revision(setup):
    """The revision the model names for the image the output folder builds, or runs."""
    image = setup.model["image"]
    if not image["built_here"]:
        return revision_name(setup.model, image["url"])
    return revision_name(setup.model, content_tag(setup.spec_path.parent, setup.model["build"]["inputs"]))


PREBUILT = "us-central1-docker.pkg.dev/acme-payments/shared/fraud:7.0.2"


def _prebuilt(setup):
    """The example running an image built elsewhere, and a cloud for each target that holds it."""
    setup.respec(lambda text: text.replace('repository = "risk-models"\ntag = "7.0.2"', f'url = "{PREBUILT}"'))
    assert not setup.model["image"]["built_here"]
    clouds = {}
    for target in TARGETS:
        clouds[target] = setup.cloud()
        clouds[target].repositories["projects/acme-payments/locations/us-central1/repositories/shared"] = {
            "format": "DOCKER", "description": None}
        clouds[target].push(PREBUILT)
    return clouds


def roll_out(tmp_path, mutation=None, prebuilt=False):
    """The whole rollout; raises AssertionError at the first step where a target's traffic
    is not what the model says, or a target's run fails."""
    mutation = mutation or Mutation()
    setup = Setup.example(tmp_path, EXAMPLE)
    clouds = _prebuilt(setup) if prebuilt else {}
    canaries = [Canary(setup.deployment(t, clouds.get(t)), setup.out, service_name(setup.model), mutation)
                for t in TARGETS]
    first = _revision(setup)
    for c in canaries:
        c.deploy(stable="")
    expect(setup.model, canaries, 100, first, first)

    # A new setting on the same image: a new revision all the same, named by the model.
    mutation.undo(setup.out)
    setup.respec(lambda text: text.replace('SCORE_THRESHOLD = "0.82"', 'SCORE_THRESHOLD = "0.85"'))
    second = _revision(setup)
    assert second != first
    for c in canaries:
        c.deploy(stable=first)
    expect(setup.model, canaries, 0, first, second)
    for percent in setup.model["rollout"]["steps"]:
        for c in canaries:
            c.promote(percent)
        expect(setup.model, canaries, percent, first, second)
    for c in canaries:
        c.rollback()
    expect(setup.model, canaries, 0, first, second)
    for c in canaries:
        assert set(service_of(setup, c.deployment.cloud)["revisions"]) == {first, second}, c.target


def test_a_canary_takes_the_same_steps_in_every_target(tmp_path):
    roll_out(tmp_path)


def test_a_canary_of_an_image_built_elsewhere_is_named_by_its_reference(tmp_path):
    roll_out(tmp_path, prebuilt=True)


MUTATIONS = {
    "rollback to the candidate": {
        "terraform": ("terraform/rollout.tf", sub(r"coalesce\(var\.stable_revision, local\.revision\)",
                                                  "local.revision")),
        "pulumi": ("pulumi/__main__.py", sub(r'rollout\.get\("stable_revision"\) or REVISION', "REVISION")),
        "gcloud": ("gcloud/rollback.sh", sub(r"stable=100,candidate=0", "stable=0,candidate=100")),
    },
    "revision name not from the model": {
        "terraform": ("terraform/rollout.tf", sub(r"0, 12\)", "0, 11)")),
        "pulumi": ("pulumi/__main__.py", sub(r"\[:12\]", "[:11]")),
        "gcloud": ("gcloud/deploy.sh", sub(r"cut -c1-12", "cut -c1-11")),
    },
    "percent not applied": {
        "terraform": ("terraform/main.tf", sub(r"percent  = var\.candidate_percent", "percent  = 0")),
        "pulumi": ("pulumi/__main__.py", sub(r'"percent": STABLE_PERCENT\[CANDIDATE_PERCENT\]', '"percent": 100')),
        "gcloud": ("gcloud/promote.sh", sub(r'candidate="\$1",stable="\$stable_percent"', "candidate=0,stable=100")),
    },
}


@pytest.mark.parametrize(("mutation", "target"), [(m, t) for m in MUTATIONS for t in TARGETS])
def test_a_broken_rollout_fails(tmp_path, mutation, target):
    path, edit = MUTATIONS[mutation][target]

    with pytest.raises(AssertionError) as failed:
        roll_out(tmp_path, Mutation(target, path, edit))
    assert target in str(failed.value), failed.value


def test_a_name_from_the_image_alone_would_be_reused_and_refused(tmp_path):
    """Why the settings are in the name: a new setting on the same image, named by the image
    alone, reuses the name, and Cloud Run refuses a revision name twice."""
    setup = Setup.example(tmp_path, EXAMPLE)
    image_alone = Mutation("terraform", "terraform/rollout.tf", sub(r'sha256\("\$\{local\.content_tag\}\w+"\)',
                                                                     "sha256(local.content_tag)"))
    canary = Canary(setup.deployment("terraform"), setup.out, service_name(setup.model), image_alone)
    canary.deploy(stable="")
    image_alone.undo(setup.out)
    setup.respec(lambda text: text.replace('SCORE_THRESHOLD = "0.82"', 'SCORE_THRESHOLD = "0.85"'))
    with pytest.raises(AssertionError, match="with different configuration already exists"):
        canary.deploy(stable=canary.traffic()["tags"]["candidate"])


def test_pulumi_refuses_a_percent_that_is_not_a_step(tmp_path):
    setup = Setup.example(tmp_path, EXAMPLE)
    with pytest.raises(ProgramError, match="candidate_percent is one of 0, 5, 25, 100, not 7"):
        run_program(setup.out / "pulumi" / "__main__.py", config={"candidate_percent": 7})


def test_promote_sh_refuses_a_percent_that_is_not_a_step(tmp_path):
    setup = Setup.example(tmp_path, EXAMPLE)
    scripts = setup.deployment("gcloud").tool
    for bad in ("7", "0", ""):
        proc, outcome = scripts.run(setup.out / "gcloud" / "promote.sh", *([bad] if bad else []))
        assert proc.returncode == 2 and "one of 5 25 100" in proc.stderr, (bad, proc.stderr)
        assert outcome.changed == []
