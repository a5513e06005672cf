#!/usr/bin/env bash
# Deploys the Cloud Run service with gcloud, in this order:
#   - enables the APIs;
#   - creates the runtime service account{% if d.build_account.is_some() %}, the account the image build runs as, the bucket its source is uploaded to{% endif %}{% if let Some(repo) = d.repository %}{% if !repo.existing %} and the Artifact Registry repository{% endif %}{% endif %} when missing;
#   - grants the service account what the service reads, which the deploy checks;
{%- if d.image.built_here %}
#   - builds the image with Cloud Build unless this exact build exists, and reads its digest;
{%- endif %}
#   - deploys the service, running the image by digest, with its whole configuration;
{%- if let Some(r) = d.rollout %}
#   - as a canary: the new revision (tag {{ r.candidate_tag }}) takes no traffic, the revision before it
#     (tag {{ r.stable_tag }}) all of it; promote.sh and rollback.sh move it from there;
{%- endif %}
#   - grants its callers and deployers;
#   - removes the runtime account's read on a secret or model folder the service no longer reads.
# Safe to re-run: nothing is created twice.
#
{%- if let Some(p) = d.image.promoted %}
# Usage: deploy.sh IMAGE   (or MLGEN_IMAGE=IMAGE deploy.sh; from any folder; gcloud must be
#   signed in with rights on the project). IMAGE is the image environment {{ p.from }} built and
#   deployed, by digest: {{ p.digest_prefix }}<64 hex digits>. It is never built again here.
{%- else %}
# Usage: deploy.sh   (from any folder; gcloud must be signed in with rights on the project)
{%- endif %}
{%- if d.rollout.is_some() %}
#        STABLE_REVISION=REVISION deploy.sh   (after the first deploy: the revision serving now)
{%- endif %}
set -euo pipefail
{%- if d.image.built_here || !d.env.is_empty() %}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
{%- endif %}

project={{ d.service.project }}
region={{ d.service.region }}
service={{ d.service.name }}
account={{ d.runtime_account.email }}
{%- if d.image.built_here %}
image_path={{ d.image.path }}
{%- else if let Some(p) = d.image.promoted %}
image="${1:-${MLGEN_IMAGE:-}}"
image_prefix={{ p.digest_prefix }}
digest_pattern={{ p.digest_pattern }}
if [[ "$image" != "$image_prefix"* || ! "${image#"$image_prefix"}" =~ $digest_pattern ]]; then
  echo "deploy.sh: pass the image of environment {{ p.from }} by digest: $image_prefix<64 hex digits>" >&2
  exit 2
fi
{%- else %}
image={{ d.image.url }}
{%- endif %}

step() {
  printf '==> %s\n' "$*"
}

# IAM is eventually consistent: a service account created a moment ago can be refused in
# a binding for a short while. Retry failed calls (exit 1) a few times; a usage error
# (exit 2) is not worth repeating.
retry() {
  local attempt=1 status
  while true; do
    status=0
    "$@" || status=$?
    if [ "$status" -eq 0 ]; then
      return 0
    fi
    if [ "$status" -ne 1 ] || [ "$attempt" -ge 5 ]; then
      return "$status"
    fi
    echo "    retrying in $((attempt * 3))s" >&2
    sleep "$((attempt * 3))"
    attempt=$((attempt + 1))
  done
}


{%- macro grant(gr) %}
step Granting {{ gr.g.role }} on {{ gr.g.resource }} to {{ gr.g.member }}
retry gcloud{% for word in gr.group %} {{ word }}{% endfor %} add-iam-policy-binding {{ gr.resource|safe }} \
  --member={{ gr.member|safe }} --role={{ gr.g.role }} --condition=None \
  {{ gr.scope|safe }} --quiet >/dev/null
{%- endmacro %}

{%- macro converge(m) %}
step Removing {{ m.role }} on {{ m.resource_name }} from members {{ d.spec_name }} no longer names
while read -r member; do
  case "$member" in
{%- if !m.wanted.is_empty() %}
    {% for w in m.wanted %}{{ w|safe }}{% if !loop.last %} | {% endif %}{% endfor %}) ;;
{%- endif %}
    ?*)
      retry gcloud{% for word in m.group %} {{ word }}{% endfor %} remove-iam-policy-binding {{ m.resource|safe }} \
        --member="$member" --role={{ m.role }} --condition=None \
        {{ m.scope|safe }} --quiet >/dev/null
      ;;
  esac
done < <(gcloud{% for word in m.group %} {{ word }}{% endfor %} get-iam-policy {{ m.resource|safe }} {{ m.scope|safe }} \
  --flatten='bindings[].members' --filter=bindings.role={{ m.role }} --format='value(bindings.members)')
{%- endmacro %}

step "Enabling APIs in $project"
gcloud services enable{% for api in d.apis %} {{ api }}{% endfor %} --project="$project" --quiet
{%- if !prerequisites.is_empty() %}

# What the deployment uses but does not create: all checked before anything is created.
step "Checking prerequisites"
missing=0
require() {
  local what=$1
  shift
  if ! "$@" >/dev/null 2>&1; then
    echo "deploy.sh: missing prerequisite: $what" >&2
    missing=1
  fi
}
{%- if let Some(q) = d.gpu_quota %}

# Whether the project's quota {{ q.quota_id }} allows {{ q.needed }} GPU(s) in the region
# (-1 is unlimited).
gpu_quota() {
  local locations value
  while IFS=$'\t' read -r locations value; do
    case ";$locations;" in
      *";$region;"*) [ "$value" = -1 ] || [ "${value:-0}" -ge {{ q.needed }} ] && return 0 ;;
    esac
  done < <(gcloud beta quotas info describe {{ q.quota_id }} --service={{ q.service }} --project="$project" \
    --flatten='dimensionsInfos[]' --format='value(dimensionsInfos.applicableLocations,dimensionsInfos.details.value)')
  return 1
}
{%- endif %}
{%- for p in prerequisites %}
require {{ p.what }} \
  {{ p.check|safe }}
{%- endfor %}
if [ "$missing" -ne 0 ]; then
  echo "deploy.sh: nothing was created." >&2
  exit 1
fi
{%- endif %}
{%- if project_number %}

# The Cloud Run service agent, which pulls the image, is named by the project's number.
project_number="$(gcloud projects describe "$project" --format='value(projectNumber)')"
{%- endif %}

# What this script creates carries a mark, so that teardown.sh deletes only that.
account_mark="{{ account_mark|safe }}"
step "Runtime service account $account"
if account_description="$(gcloud iam service-accounts describe "$account" --project="$project" \
  --format='value(description)' 2>/dev/null)"; then
  echo "    exists"
else
  gcloud iam service-accounts create {{ d.runtime_account.account_id }} \
    --display-name={{ d.runtime_account.display_name }} \
    --description="$account_mark" \
    --project="$project" \
    --quiet
  account_description=$account_mark
fi
{%- if let Some(build_account) = d.build_account %}

# The image build runs as its own account, which may push to the repository and write the
# build's logs, nothing else: never as the project's default build identity.
build_account={{ build_account.email }}
step "Build service account $build_account"
if gcloud iam service-accounts describe "$build_account" --project="$project" >/dev/null 2>&1; then
  echo "    exists"
else
  gcloud iam service-accounts create {{ build_account.account_id }} \
    --display-name={{ build_account.display_name }} \
    --description="$account_mark" \
    --project="$project" \
    --quiet
fi
{%- endif %}
{%- if let Some(bucket) = d.staging_bucket %}

# The build's source is uploaded here, where the build's account may read it (gcloud's own
# staging bucket is created on the first build, too late to grant on). Private, and staged
# sources are deleted after {{ bucket.delete_after_days }} days: a build reads its source once.
staging_bucket=gs://{{ bucket.name }}
step "Build source bucket $staging_bucket"
if gcloud storage buckets describe "$staging_bucket" --project="$project" >/dev/null 2>&1; then
  echo "    exists"
else
  lifecycle="$(mktemp)"
  printf '{"rule": [{"action": {"type": "Delete"}, "condition": {"age": %s}}]}' {{ bucket.delete_after_days }} >"$lifecycle"
  gcloud storage buckets create "$staging_bucket" \
    --location={{ bucket.location }} \
    --uniform-bucket-level-access \
    --public-access-prevention \
    --lifecycle-file="$lifecycle" \
    --project="$project" \
    --quiet
  rm -f "$lifecycle"
  gcloud storage buckets update "$staging_bucket" --update-labels=mlgen_service="$service" \
    --project="$project" --quiet
fi
{%- endif %}
{%- if let Some(repo) = d.repository %}
{%- if !repo.existing %}

repository={{ repo.id }}
step "Artifact Registry repository $repository"
if repository_owner="$(gcloud artifacts repositories describe "$repository" --location={{ repo.location }} --project={{ repo.project }} \
  --format='value(labels.mlgen_service)' 2>/dev/null)"; then
  echo "    exists"
else
  gcloud artifacts repositories create "$repository" \
    --repository-format=docker \
    --location={{ repo.location }} \
    --description={{ repo.description }} \
    --labels=mlgen_service="$service" \
    --project={{ repo.project }} \
    --quiet
  repository_owner=$service
fi
{%- endif %}
{%- endif %}
{%- for g in grants %}
{%- if g.g.before_service %}
{% call grant(g) %}{% endcall %}
{%- endif %}
{%- endfor %}
{%- if d.image.built_here %}

# The image is tagged with the hash of the files it is built from, and the service
# runs the digest that tag resolves to: an unchanged image is not rebuilt and changes
# nothing, a changed one rolls out. Only these files are uploaded (see the ignore file).
context="$here"/{{ build.context }}
{{ content_tag|safe }}

image_by_digest() {
  gcloud artifacts docker images describe "$image_path:$tag" --project="$project" \
    --format='value(image_summary.fully_qualified_digest)' 2>/dev/null
}

tag="$(cd "$context" && content_tag)"
step "Image $image_path:$tag"
if image="$(image_by_digest)" && [ -n "$image" ]; then
  echo "    built already"
else
  step "Building it with Cloud Build"
  (
    cd "$context"
    export{% for (name, value) in build.env %} {{ name }}={{ value }}{% endfor %} CONTENT_TAG="$tag" PROJECT="$project"
    {{ build.submit|safe }}
  )
  image="$(image_by_digest)"
fi
{%- endif %}
{%- if let Some(r) = d.rollout %}
{%- if !d.image.built_here %}

{% include "gcloud/_sha256.sh" %}
{%- endif %}

# The revision this deploy creates, named by its image and settings exactly as Terraform and
# Pulumi name it: a new image or new settings get a new name, Cloud Run never reuses one. It
# starts with no traffic, beside the revision that served before it: STABLE_REVISION (the
# revision an earlier deploy printed), or on the first deploy the candidate itself.
revision_suffix="$(printf '%s%s' "${{ self.revision_key(r) }}" {{ r.revision.template_hash }} | sha256 | cut -c1-{{ r.revision.suffix_len }})"
revision={{ r.revision.prefix }}"$revision_suffix"
stable="${STABLE_REVISION:-$revision}"
traffic=()
if gcloud run services describe "$service" --project="$project" --region="$region" >/dev/null 2>&1; then
  traffic=(--no-traffic)
fi
{%- endif %}

# What the service reads before this deploy (its secrets; the buckets it mounts, with their
# mount options): once the new revision runs, the runtime account loses its read on what
# the spec no longer names.
service_reads() {
  gcloud run services describe "$service" --region="$region" --project="$project" "$@" 2>/dev/null || true
}
secrets_before="$(service_reads --format='value(spec.template.spec.containers[0].env[].valueFrom.secretKeyRef.name)')"
mounts_before="$(service_reads --flatten='spec.template.spec.volumes[]' \
  --format='value(spec.template.spec.volumes.csi.volumeAttributes.bucketName,spec.template.spec.volumes.csi.volumeAttributes.mountOptions)')"

step "Deploying $service to Cloud Run in $region"
gcloud {% if run_beta %}beta {% endif %}run deploy "$service" \
  --image="$image" \
  --project="$project" \
  --region="$region" \
  --service-account="$account" \
  --cpu={{ d.container.cpu }} \
  --memory={{ d.container.memory }} \
{%- if let Some(gpu) = d.container.gpu %}
  --gpu={{ gpu.count }} \
  --gpu-type={{ gpu.kind }} \
{%- endif %}
{%- if let Some(zonal) = switches.gpu_zonal_redundancy %}
  {{ zonal }} \
{%- endif %}
  {{ switches.cpu_throttling }} \
  {{ switches.cpu_boost }} \
  --execution-environment={{ d.container.execution_environment }} \
  --concurrency={{ d.scaling.concurrency }} \
  --timeout={{ d.scaling.timeout_seconds }} \
  --min-instances={{ d.scaling.min_instances }} \
  --max-instances={{ d.scaling.max_instances }} \
  --port={{ d.container.port }} \
  --ingress={{ d.service.ingress }} \
  --no-allow-unauthenticated \
  {{ switches.invoker_iam_check }} \
  --clear-labels \
{%- if !d.service.labels.is_empty() %}
  --update-labels={% for l in d.service.labels %}{{ l.key }}={{ l.value }}{% if !loop.last %},{% endif %}{% endfor %} \
{%- endif %}
{%- if let Some(description) = d.service.description %}
  --description={{ description }} \
{%- endif %}
{%- if d.env.is_empty() %}
  --clear-env-vars \
{%- else %}
  --env-vars-file="$here"/{{ env_file }} \
{%- endif %}
{%- if d.secrets.is_empty() %}
  --clear-secrets \
{%- else %}
  --set-secrets={% for s in d.secrets %}{{ s.name }}={{ s.secret }}:{{ s.version }}{% if !loop.last %},{% endif %}{% endfor %} \
{%- endif %}
  --clear-volumes \
  --clear-volume-mounts \
{%- for v in d.volumes %}
  --add-volume=name={{ v.name }},type=cloud-storage,bucket={{ v.bucket }},readonly={{ v.read_only }}{% if !v.mount_options.is_empty() %},mount-options={% for o in v.mount_options %}{{ o }}{% if !loop.last %};{% endif %}{% endfor %}{% endif %} \
  --add-volume-mount=volume={{ v.name }},mount-path={{ v.mount_path }} \
{%- endfor %}
  --startup-probe={{ probes.startup }} \
  --liveness-probe={{ probes.liveness }} \
{%- if let Some(r) = d.rollout %}
  --revision-suffix="$revision_suffix" \
  --tag={{ r.candidate_tag }} \
  ${traffic[@]+"${traffic[@]}"} \
{%- endif %}
  --quiet
{%- if let Some(r) = d.rollout %}

step "Traffic: all to $stable (tag {{ r.stable_tag }}), none yet to $revision (tag {{ r.candidate_tag }})"
gcloud run services update-traffic "$service" --project="$project" --region="$region" \
  --to-revisions="$stable"=100 --update-tags={{ r.stable_tag }}="$stable" --quiet
echo "    promote the candidate with promote.sh {% for s in r.steps %}{{ s }}{% if !loop.last %}, {% endif %}{% endfor %} in turn, or roll back with rollback.sh;"
echo "    once it serves everything, deploy the next one with STABLE_REVISION=$revision"
{%- endif %}
{%- for g in grants %}
{%- if !g.g.before_service %}
{% call grant(g) %}{% endcall %}
{%- endif %}
{%- endfor %}

# On what this script created, the roles it grants are the spec's alone: a member removed
# from the spec loses its access.
{%- for m in converge %}
{% if let Some(owned) = m.owned_if %}if {{ owned|safe }}; then{% endif %}
{%- call converge(m) %}{% endcall %}
{%- if m.owned_if.is_some() %}
fi
{%- endif %}
{%- endfor %}

# revoke_read ROLE RESOURCE GROUP...: removes ROLE on RESOURCE (of the gcloud command group
# GROUP) from the runtime account, when it holds it.
revoke_read() {
  local role=$1 resource=$2
  shift 2
  # (`gcloud storage` has no --filter: the role is matched here.)
  if gcloud "$@" get-iam-policy "$resource" --project="$project" --flatten='bindings[].members' \
    --format='value(bindings.role,bindings.members)' | grep -qxF "$role"$'\t'"serviceAccount:$account"; then
    step "Removing $role on $resource from $account: $service no longer reads it"
    retry gcloud "$@" remove-iam-policy-binding "$resource" \
      --member="serviceAccount:$account" --role="$role" --condition=None \
      --project="$project" --quiet >/dev/null
  fi
}
IFS=';' read -ra secrets <<<"$secrets_before"
for secret in "${secrets[@]}"; do
  case "$secret" in
    "") ;;
{%- if !reads.secrets.is_empty() %}
    {% for w in reads.secrets %}{{ w|safe }}{% if !loop.last %} | {% endif %}{% endfor %}) ;;
{%- endif %}
    *) revoke_read {{ reads.secret_role }} "$secret" secrets ;;
  esac
done
while IFS=$'\t' read -r bucket options; do
  [ -n "$bucket" ] || continue
  case ",$options," in
    *,only-dir=*)
      folder="${options#*only-dir=}"
      mount="gs://$bucket/${folder%%,*}/"
      group=(storage managed-folders)
      ;;
    *)
      mount="gs://$bucket"
      group=(storage buckets)
      ;;
  esac
  case "$mount" in
{%- if !reads.mounts.is_empty() %}
    {% for w in reads.mounts %}{{ w|safe }}{% if !loop.last %} | {% endif %}{% endfor %}) ;;
{%- endif %}
    *) revoke_read {{ reads.object_role }} "$mount" "${group[@]}" ;;
  esac
done <<<"$mounts_before"

step "Done: $service is deployed in $region"
