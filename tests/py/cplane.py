"""Deploying generated output onto the simulated control plane (controlplane/), per target.

`Setup(tmp_path, example)` renders an example (once per run, then copied) with its model.
`fresh_cloud(spec, model)` is a new project with what mlgen cannot create in place: the secrets
and bucket (with the managed folder over the model's folder) the spec names, GPU quota, and
the other accounts of the project that the spec grants to. `Deployment(target, cloud, workdir)` deploys one output folder with one target and
keeps that target's state (Terraform state, Pulumi stack, gcloud's world) between runs.
"""

import hashlib
import json
import shutil
import tomllib

import tomli_w
from conftest import copy_example, mlgen, model_of
from controlplane.engine import Outcome
from controlplane.gcloud import Scripts
from controlplane.project import Cloud
from controlplane.pulumi import Pulumi
from controlplane.terraform import Terraform
from gcloud_standin import project_number
from pulumi_harness import run_program

TARGETS = ("terraform", "pulumi", "gcloud")


def spec_of(spec_path):
    return tomllib.loads(spec_path.read_text())


def prerequisites(model):
    """Resource names of what deploy.sh looks up before it acts, which the stand-in answers
    from the cloud: what the deploy uses but does not create, and the build's staging bucket,
    which it creates when missing."""
    project = model["service"]["project"]
    names = [f"projects/{project}/secrets/{s['secret']}" for s in model["secrets"]]
    if model.get("staging_bucket"):
        names.append(f"b/{model['staging_bucket']['name']}")
    for v in model["volumes"]:
        names.append(f"b/{v['bucket']}")
        if v.get("folder"):
            names.append(f"b/{v['bucket']}/managedFolders/{v['folder']}")
    return names


def fresh_cloud(spec, model, secrets=True, bucket=True, gpu_quota=True):
    """An empty project (APIs off) holding the deploy's prerequisites, less those turned off."""
    project = model["service"]["project"]
    access = spec.get("access", {})
    members = [*access.get("invokers", []), *access.get("deployers", [])]
    gpu = model["container"]["gpu"]
    return Cloud(
        project,
        number=project_number(project),  # the number the stand-in gcloud answers with
        secrets=[s["secret"] for s in model["secrets"]] if secrets else (),
        buckets=[v["bucket"] for v in model["volumes"]] if bucket else (),
        folders=[f"b/{v['bucket']}/managedFolders/{v['folder']}" for v in model["volumes"] if v.get("folder")]
        if bucket else (),
        gpu_quota={model["service"]["region"]: gpu["count"] if gpu else 0} if gpu_quota else {},
        accounts=[m.removeprefix("serviceAccount:") for m in members
                  if m.startswith("serviceAccount:") and m.endswith(f"@{project}.iam.gserviceaccount.com")],
    )


class Deployment:
    def __init__(self, target, cloud, workdir, uses=()):
        self.target = target
        self.cloud = cloud
        if target == "terraform":
            self.tool = Terraform(cloud)
        elif target == "pulumi":
            self.tool = Pulumi(cloud)
        else:
            workdir.mkdir(parents=True, exist_ok=True)
            self.tool = Scripts(cloud, workdir / "gcloud-standin", uses)

    def deploy(self, out, image=None):
        """One deploy of the output folder `out`, the image build included; `image`: the image
        a later environment runs, by digest, in each target's spelling of the input."""
        if self.target == "gcloud":
            pipeline = ["ci-setup.sh"] if (out / "gcloud" / "ci-setup.sh").exists() else []
            return self._scripts(out, " ".join(["deploy.sh", *([image] if image else [])]), *pipeline)
        given = {"image": image} if image else {}
        if self.target == "terraform":
            return self.tool.apply(out / "terraform", given)
        return self.tool.up(recorded(out, given))

    def destroy(self, out):
        if self.target == "gcloud":
            return self._scripts(out, "teardown.sh --yes")
        return self.tool.destroy()

    def _scripts(self, out, *commands):
        """Runs gcloud scripts in turn (ci-setup.sh, when the spec has a pipeline, after
        deploy.sh, as its usage says); stops at the first that fails."""
        outcome = Outcome()
        for command in commands:
            script, *args = command.split()
            proc, one = self.tool.run(out / "gcloud" / script, *args)
            outcome.changed += one.changed
            outcome.errors += one.errors
            if proc.returncode != 0 and one.ok:
                outcome.errors.append(f"{script} exited {proc.returncode}: {proc.stderr[-2000:]}")
            if not outcome.ok:
                break
        return outcome


_RECORDS = {}


def recorded(out, config=None):
    """The mocked run of out's Pulumi program, once per program text and build context (a
    run takes seconds; the program reads only the files under its build context, the spec's
    folder, whose path it records: a run for a copy elsewhere is the same run moved)."""
    main = out / "pulumi" / "__main__.py"
    context = out.parent.resolve()
    h = hashlib.sha256(main.read_bytes() + json.dumps(config or {}, sort_keys=True).encode())
    for f in sorted(p for p in context.rglob("*") if p.is_file()):
        h.update(f.relative_to(context).as_posix().encode() + b"\0" + f.read_bytes())
    if h.hexdigest() not in _RECORDS:
        _RECORDS[h.hexdigest()] = (str(context), run_program(main, config=config))
    where, record = _RECORDS[h.hexdigest()]
    return json.loads(json.dumps(record).replace(where, str(context)))


_RENDERED = {}


class Setup:
    """A spec rendered into tmp, with its model, and fresh clouds and deployments for it."""

    def __init__(self, tmp_path, spec_path):
        self.tmp = tmp_path
        self.spec_path = spec_path
        self.out = spec_path.parent / "deploy"
        self.model = model_of(spec_path)
        self.spec = spec_of(spec_path)

    @classmethod
    def example(cls, tmp_path, name):
        """An example, rendered once per run and copied: rendering is the slow part."""
        if name not in _RENDERED:
            spec_path, _ = copy_example(tmp_path / "rendered", name)
            _RENDERED[name] = spec_path.parent
        shutil.copytree(_RENDERED[name], tmp_path / name)
        return cls(tmp_path, tmp_path / name / "mlgen.toml")

    @classmethod
    def of(cls, tmp_path, spec):
        """A spec dict (specgen's), written with its local model file and applied."""
        folder = tmp_path / "svc"
        folder.mkdir()
        source = spec["model"]["source"]
        if not source.startswith("gs://"):
            (folder / source).parent.mkdir(parents=True)
            (folder / source).write_bytes(b"model")
        (folder / "mlgen.toml").write_text(tomli_w.dumps(spec))
        mlgen("apply", folder / "mlgen.toml")
        return cls(tmp_path, folder / "mlgen.toml")

    @property
    def image(self):
        return self.model["image"]["url"] if self.model["image"]["built_here"] else None

    def cloud(self, **prereqs):
        return fresh_cloud(self.spec, self.model, **prereqs)

    def deployment(self, target, cloud=None):
        return Deployment(target, cloud or self.cloud(), self.tmp / f"state-{target}", prerequisites(self.model))

    def deployed(self, target):
        """A deployment after its first run."""
        d = self.deployment(target)
        outcome = d.deploy(self.out)
        assert outcome.ok, outcome.errors
        return d

    def respec(self, edit):
        """Edits the spec's text and applies it again into the same output folder."""
        text = self.spec_path.read_text()
        assert edit(text) != text, f"{edit.__name__} changed nothing"
        self.spec_path.write_text(edit(text))
        mlgen("apply", self.spec_path)
        self.model = model_of(self.spec_path)


def service_of(setup, cloud):
    s = setup.model["service"]
    return cloud.services[f"projects/{s['project']}/locations/{s['region']}/services/{s['name']}"]
