"""A canary rollout on the simulated control plane, in every target, as its users drive it:
Terraform with `-var stable_revision=... -var candidate_percent=N`, Pulumi with the same two
config values, gcloud with `STABLE_REVISION=... deploy.sh`, `promote.sh N` and `rollback.sh`.

The first deploy's revision serves everything. A second deploy (a new setting, the same
image) creates a revision named as the model says, at 0% behind its `candidate` tag; 5%, 25%
and 100% move traffic to it as the model's splits say; rolling back returns everything to
the revision that served before. At each step the three targets' traffic is the same, and
each mutation below (a rollback to the candidate, a revision name not from the model, a
percent not applied) makes the rollout fail."""

import re

import pytest
from cplane import TARGETS, Setup, service_of
from pulumi_harness import ProgramError, run_program
from rollout import revision_name, split
from test_parity import content_tag

EXAMPLE = "fraud-onnx-gcs"


class Mutation:
    """One generated file of one target broken by `edit` before each run, and mended before
    mlgen writes the folder again (it refuses to overwrite a file edited by hand)."""

    def __init__(self, target=None, path=None, edit=None):
        self.target, self.path, self.edit = target, path, edit
        self.original = None

    def apply(self, target, out):
        if target == self.target and self.original is None:
            self.original = (out / self.path).read_text()
            (out / self.path).write_text(self.edit(self.original))

    def undo(self, out):
        if self.original is not None:
            (out / self.path).write_text(self.original)
            self.original = None


class Canary:
    """One target's deployment, with the inputs a user keeps between runs."""

    def __init__(self, setup, target, mutation, cloud=None):
        self.setup, self.target, self.mutation = setup, target, mutation
        self.deployment = setup.deployment(target, cloud)
        self.stable, self.percent = "", 0

    def deploy(self, stable):
        """A deploy of what the output folder holds now, after the revision `stable`."""
        self.stable, self.percent = stable, 0
        if self.target == "gcloud":
            self.deployment.tool.gcloud.env["STABLE_REVISION"] = stable
            return self._script("deploy.sh")
        return self._declare()

    def promote(self, percent):
        self.percent = percent
        return self._script("promote.sh", str(percent)) if self.target == "gcloud" else self._declare()

    def rollback(self):
        self.percent = 0
        return self._script("rollback.sh") if self.target == "gcloud" else self._declare()

    def traffic(self):
        return service_of(self.setup, self.deployment.cloud)["traffic"]

    def _script(self, script, *args):
        self.mutation.apply(self.target, self.setup.out)
        proc, outcome = self.deployment.tool.run(self.setup.out / "gcloud" / script, *args)
        assert proc.returncode == 0 and outcome.ok, (self.target, proc.stderr[-2000:], outcome.errors)

    def _declare(self):
        self.mutation.apply(self.target, self.setup.out)
        inputs = {"stable_revision": self.stable, "candidate_percent": self.percent}
        if self.target == "terraform":
            outcome = self.deployment.tool.apply(self.setup.out / "terraform", inputs)
        else:
            recorded = run_program(self.setup.out / "pulumi" / "__main__.py", config=inputs)
            outcome = self.deployment.tool.up(recorded)
        assert outcome.ok, (self.target, outcome.errors)


def _revision(setup):
    """The revision the model names for the image the output folder builds, or runs."""
    image = setup.model["image"]
    if not image["built_here"]:
        return revision_name(setup.model, image["url"])
    return revision_name(setup.model, content_tag(setup.spec_path.parent, setup.model["build"]["inputs"]))


def _expect(canaries, percent, stable, candidate):
    want = {"split": {r: p for r, p in split(canaries[0].setup.model, percent, stable, candidate).items() if p},
            "tags": {"stable": stable, "candidate": candidate}}
    for c in canaries:
        assert c.traffic() == want, f"{c.target} at {percent}%"


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
    canaries = [Canary(setup, t, mutation, clouds.get(t)) for t in TARGETS]
    first = _revision(setup)
    for c in canaries:
        c.deploy(stable="")
    _expect(canaries, 100, first, first)

    # A new setting on the same image: a new revision all the same, named by the model.
    mutation.undo(setup.out)
    setup.respec(lambda text: text.replace('SCORE_THRESHOLD = "0.82"', 'SCORE_THRESHOLD = "0.85"'))
    second = _revision(setup)
    assert second != first
    for c in canaries:
        c.deploy(stable=first)
    _expect(canaries, 0, first, second)
    for percent in setup.model["rollout"]["steps"]:
        for c in canaries:
            c.promote(percent)
        _expect(canaries, percent, first, second)
    for c in canaries:
        c.rollback()
    _expect(canaries, 0, first, second)
    for c in canaries:
        assert set(service_of(setup, c.deployment.cloud)["revisions"]) == {first, second}, c.target


def test_a_canary_takes_the_same_steps_in_every_target(tmp_path):
    roll_out(tmp_path)


def test_a_canary_of_an_image_built_elsewhere_is_named_by_its_reference(tmp_path):
    roll_out(tmp_path, prebuilt=True)


def _sub(pattern, repl):
    def edit(text):
        new, n = re.subn(pattern, repl, text, flags=re.MULTILINE)
        if not n:  # not an AssertionError: that is what the broken rollout must raise
            raise LookupError(f"{pattern!r} not found: the mutation no longer applies")
        return new
    return edit


MUTATIONS = {
    "rollback to the candidate": {
        "terraform": ("terraform/rollout.tf", _sub(r"coalesce\(var\.stable_revision, local\.revision\)",
                                                   "local.revision")),
        "pulumi": ("pulumi/__main__.py", _sub(r'rollout\.get\("stable_revision"\) or REVISION', "REVISION")),
        "gcloud": ("gcloud/rollback.sh", _sub(r"stable=100,candidate=0", "stable=0,candidate=100")),
    },
    "revision name not from the model": {
        "terraform": ("terraform/rollout.tf", _sub(r"0, 12\)", "0, 11)")),
        "pulumi": ("pulumi/__main__.py", _sub(r"\[:12\]", "[:11]")),
        "gcloud": ("gcloud/deploy.sh", _sub(r"cut -c1-12", "cut -c1-11")),
    },
    "percent not applied": {
        "terraform": ("terraform/main.tf", _sub(r"percent  = var\.candidate_percent", "percent  = 0")),
        "pulumi": ("pulumi/__main__.py", _sub(r'"percent": STABLE_PERCENT\[CANDIDATE_PERCENT\]', '"percent": 100')),
        "gcloud": ("gcloud/promote.sh", _sub(r'candidate="\$1",stable="\$stable_percent"', "candidate=0,stable=100")),
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
    image_alone = Mutation("terraform", "terraform/rollout.tf", _sub(r'sha256\("\$\{local\.content_tag\}\w+"\)',
                                                                      "sha256(local.content_tag)"))
    canary = Canary(setup, "terraform", image_alone)
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
