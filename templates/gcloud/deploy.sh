#!/usr/bin/env bash
# Deploys the Cloud Run service with gcloud, in this order:
#   - enables the APIs;
#   - creates the runtime service account{% if d.repository.is_some() %} and the Artifact Registry repository{% endif %} when missing;
#   - grants the service account what the service reads, which the deploy checks;
{%- if d.image.built_here %}
#   - builds the image from the spec's folder with Cloud Build and pushes it;
{%- endif %}
#   - deploys the service with its whole configuration (a new revision);
#   - grants its callers and deployers.
# Safe to re-run: nothing is created twice.
#
# Usage: deploy.sh   (from any folder; gcloud must be signed in with rights on the project)
set -euo pipefail
{%- if d.image.built_here || !d.env.is_empty() %}

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
{%- endif %}

project={{ d.service.project }}
region={{ d.service.region }}
service={{ d.service.name }}
account={{ d.runtime_account.email }}
image={{ d.image.url }}

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

{%- macro grant(g) %}
step Granting {{ g.role }} on {{ g.resource }} to {{ g.member }}
{%- match g.target %}
{%- when IamTarget::Secret %}
retry gcloud secrets add-iam-policy-binding {{ g.resource }} \
  --member={{ g.member }} --role={{ g.role }} --condition=None \
  --project="$project" --quiet >/dev/null
{%- when IamTarget::Bucket %}
retry gcloud storage buckets add-iam-policy-binding gs://{{ g.resource }} \
  --member={{ g.member }} --role={{ g.role }} --condition=None \
  --project="$project" --quiet >/dev/null
{%- when IamTarget::ServiceAccount %}
retry gcloud iam service-accounts add-iam-policy-binding {{ g.resource }} \
  --member={{ g.member }} --role={{ g.role }} --condition=None \
  --project="$project" --quiet >/dev/null
{%- when IamTarget::Service %}
retry gcloud run services add-iam-policy-binding {{ g.resource }} \
  --member={{ g.member }} --role={{ g.role }} --condition=None \
  --region="$region" --project="$project" --quiet >/dev/null
{%- endmatch %}
{%- endmacro %}

step "Enabling APIs in $project"
gcloud services enable{% for api in d.apis %} {{ api }}{% endfor %} --project="$project" --quiet

step "Runtime service account $account"
if gcloud iam service-accounts describe "$account" --project="$project" >/dev/null 2>&1; then
  echo "    exists"
else
  gcloud iam service-accounts create {{ d.runtime_account.account_id }} \
    --display-name={{ d.runtime_account.display_name }} \
    --project="$project" \
    --quiet
fi
{%- if let Some(repo) = d.repository %}

repository={{ repo.id }}
step "Artifact Registry repository $repository"
if gcloud artifacts repositories describe "$repository" --location={{ repo.location }} --project={{ repo.project }} >/dev/null 2>&1; then
  echo "    exists"
else
  gcloud artifacts repositories create "$repository" \
    --repository-format=docker \
    --location={{ repo.location }} \
    --description={{ repo.description }} \
    --project={{ repo.project }} \
    --quiet
fi
{%- endif %}
{%- for g in d.iam %}
{%- if g.before_service %}
{% call grant(g) %}{% endcall %}
{%- endif %}
{%- endfor %}
{%- if d.image.built_here %}

# The build context is the spec's folder, uploaded without what the ignore file lists; the
# Cloud Build config builds the Dockerfile in the output folder and pushes the image.
step "Building $image with Cloud Build"
(
  cd "$here"/{{ build.context_from_scripts }}
  gcloud builds submit . \
    --config={{ build.config }} \
    --ignore-file={{ build.ignore_file }} \
    --project="$project" \
    --quiet
)
{%- endif %}

step "Deploying $service to Cloud Run in $region"
gcloud run deploy "$service" \
  --image="$image" \
  --project="$project" \
  --region="$region" \
  --service-account="$account" \
  --cpu={{ d.container.cpu }} \
  --memory={{ d.container.memory }} \
{%- if let Some(gpu) = d.container.gpu %}
  --gpu={{ gpu.count }} \
  --gpu-type={{ gpu.kind }} \
  --{% if !gpu.zonal_redundancy %}no-{% endif %}gpu-zonal-redundancy \
{%- endif %}
  --{% if !d.container.cpu_idle %}no-{% endif %}cpu-throttling \
  --{% if !d.container.startup_cpu_boost %}no-{% endif %}cpu-boost \
  --execution-environment={{ d.container.execution_environment }} \
  --concurrency={{ d.scaling.concurrency }} \
  --timeout={{ d.scaling.timeout_seconds }} \
  --min-instances={{ d.scaling.min_instances }} \
  --max-instances={{ d.scaling.max_instances }} \
  --port={{ d.container.port }} \
  --ingress={{ d.service.ingress }} \
  --no-allow-unauthenticated \
  --{% if d.service.invoker_iam_disabled %}no-{% endif %}invoker-iam-check \
{%- if d.service.labels.is_empty() %}
  --clear-labels \
{%- else %}
  --labels={% for l in d.service.labels %}{{ l.key }}={{ l.value }}{% if !loop.last %},{% endif %}{% endfor %} \
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
  --add-volume=name={{ v.name }},type=cloud-storage,bucket={{ v.bucket }},readonly={{ v.read_only }} \
  --add-volume-mount=volume={{ v.name }},mount-path={{ v.mount_path }} \
{%- endfor %}
  --startup-probe=httpGet.path={{ d.probes.startup.path }},httpGet.port={{ d.probes.startup.port }},initialDelaySeconds={{ d.probes.startup.initial_delay_seconds }},periodSeconds={{ d.probes.startup.period_seconds }},timeoutSeconds={{ d.probes.startup.timeout_seconds }},failureThreshold={{ d.probes.startup.failure_threshold }} \
  --liveness-probe=httpGet.path={{ d.probes.liveness.path }},httpGet.port={{ d.probes.liveness.port }},initialDelaySeconds={{ d.probes.liveness.initial_delay_seconds }},periodSeconds={{ d.probes.liveness.period_seconds }},timeoutSeconds={{ d.probes.liveness.timeout_seconds }},failureThreshold={{ d.probes.liveness.failure_threshold }} \
  --quiet
{%- for g in d.iam %}
{%- if !g.before_service %}
{% call grant(g) %}{% endcall %}
{%- endif %}
{%- endfor %}

step "Done: $service is deployed in $region"
