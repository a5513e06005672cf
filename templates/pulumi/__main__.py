"""Cloud Run service "{{ d.service.name }}" and everything it needs, as one Pulumi stack.
{% if d.image.built_here %}
`pulumi up` builds the image with Cloud Build when a file it is built from changes, and the
service runs the image by digest.
{%- else if let Some(p) = d.image.promoted %}
The service runs the image environment {{ p.from }} built, by the digest the `image` config
value names; it is never built again here.
{%- else %}
The service runs an image built elsewhere; it must exist before `pulumi up`.
{%- endif %}
"""
{% if d.image.built_here %}
import hashlib
from pathlib import Path
{% else if d.image.promoted.is_some() %}
{%- if d.rollout.is_some() %}
import hashlib
{%- endif %}
import re
{% else if d.rollout.is_some() %}
import hashlib
{% endif %}
import pulumi
{%- if d.image.built_here %}
import pulumi_command as command
{%- endif %}
import pulumi_gcp as gcp

PROJECT = "{{ d.service.project }}"
REGION = "{{ d.service.region }}"
{%- if d.image.built_here %}
# The build context (the spec's folder) and the files the image is built from.
BUILD_CONTEXT = (Path(__file__).parent / "{{ build.context }}").resolve()
IMAGE_INPUTS = [
{%- for f in d.build.inputs %}
    "{{ f }}",
{%- endfor %}
]
{%- else if let Some(p) = d.image.promoted %}
# The image environment {{ p.from }} built and deployed, by digest (`pulumi config set image
# IMAGE@sha256:...`): it is never built again here.
IMAGE = pulumi.Config().require("image")
IMAGE_PREFIX = "{{ p.digest_prefix }}"
if not (IMAGE.startswith(IMAGE_PREFIX) and re.fullmatch("{{ p.digest_pattern }}", IMAGE.removeprefix(IMAGE_PREFIX))):
    raise ValueError(f"config `image` is {IMAGE!r}, not {IMAGE_PREFIX}<64 hex digits>: the image of {{ p.from }}")
{%- else %}
IMAGE = "{{ d.image.url }}"
{%- endif %}
{%- if !prerequisites.is_empty() %}


def require(what, lookup, **args):
    """Looks up something the deployment uses but does not create; when it is missing, the
    program stops here, before anything is created."""
    try:
        return lookup(**args)
    except Exception as e:
        raise RuntimeError(f"missing prerequisite: {what}") from e

{%- if let Some(q) = d.gpu_quota %}


def gpu_quota(**args):
    """The project's GPU quota in the region; short of {{ q.needed }} GPU(s), it fails (-1 is unlimited)."""
    info = gcp.cloudquota.get_s_quota_info(**args)
    if not any(
        REGION in i.applicable_locations and any(d.value == "-1" or int(d.value) >= {{ q.needed }} for d in i.details)
        for i in info.dimensions_infos
    ):
        raise ValueError(f"the quota {info.quota_id} is short in {REGION}")
    return info
{%- endif %}


{% for p in prerequisites -%}
{% if let Some(v) = p.variable %}# Shared with other images, so neither created nor deleted here.
{{ v }} = {% endif %}require(
    "{{ p.what }}",
    {{ p.function }},
{%- for a in p.args %}
    {{ a.name }}={% match a.value %}{% when Value::Text(text) %}"{{ text }}"{% when Value::Ref(r) %}{{ r|safe }}{% endmatch %},
{%- endfor %}
)
{% endfor -%}
{%- endif %}
{%- if project_number %}
# The Cloud Run service agent's email holds the project's number.
PROJECT_NUMBER = gcp.organizations.get_project(project_id=PROJECT).number
{%- endif %}

# APIs the deployment calls. They stay enabled on destroy: other workloads may use them.
APIS = [
{%- for api in d.apis %}
    "{{ api }}",
{%- endfor %}
]
apis = [
    gcp.projects.Service(
        api,
        project=PROJECT,
        service=api,
        disable_on_destroy=False,
    )
    for api in APIS
]

# The identity the service runs as; it is granted only what the service reads.
runtime_account = gcp.serviceaccount.Account(
    "runtime",
    project=PROJECT,
    account_id="{{ d.runtime_account.account_id }}",
    display_name="{{ d.runtime_account.display_name }}",
    opts=pulumi.ResourceOptions(depends_on=apis),
)
{%- if let Some(build_account) = d.build_account %}

# The identity the image build runs as, instead of the project's default build identity:
# it may push to the one repository and write the build's logs, nothing else.
build_account = gcp.serviceaccount.Account(
    "build",
    project=PROJECT,
    account_id="{{ build_account.account_id }}",
    display_name="{{ build_account.display_name }}",
    opts=pulumi.ResourceOptions(depends_on=apis),
)
{%- endif %}
{%- if let Some(bucket) = d.staging_bucket %}

# Where the build's source is uploaded: the build's account reads it from here (the
# bucket gcloud would otherwise create on the first build cannot be granted on before).
# Staged sources are deleted after {{ bucket.delete_after_days }} days; a build reads its source once.
staging_bucket = gcp.storage.Bucket(
    "staging",
    project=PROJECT,
    name="{{ bucket.name }}",
    location="{{ bucket.location }}",
    uniform_bucket_level_access=True,
    public_access_prevention="enforced",
    force_destroy={{ (!d.service.deletion_protection)|py_bool }},
    lifecycle_rules=[
        gcp.storage.BucketLifecycleRuleArgs(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(age={{ bucket.delete_after_days }}),
        )
    ],
    opts=pulumi.ResourceOptions(depends_on=apis),
)
{%- endif %}
{%- if let Some(repo) = d.repository %}
{%- if !repo.existing %}

repository = gcp.artifactregistry.Repository(
    "images",
    project="{{ repo.project }}",
    location="{{ repo.location }}",
    repository_id="{{ repo.id }}",
    format="DOCKER",
    description="{{ repo.description }}",
    opts=pulumi.ResourceOptions(depends_on=apis),
)
{%- endif %}


def image_files():
    """The image's inputs, a folder (ending in `/`) as every file under it, in path order."""
    for f in IMAGE_INPUTS:
        if f.endswith("/"):
            found = (p.relative_to(BUILD_CONTEXT).as_posix() for p in (BUILD_CONTEXT / f).rglob("*") if p.is_file())
            yield from sorted(found)
        else:
            yield f


def content_tag():
    """The hash of the image's inputs: the SHA-256 of their SHA-256 digests, in order, as
    Terraform and deploy.sh compute it. A changed file builds a new image."""
    digests = "".join(hashlib.sha256((BUILD_CONTEXT / f).read_bytes()).hexdigest() for f in image_files())
    return hashlib.sha256(digests.encode()).hexdigest()


CONTENT_TAG = content_tag()

# What the build does as its account, granted before it runs.
build_grants = [
{%- for grant in grants if grant.before_build %}
{%- include "pulumi/_grant.py" %}
{%- if loop.last %}
{% endif %}
{%- endfor -%}
]

# The image build, rerun when an input changes. It uploads only the image's inputs (the
# ignore file is an allowlist).
image_build = command.local.Command(
    "image-build",
    create="{{ build.submit }}",
    dir=str(BUILD_CONTEXT),
    environment={
{%- for (name, value) in build.env %}
        "{{ name }}": "{{ value }}",
{%- endfor %}
        "CONTENT_TAG": CONTENT_TAG,
        "PROJECT": PROJECT,
    },
    triggers=[CONTENT_TAG],
    opts=pulumi.ResourceOptions(depends_on=[*apis{% if !repo.existing %}, repository{% endif %}, build_account, staging_bucket, *build_grants]),
)

# The digest the build pushed, read once the build ran: the service runs the image by
# digest, so a new build rolls out and an unchanged one changes nothing.
IMAGE = gcp.artifactregistry.get_docker_image_output(
    project=repository.project,
    location=repository.location,
    repository_id=repository.repository_id,
    image_name=f"{{ d.image.name }}:{CONTENT_TAG}",
    opts=pulumi.InvokeOutputOptions(depends_on=[image_build]),
).self_link
{%- endif %}

# Access the service needs at startup: Cloud Run checks it when the revision is deployed.
before_service = [
{%- for grant in grants if grant.before_service && !grant.before_build %}
{%- include "pulumi/_grant.py" %}
{%- if loop.last && !build_grants %}
{% endif %}
{%- endfor %}
{%- if build_grants %}
    *build_grants,
{% endif -%}
]
{%- if let Some(r) = d.rollout %}

# The revision this deploy creates, named by its image and settings exactly as Terraform and
# deploy.sh name it: a new image or new settings get a new name, Cloud Run never reuses one.
REVISION = "{{ r.revision.prefix }}" + hashlib.sha256(
    f"{ {{- self.revision_key(r) -}} }{{ r.revision.template_hash }}".encode()
).hexdigest()[:{{ r.revision.suffix_len }}]
rollout = pulumi.Config()
# The revision that served before the candidate (the `revision` export of the deploy that
# created it); on the first deploy, the candidate itself.
STABLE_REVISION = rollout.get("stable_revision") or REVISION
# The stable revision's share at each percent the candidate may take; 0 rolls back.
STABLE_PERCENT = { {%- for s in r.splits %}{{ s.candidate }}: {{ s.stable }}{% if !loop.last %}, {% endif %}{% endfor -%} }
CANDIDATE_PERCENT = rollout.get_int("candidate_percent") or 0
if CANDIDATE_PERCENT not in STABLE_PERCENT:
    raise ValueError(f"candidate_percent is one of {', '.join(map(str, STABLE_PERCENT))}, not {CANDIDATE_PERCENT}")
{%- endif %}

service = gcp.cloudrunv2.Service(
    "service",
    name="{{ d.service.name }}",
    project=PROJECT,
    location=REGION,
{%- if let Some(description) = d.service.description %}
    description="{{ description }}",
{%- endif %}
    labels={
{%- for label in d.service.labels %}
        "{{ label.key }}": "{{ label.value }}",
{%- if loop.last %}
    {% endif %}
{%- endfor -%}
    },
    ingress="{{ d.service.ingress_api }}",
    invoker_iam_disabled={{ d.service.invoker_iam_disabled|py_bool }},
    deletion_protection={{ d.service.deletion_protection|py_bool }},
    template={
{%- if d.rollout.is_some() %}
        "revision": REVISION,
{%- endif %}
        "service_account": runtime_account.email,
        "timeout": "{{ d.scaling.timeout }}",
        "max_instance_request_concurrency": {{ d.scaling.concurrency }},
        "execution_environment": "{{ d.container.execution_environment_api }}",
        "scaling": {
            "min_instance_count": {{ d.scaling.min_instances }},
            "max_instance_count": {{ d.scaling.max_instances }},
        },
{%- if let Some(gpu) = d.container.gpu %}
        "node_selector": {"accelerator": "{{ gpu.kind }}"},
        "gpu_zonal_redundancy_disabled": {{ gpu.zonal_redundancy_disabled|py_bool }},
{%- endif %}
        "volumes": [
{%- for volume in d.volumes %}
            {
                "name": "{{ volume.name }}",
                "gcs": {
                    "bucket": "{{ volume.bucket }}",
                    "read_only": {{ volume.read_only|py_bool }},
{%- if !volume.mount_options.is_empty() %}
                    "mount_options": [{% for o in volume.mount_options %}"{{ o }}"{% if !loop.last %}, {% endif %}{% endfor %}],
{%- endif %}
                },
            },
{%- if loop.last %}
        {% endif %}
{%- endfor -%}
        ],
        "containers": [
            {
                "image": IMAGE,
                "ports": {"container_port": {{ d.container.port }}},
                "resources": {
                    "limits": {
                        "cpu": "{{ d.container.cpu }}",
                        "memory": "{{ d.container.memory }}",
{%- if let Some(gpu) = d.container.gpu %}
                        "nvidia.com/gpu": "{{ gpu.count }}",
{%- endif %}
                    },
                    "cpu_idle": {{ d.container.cpu_idle|py_bool }},
                    "startup_cpu_boost": {{ d.container.startup_cpu_boost|py_bool }},
                },
                "envs": [
{%- for env in d.env %}
                    {"name": "{{ env.name }}", "value": "{{ env.value }}"},
{%- endfor %}
{%- for secret in d.secrets %}
                    {
                        "name": "{{ secret.name }}",
                        "value_source": {
                            "secret_key_ref": {"secret": "{{ secret.secret }}", "version": "{{ secret.version }}"},
                        },
                    },
{%- endfor %}
{%- if !d.env.is_empty() || !d.secrets.is_empty() %}
                {% endif -%}
                ],
                "volume_mounts": [
{%- for volume in d.volumes %}
                    {"name": "{{ volume.name }}", "mount_path": "{{ volume.mount_path }}"},
{%- if loop.last %}
                {% endif %}
{%- endfor -%}
                ],
{%- let probe = d.probes.startup %}
                "startup_probe": {
{%- include "pulumi/_probe.py" %}
                },
{%- let probe = d.probes.liveness %}
                "liveness_probe": {
{%- include "pulumi/_probe.py" %}
                },
            }
        ],
    },
{%- if let Some(r) = d.rollout %}
    traffics=[
        {
            "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
            "revision": STABLE_REVISION,
            "percent": STABLE_PERCENT[CANDIDATE_PERCENT],
            "tag": "{{ r.stable_tag }}",
        },
        {
            "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
            "revision": REVISION,
            "percent": CANDIDATE_PERCENT,
            "tag": "{{ r.candidate_tag }}",
        },
    ],
{%- endif %}
    # Protected, `pulumi destroy` stops before it deletes anything.
    opts=pulumi.ResourceOptions(depends_on=[*apis, *before_service], protect={{ d.service.deletion_protection|py_bool }}),
)

# Who may deploy as the runtime account, and who may call the service.
after_service = [
{%- for grant in grants if !grant.before_service %}
{%- include "pulumi/_grant.py" %}
{%- if loop.last %}
{% endif %}
{%- endfor -%}
]
{%- include "pulumi/_ci.py" %}

pulumi.export("uri", service.uri)
pulumi.export("runtime_account", runtime_account.email)
pulumi.export("image", IMAGE)
{%- if d.rollout.is_some() %}
pulumi.export("revision", REVISION)
{%- endif %}
{%- include "pulumi/_monitoring.py" %}
