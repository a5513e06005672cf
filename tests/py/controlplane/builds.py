"""The image build, as every target runs it: `gcloud builds submit` with a build config and
`--substitutions`, pushing the config's `images:` (one digest, every tag). Terraform runs it
from a terraform_data local-exec, Pulumi from a command:local:Command, deploy.sh directly.

The declarative targets then read the digest of the build's tag (Terraform's
google_artifact_registry_docker_image, Pulumi's getDockerImage) and run that digest: a read
that waits for a build of this run gets the digest that build pushes; any other read sees the
registry as it is, and fails where the image is not there yet.
"""

import json
import re
import shlex
from pathlib import Path

from gcloud_standin import parse_dict, substitute

from controlplane.project import NotModelled, Rejected, Res


def build(project, config, substitutions, trigger=None, service_account=None, source=None):
    """The build of `config` (its parsed JSON) with `substitutions` ({_NAME: value}), run as
    `service_account` (`--service-account`, the API's Build.serviceAccount), its source
    uploaded under `source` (`--gcs-source-staging-dir`; None: gcloud's default bucket); the
    engines rerun it when its tags or `trigger` change."""
    tags = [substitute(i, substitutions) for i in config.get("images") or []]
    options = config.get("options") or {}
    return Res("build", f"builds/{project}", {
        "project": project, "tags": tags, "trigger": trigger, "serviceAccount": service_account, "source": source,
        "logging": options.get("logging"), "logsBucket": config.get("logsBucket"),
        "defaultLogsBucketBehavior": options.get("defaultLogsBucketBehavior"),
    })


def from_command(command, working_dir, environment, trigger):
    """The build a local command runs: one `gcloud builds submit` call, its `$VARS` from
    `environment`, its files relative to `working_dir`."""
    def expand(word):
        return re.sub(r"\$\{?(\w+)\}?", lambda m: environment.get(m[1], m[0]), word)

    argv = [expand(w) for w in shlex.split(command)]
    if argv[:3] != ["gcloud", "builds", "submit"]:
        raise NotModelled(f"the control plane does not run the local command {command!r}")
    flags = dict(a.partition("=")[::2] for a in argv if a.startswith("--"))
    if "--config" not in flags:
        raise NotModelled(f"a build without --config: {command!r}")
    config = json.loads((Path(working_dir) / flags["--config"]).read_text())
    substitutions = parse_dict("--substitutions", flags.get("--substitutions", ""))
    return build(flags["--project"], config, substitutions, trigger, flags.get("--service-account"),
                 flags.get("--gcs-source-staging-dir"))


def read_image(cloud, image, builds):
    """The digest reference (PATH@sha256:...) a read of `image` (PATH:TAG) returns. `builds`
    are the builds this run makes before the read: the last one that pushes the tag decides."""
    path = image.rpartition(":")[0]
    if any(image in b.attrs["tags"] for b in builds):
        return f"{path}@{cloud.next_digest(path)}"
    digest = cloud.resolve(image)
    if digest is None:
        raise Rejected(f"Image '{image}' not found (read before a build pushed it)")
    return f"{path}@{digest}"


def image_path(location, project, repository, name):
    return f"{location}-docker.pkg.dev/{project}/{repository}/{name}"
