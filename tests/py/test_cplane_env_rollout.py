"""A canary in a spec with [environments], on the simulated control plane, in every target:
staging builds, prod (another project) runs staging's image by digest as a canary.

Staging builds the current model, then a new one (two digests). Prod deploys the first digest
(its revision serves everything), then the second beside it: a revision named from the image
reference it was given, at 0% behind its `candidate` tag. Promoted to each step and rolled
back, the three targets send prod's traffic alike, as the model's splits say, and prod never
builds."""

import pytest
from conftest import copy_example, mlgen, model_of
from cplane import TARGETS, Deployment, fresh_cloud, prerequisites, spec_of
from gcloud_standin import project_number
from rollout import Canary, Mutation, expect, revision_name, service_name, sub

EXAMPLE = "churn-staged"
CANARY = '[rollout]\nstrategy = "canary"\nsteps = [5, 100]\n\n'


class Environments:
    """The example with a canary, and per target a canary deployment of each environment;
    prod's starts from staging's cloud once staging has built."""

    def __init__(self, tmp_path, mutation):
        self.tmp, self.mutation = tmp_path, mutation
        self.spec, out = copy_example(tmp_path / "spec", EXAMPLE)
        self.spec.write_text(self.spec.read_text().replace("[environments.staging]", CANARY + "[environments.staging]"))
        mlgen("apply", self.spec)
        self.staging, self.prod = model_of(self.spec)
        assert (self.staging["environment"], self.prod["environment"]) == ("staging", "prod")
        assert self.prod["rollout"]["revision"]["key"] == "image_url"
        self.out = {"staging": out / "staging", "prod": out / "prod"}
        self.canaries = {"staging": [self._canary("staging", t, fresh_cloud(spec_of(self.spec), self.staging))
                                     for t in TARGETS]}

    def _canary(self, env, target, cloud):
        model = {"staging": self.staging, "prod": self.prod}[env]
        d = Deployment(target, cloud, self.tmp / f"state-{env}-{target}", prerequisites(model))
        return Canary(d, self.out[env], service_name(model), self.mutation if env == "prod" else None)

    def build(self):
        """Staging deploys (and so builds) what the spec folder holds, its new revision taking
        all traffic; returns the image every target built, by digest."""
        images = set()
        for c in self.canaries["staging"]:
            c.deploy(stable="")
            images.add(f"{self.staging['image']['path']}@{c.deployment.cloud.services[c.service]['digest']}")
        [image] = images  # the n-th build of an image has the same digest in every target
        return image

    def open_prod(self):
        """Prod's project: another one, empty, reading the registry staging pushed to."""
        self.registry = {}
        self.canaries["prod"] = []
        for c in self.canaries["staging"]:
            cloud = c.deployment.cloud.copy()
            cloud.project, cloud.number = self.prod["service"]["project"], project_number(self.prod["service"]["project"])
            self.registry[c.target] = cloud.images
            self.canaries["prod"].append(self._canary("prod", c.target, cloud))


def promote_in_prod(tmp_path, mutation=None):
    """The whole rollout; raises AssertionError at the first step where a target's prod traffic
    is not what the model says, or a target's run fails."""
    envs = Environments(tmp_path, mutation or Mutation())
    current = envs.build()
    model_file = envs.spec.parent / spec_of(envs.spec)["model"]["source"]
    model_file.write_text(model_file.read_text() + "\n")  # a retrained model: a new build input
    new = envs.build()
    assert new != current
    envs.open_prod()
    prod, canaries = envs.prod, envs.canaries["prod"]

    # Prod's first deploy runs staging's current image, its revision named from that reference.
    first = revision_name(prod, current)
    for c in canaries:
        c.deploy(stable="", image=current)
    expect(prod, canaries, 100, first, first)

    # The new image as a canary beside it, at each step, then rolled back.
    second = revision_name(prod, new)
    assert second != first
    for c in canaries:
        c.deploy(stable=first, image=new)
    expect(prod, canaries, 0, first, second)
    for percent in prod["rollout"]["steps"]:
        for c in canaries:
            c.promote(percent)
        expect(prod, canaries, percent, first, second)
    for c in canaries:
        c.rollback()
    expect(prod, canaries, 0, first, second)
    for c in canaries:
        running = c.deployment.cloud.services[c.service]
        assert set(running["revisions"]) == {first, second}, c.target
        assert running["revisions"][second]["containers"][0]["image"] == new, c.target
        assert c.deployment.cloud.images == envs.registry[c.target], f"{c.target}: prod built an image"


def test_prod_promotes_stagings_image_as_a_canary_alike_in_every_target(tmp_path):
    promote_in_prod(tmp_path)


MUTATIONS = {
    # Not the model's name; and each new image's revision would take the last one's name.
    "revision named without the image": {
        "terraform": ("terraform/rollout.tf", sub(r"\$\{var\.image\}", "${var.region}")),
        "pulumi": ("pulumi/__main__.py", sub(r'f"\{IMAGE\}', 'f"{IMAGE_PREFIX}')),
        "gcloud": ("gcloud/deploy.sh", sub(r"'%s%s' \"\$image\"", "'%s%s' \"$image_prefix\"")),
    },
}


@pytest.mark.parametrize(("mutation", "target"), [(m, t) for m in MUTATIONS for t in TARGETS])
def test_a_broken_canary_in_prod_fails(tmp_path, mutation, target):
    path, edit = MUTATIONS[mutation][target]
    with pytest.raises(AssertionError) as failed:
        promote_in_prod(tmp_path, Mutation(target, path, edit))
    assert target in str(failed.value), failed.value
