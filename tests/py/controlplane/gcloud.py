"""The generated gcloud scripts replayed call by call, as gcloud would send them to the APIs.

The scripts run against the stand-in gcloud (gcloud_standin.py), which checks each call's
syntax and answers describes from its own state; the calls it accepted are replayed here, in
order, each checked against the cloud as it is at that moment. A call the cloud refuses ends
the replay, as `set -e` ends the script.
"""

import json
import re

import yaml
from gcloud_runner import Gcloud
from gcloud_standin import parse_dict

from controlplane import builds
from controlplane.engine import Outcome
from controlplane.project import NotModelled, Rejected, Res, binding, bucket, trigger
from controlplane.service import RunDeploy

ALL_USERS_INVOKER = ("roles/run.invoker", "allUsers")
# Failures teardown.sh expects (what it deletes may be gone already).
TOLERATED = (" delete", " remove-iam-policy-binding", "storage rm")
# Calls that change nothing; the scripts act on their answers, which the stand-in gives.
READS = (" describe", " get-iam-policy")
# How the stand-in spells a prerequisite it is told is absent, by resource name.
ABSENT = [
    (re.compile(r"projects/([^/]+)/secrets/([^/]+)"), "secrets/{0}/{1}"),
    (re.compile(r"b/([^/]+)/managedFolders/(.+)"), "managedFolders/{0}/{1}"),
    (re.compile(r"b/([^/]+)"), "buckets/{0}"),
]


class Scripts:
    """deploy.sh / teardown.sh of one output folder, against one cloud. `prerequisites` are the
    resource names of what the scripts look up (what the deploy uses but does not create, and the
    staging bucket it creates when missing): the stand-in answers the
    scripts' checks of those the cloud lacks as absent."""

    def __init__(self, cloud, root, prerequisites=()):
        self.cloud = cloud
        self.prerequisites = prerequisites
        self.gcloud = Gcloud(root)
        # The scripts retry refused calls with pauses; the replay needs no pause.
        (root / "bin" / "sleep").write_text("#!/bin/sh\nexit 0\n")
        (root / "bin" / "sleep").chmod(0o755)
        self.seen = 0
        self._seed()

    def _seed(self):
        """What already exists before the first run, as the stand-in keeps it."""
        images = {f"{path}:{tag}": d for path, e in self.cloud.images.items() for tag, d in e["tags"].items()}
        repositories = {}
        for name, r in self.cloud.repositories.items():
            _, p, _, loc, _, repo = name.split("/")
            repositories[f"{p}/{loc}/{repo}"] = {"format": r["format"], "description": r["description"]}
        accounts = {n.rsplit("/", 1)[1]: {"display_name": a["displayName"]} for n, a in self.cloud.accounts.items()}
        absent = [_absent(name) for name in self.prerequisites if not self.cloud.holds(name)]
        self.gcloud.state.write_text(json.dumps(
            {"repositories": repositories, "images": images, "accounts": accounts, "absent": absent,
             "gpu_quota": self.cloud.gpu_quota}))

    def run(self, script, *args):
        """Runs the script, replays the calls it made; returns (process, Outcome)."""
        proc = self.gcloud.run(script, *args)
        records = self.gcloud.records()
        new, self.seen = records[self.seen:], len(records)
        out = Outcome()
        for r in new:
            command = r.get("command", "")
            if command.endswith(READS) or (r["rc"] != 0 and command.endswith(TOLERATED)):
                continue
            try:
                if r["rc"] != 0:
                    self._refused(r)
                for res, action, *how in self._calls(r):
                    self.cloud.apply(res, action, **(how[0] if how else {}))
                    out.changed.append((action, res.kind, res.name))
            except Rejected as e:
                out.errors.append(f"gcloud {' '.join(r['argv'][:3])}: {e}")
                break
        return proc, out

    def _refused(self, r):
        """A call the stand-in refused: the cloud's reason when it has one, else the stand-in's."""
        try:
            trial = self.cloud.copy()
            for res, action, *how in self._calls(r):
                trial.apply(res, action, **(how[0] if how else {}))
        except (KeyError, IndexError):  # refused before it was complete enough to send
            pass
        raise Rejected(r.get("error", "the stand-in refused the call"))

    def _calls(self, r):
        """[(Res, action[, how])] that one recorded call makes; `how` carries gcloud's semantics."""
        argv, command = r["argv"], r["command"]
        flags = _flags(argv)
        if command.startswith("beta "):  # the same call with flags still in beta
            argv, command = argv[1:], command.removeprefix("beta ")
        pos = [a for a in argv[len(command.split()):] if not a.startswith("--")]
        # `gcloud projects ...` names its project as the positional.
        project = pos[0] if command.startswith("projects ") else flags["--project"]
        verb = command.split()[-1]
        if command == "services enable":
            return [(Res("api", f"projects/{project}/services/{a}", {"project": project, "service": a}), "create")
                    for a in pos]
        if command == "builds submit":
            config = {"images": [flags["--tag"]]} if "--tag" in flags else json.loads(r["files"]["--config"])
            substitutions = parse_dict("--substitutions", flags.get("--substitutions", ""))
            return [(builds.build(project, config, substitutions, service_account=flags.get("--service-account"),
                                  source=flags.get("--gcs-source-staging-dir")), "create")]
        if command == "run deploy":
            return self._deploy(r, project, flags, pos[0])
        if command == "run services update-traffic":
            update = {k.removeprefix("--").replace("-", "_"): parse_dict(k, flags[k])
                      for k in ("--to-revisions", "--to-tags", "--update-tags") if k in flags}
            for k in ("to_revisions", "to_tags"):
                update[k] = {t: int(p) for t, p in update.get(k, {}).items()}
            return [(Res("service", self._resource(command, project, flags, pos[0])), "traffic", update)]
        if verb in ("add-iam-policy-binding", "remove-iam-policy-binding"):
            resource = self._resource(command, project, flags, pos[0])
            action = "create" if verb.startswith("add") else "delete"
            return [(binding(resource, flags["--role"], flags["--member"]), action)]
        if command == "iam service-accounts create":
            email = f"{pos[0]}@{project}.iam.gserviceaccount.com"
            return [(Res("account", f"projects/{project}/serviceAccounts/{email}",
                         {"project": project, "accountId": pos[0], "displayName": flags.get("--display-name")}),
                     "create")]
        if command in ("iam service-accounts delete", "artifacts repositories delete", "run services delete"):
            return [(Res(_KIND[command], self._resource(command, project, flags, pos[0])), "delete")]
        if command == "artifacts repositories create":
            return [(Res("repository", self._resource(command, project, flags, pos[0]),
                         {"format": flags["--repository-format"].upper(), "description": flags.get("--description")}),
                     "create")]
        if command.startswith(("storage buckets ", "storage rm")):
            return [self._bucket(r, command, project, flags, pos)]
        if command.startswith("iam workload-identity-pools "):
            return [self._pool(command, project, flags, pos[0])]
        if command == "builds triggers create github":
            return [(_trigger(project, flags), "create")]
        if command == "builds triggers update github":
            return [(_trigger(project, {**flags, "--name": pos[0]}), "update")]
        raise NotModelled(f"the control plane does not replay `gcloud {command}`")

    def _cloud_image(self, image):
        """The stand-in's digests stand for what was uploaded, the cloud's count builds: an
        image by digest is the tag the stand-in pushed under that digest, as the cloud holds it."""
        path, at, digest = image.partition("@")
        if not at:
            return image
        pushed = json.loads(self.gcloud.state.read_text())["images"]
        tags = [t for t, d in pushed.items() if d == digest and t.rpartition(":")[0] == path]
        resolved = self.cloud.resolve(tags[0]) if tags else None
        return f"{path}@{resolved}" if resolved else image

    @staticmethod
    def _bucket(r, command, project, flags, pos):
        """A bucket created (its lifecycle from the file the call read), labelled, or removed
        with every object in it (`storage rm --recursive gs://BUCKET`)."""
        name = pos[0].removeprefix("gs://").rstrip("/")
        if command == "storage buckets create":
            rules = json.loads(r["files"]["--lifecycle-file"])["rule"] if "--lifecycle-file" in flags else []
            prevention = "enforced" if "--public-access-prevention" in flags else "inherited"
            return bucket(name, project, flags.get("--location", "US"), "--uniform-bucket-level-access" in flags,
                          prevention, rules, False), "create"
        if command == "storage buckets update":
            return Res("bucket", name, {"labels": parse_dict("--update-labels", flags["--update-labels"])}), "update"
        if command == "storage rm" and "--recursive" in flags and "/" not in name:
            return Res("bucket", name, {"forceDestroy": True}), "delete"
        raise NotModelled(f"the control plane does not replay `gcloud {command}` of {pos}")

    @staticmethod
    def _pool(command, project, flags, name):
        """A Workload Identity pool, or one of its OIDC providers, created or updated."""
        pool = f"projects/{project}/locations/{flags['--location']}/workloadIdentityPools/"
        verb = command.split()[-1]
        if command.startswith("iam workload-identity-pools providers "):
            attrs = {"project": project, "attributeCondition": flags.get("--attribute-condition"),
                     "attributeMapping": parse_dict("--attribute-mapping", flags["--attribute-mapping"])}
            res = Res("pool", f"{pool}{flags['--workload-identity-pool']}/providers/{name}", attrs)
            return res, "update" if verb == "update-oidc" else "create"
        attrs = {"project": project, "displayName": flags.get("--display-name"), "description": flags.get("--description")}
        return Res("pool", pool + name, attrs), verb

    @staticmethod
    def _resource(command, project, flags, name):
        """The resource name gcloud expands a positional into."""
        if command.startswith("iam service-accounts"):
            return f"projects/{project}/serviceAccounts/{name}"
        if command.startswith("artifacts repositories"):
            return f"projects/{project}/locations/{flags['--location']}/repositories/{name}"
        if command.startswith("run services"):
            return f"projects/{project}/locations/{flags['--region']}/services/{name}"
        if command.startswith("secrets"):
            return f"projects/{project}/secrets/{name}"
        if command.startswith("storage managed-folders"):
            bucket, folder = name.removeprefix("gs://").split("/", 1)
            return f"b/{bucket}/managedFolders/{folder}"
        if command.startswith("storage buckets"):
            return "b/" + name.removeprefix("gs://").rstrip("/")
        if command.startswith("projects"):
            return f"projects/{name}"
        raise NotModelled(f"no resource name for `gcloud {command}`")

    def _deploy(self, r, project, flags, name):
        full = f"projects/{project}/locations/{flags['--region']}/services/{name}"
        image = self._cloud_image(flags["--image"])
        argv = [f"--image={image}" if a.startswith("--image=") else a for a in r["argv"]]
        call = RunDeploy(argv, r["files"].get("--env-vars-file"), yaml.safe_load)
        old = self.cloud.services.get(full)
        config = call.config(old and old["config"])
        if "--revision-suffix" in flags:  # gcloud prefixes the service's name
            config["template"]["revision"] = f"{name}-{flags['--revision-suffix']}"
        # By tag, Cloud Run resolves the tag anew in a new revision; by digest, an unchanged
        # template is no change.
        steps = [(Res("service", full, {"config": config, "deletionProtection": False}),
                  "update" if old else "create",
                  {"new_revision": "@" not in image, "no_traffic": "--no-traffic" in flags, "tag": flags.get("--tag")})]
        invoker = binding(full, *ALL_USERS_INVOKER)
        if call.switch("--allow-unauthenticated"):
            steps.append((invoker, "create"))
        elif call.switch("--allow-unauthenticated") is False and (full, *ALL_USERS_INVOKER) in self.cloud.policies:
            steps.append((invoker, "delete"))
        return steps


_KIND = {"iam service-accounts delete": "account", "artifacts repositories delete": "repository",
         "run services delete": "service"}


TRIGGER_FLAGS = {"--name", "--build-config", "--service-account", "--repo-owner", "--repo-name", "--branch-pattern",
                 "--require-approval", "--no-require-approval", "--description", "--region", "--project", "--quiet"}


def _trigger(project, flags):
    """The BuildTrigger `gcloud builds triggers create github` or `update github` sends
    (without --region: global); `update` leaves the description as it is when not given."""
    unknown = sorted(set(flags) - TRIGGER_FLAGS)
    if unknown:
        raise NotModelled(f"`gcloud builds triggers create|update github` with {unknown}: add them to the replay")
    described = {"description": flags["--description"]} if "--description" in flags else {}
    return trigger(project, flags.get("--region", "global"), {
        **described,
        "name": flags["--name"],
        "filename": flags.get("--build-config"),
        "serviceAccount": flags.get("--service-account"),
        "github": {"owner": flags.get("--repo-owner"), "name": flags.get("--repo-name"),
                   "push": {"branch": flags.get("--branch-pattern")}},
        "approvalConfig": {"approvalRequired": "--require-approval" in flags},
    })


def _absent(name):
    for pattern, key in ABSENT:
        m = pattern.fullmatch(name)
        if m:
            return key.format(*m.groups())
    raise NotModelled(f"no stand-in spelling of a missing {name}")


def _flags(argv):
    out = {}
    for tok in argv:
        if tok.startswith("--"):
            name, _, value = tok.partition("=")
            out[name] = value
    return out
