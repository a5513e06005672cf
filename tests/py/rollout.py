"""The canary's facts as the model states them (`mlgen model`'s `rollout`), for the tests
that check each target against them, and a canary driven on the simulated control plane as
its users drive it: Terraform with `-var stable_revision=... -var candidate_percent=N`, Pulumi
with the same config values, gcloud with `STABLE_REVISION=... deploy.sh`, `promote.sh N` and
`rollback.sh`; a later environment's image given as each target takes it."""

import hashlib
import re

from pulumi_harness import run_program


def revision_name(model, key):
    """The revision a deploy creates: the model's prefix, then the first `suffix_len` hex
    characters of SHA-256(key + template_hash); `key` is the image's content tag (built here)
    or its reference (built elsewhere)."""
    r = model["rollout"]["revision"]
    suffix = hashlib.sha256(f"{key}{r['template_hash']}".encode()).hexdigest()[: r["suffix_len"]]
    return r["prefix"] + suffix


def split(model, percent, stable, candidate):
    """{revision: percent} with the candidate at `percent`, as the model's splits say."""
    [s] = [s for s in model["rollout"]["splits"] if s["candidate"] == percent]
    out = {stable: 0, candidate: 0}
    out[stable] += s["stable"]
    out[candidate] += s["candidate"]
    return out


def service_name(model):
    s = model["service"]
    return f"projects/{s['project']}/locations/{s['region']}/services/{s['name']}"


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


def sub(pattern, repl):
    """An edit for Mutation: re.sub over the file, which must match."""
    def edit(text):
        new, n = re.subn(pattern, repl, text, flags=re.MULTILINE)
        if not n:  # not an AssertionError: that is what the broken rollout must raise
            raise LookupError(f"{pattern!r} not found: the mutation no longer applies")
        return new
    return edit


class Canary:
    """One target's deployment (cplane.Deployment) of the output folder `out`, with the inputs
    a user keeps between runs: the stable revision, the candidate's percent and, for a later
    environment, the image."""

    def __init__(self, deployment, out, service, mutation=None):
        self.deployment, self.out, self.service = deployment, out, service
        self.target = deployment.target
        self.mutation = mutation or Mutation()
        self.stable, self.percent, self.image = "", 0, None

    def deploy(self, stable, image=None):
        """A deploy of what `out` holds now, after the revision `stable` ("" on the first)."""
        self.stable, self.percent, self.image = stable, 0, image
        if self.target == "gcloud":
            self.deployment.tool.gcloud.env["STABLE_REVISION"] = stable
            return self._script("deploy.sh", *([image] if image else []))
        return self._declare()

    def promote(self, percent):
        self.percent = percent
        return self._script("promote.sh", str(percent)) if self.target == "gcloud" else self._declare()

    def rollback(self):
        self.percent = 0
        return self._script("rollback.sh") if self.target == "gcloud" else self._declare()

    def traffic(self):
        return self.deployment.cloud.services[self.service]["traffic"]

    def _script(self, script, *args):
        self.mutation.apply(self.target, self.out)
        proc, outcome = self.deployment.tool.run(self.out / "gcloud" / script, *args)
        assert proc.returncode == 0 and outcome.ok, (self.target, proc.stderr[-2000:], outcome.errors)

    def _declare(self):
        self.mutation.apply(self.target, self.out)
        inputs = {"stable_revision": self.stable, "candidate_percent": self.percent}
        if self.image:
            inputs["image"] = self.image
        if self.target == "terraform":
            outcome = self.deployment.tool.apply(self.out / "terraform", inputs)
        else:
            recorded = run_program(self.out / "pulumi" / "__main__.py", config=inputs)
            outcome = self.deployment.tool.up(recorded)
        assert outcome.ok, (self.target, outcome.errors)


def expect(model, canaries, percent, stable, candidate):
    """Every canary's traffic is the model's split at `percent`, with the stable and candidate
    revisions tagged as the model says."""
    want = {"split": {r: p for r, p in split(model, percent, stable, candidate).items() if p},
            "tags": {model["rollout"]["stable_tag"]: stable, model["rollout"]["candidate_tag"]: candidate}}
    for c in canaries:
        assert c.traffic() == want, f"{c.target} at {percent}%"
