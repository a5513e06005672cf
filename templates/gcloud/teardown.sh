#!/usr/bin/env bash
# Removes what deploy.sh created, in reverse order: the Cloud Run service (its invoker
# grants go with it), {% if d.ci.is_some() %}what ci-setup.sh created for the deploy pipeline, {% endif %}the other IAM grants, {% if own_repository.is_some() %}the Artifact Registry repository (with every
# image in it), {% endif %}{% if d.staging_bucket.is_some() %}the build's source bucket, {% endif %}and the runtime service account{% if d.build_account.is_some() %} and the build's account{% endif %}. {% if own_repository.is_some() || d.build_account.is_some() %}They are{% else %}The account is{% endif %}
# deleted only when deploy.sh created {% if own_repository.is_some() || d.build_account.is_some() %}them{% else %}it{% endif %} (it marks what it creates); one that existed
# before is kept. The APIs stay enabled. Safe to re-run: whatever is already gone is skipped.
#
# Usage: teardown.sh [--yes]   (--yes skips the confirmation, for non-interactive use)
set -euo pipefail

project={{ d.service.project }}
region={{ d.service.region }}
service={{ d.service.name }}
account={{ d.runtime_account.email }}
{%- if let Some(build_account) = d.build_account %}
build_account={{ build_account.email }}
{%- endif %}
{%- if let Some(repo) = own_repository %}
repository={{ repo.id }}
{%- endif %}
{%- if let Some(bucket) = d.staging_bucket %}
staging_bucket=gs://{{ bucket.name }}
{%- endif %}
# Copied from the spec: a protected service is never deleted by this script.
deletion_protection={{ d.service.deletion_protection }}

usage() {
  echo "usage: teardown.sh [--yes]"
}

assume_yes=false
for arg in "$@"; do
  case "$arg" in
    -y | --yes) assume_yes=true ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
done

if [ "$deletion_protection" = true ]; then
  echo "teardown.sh: $service has deletion_protection = true in {{ d.spec_name }}; nothing was deleted." >&2
  echo "  To delete it, set deletion_protection = false in the spec, run \`mlgen apply\`, then run this script again." >&2
  exit 1
fi

if [ "$assume_yes" != true ]; then
  if [ ! -t 0 ]; then
    echo "teardown.sh: not a terminal, so there is no one to confirm; pass --yes to delete without asking." >&2
    exit 1
  fi
  echo "This deletes, in project $project:"
  echo "  - the Cloud Run service $service in $region"
  echo "  - the IAM grants deploy.sh made"
{%- if let Some(ci) = d.ci %}
  echo "  - the deploy pipeline's grants, and what ci-setup.sh created for it: the account {{ ci.account.email }}{% if let Some(f) = ci.federation %}, the Workload Identity pool {{ f.pool_id }}{% endif %}{% if let Some(t) = ci.trigger %}, the trigger {{ t.name }}{% endif %}"
{%- endif %}
{%- if let Some(repo) = own_repository %}
  echo "  - the Artifact Registry repository $repository in {{ repo.location }}, with every image in it, if deploy.sh created it"
{%- endif %}
{%- if d.staging_bucket.is_some() %}
  echo "  - the build's source bucket $staging_bucket, with the sources in it, if deploy.sh created it"
{%- endif %}
  echo "  - the service account $account{% if d.build_account.is_some() %} and the build's, $build_account{% endif %}, if deploy.sh created it"
  read -r -p "Type the service name to confirm: " answer
  if [ "$answer" != "$service" ]; then
    echo "Aborted; nothing was deleted." >&2
    exit 1
  fi
fi

step() {
  printf '==> %s\n' "$*"
}

# Runs a gcloud command that deletes something; "not found" means it is already gone.
# Any other error stops the script.
gone() {
  local err
  if err="$("$@" 2>&1 >/dev/null)"; then
    return 0
  fi
  case "$err" in
    *NOT_FOUND* | *"not found"* | *"could not be found"*)
      echo "    already gone"
      ;;
    *)
      printf '%s\n' "$err" >&2
      return 1
      ;;
  esac
}

{% if project_number -%}
# The Cloud Run service agent, granted access to the image, is named by the project's number.
project_number="$(gcloud projects describe "$project" --format='value(projectNumber)')"

{% endif -%}
step "Deleting Cloud Run service $service in $region"
gone gcloud run services delete "$service" --region="$region" --project="$project" --quiet
{%- if let Some(ci) = d.ci %}

# The deploy pipeline's cloud side, as ci-setup.sh made it: its grants, then what it
# created (it marks what it creates; what existed before is kept). Nothing, when
# ci-setup.sh never ran.
pipeline_account={{ ci.account.email }}
pipeline_mark="{{ pipeline_mark|safe }}"
step "Deploy pipeline account $pipeline_account"
if ! pipeline_description="$(gcloud iam service-accounts describe "$pipeline_account" --project="$project" \
  --format='value(description)' 2>/dev/null)"; then
  echo "    none: ci-setup.sh did not run"
else
{%- for g in crate::render::ci::gcloud_grants(ci, d) %}
{%- if !g.on_service %}

  step Removing {{ g.role }} on {{ g.resource }} from "$pipeline_account"
  gone gcloud{% for word in g.group %} {{ word }}{% endfor %} remove-iam-policy-binding {{ g.resource }} \
    --member="serviceAccount:$pipeline_account" --role={{ g.role }} --condition=None \
    {% for flag in g.flags %}{{ flag }} {% endfor %}--quiet
{%- endif %}
{%- endfor %}
{%- if let Some(f) = ci.federation %}

  pool={{ f.pool_id }}
  step "Deleting Workload Identity pool $pool"
  pool_description="$(gcloud iam workload-identity-pools describe "$pool" --location=global --project="$project" \
    --format='value(description)' 2>/dev/null)" || pool_description={{ f.pool_description }}
  if [ "$pool_description" = {{ f.pool_description }} ]; then
    number="$(gcloud projects describe "$project" --format='value(projectNumber)')"
    gone gcloud iam service-accounts remove-iam-policy-binding "$pipeline_account" \
      --member="principalSet://iam.googleapis.com/projects/$number/locations/global/workloadIdentityPools/$pool/"{{ f.principal_suffix }} \
      --role=roles/iam.workloadIdentityUser --condition=None \
      --project="$project" --quiet
    # Deleted pools keep their id for 30 days; ci-setup.sh undeletes it when run again.
    gone gcloud iam workload-identity-pools delete "$pool" --location=global --project="$project" --quiet
  else
    echo "    kept: ci-setup.sh did not create it"
  fi
{%- endif %}
{%- if let Some(t) = ci.trigger %}

  trigger={{ t.name }}
  step "Deleting Cloud Build trigger $trigger"
  description="$(gcloud builds triggers describe "$trigger" --project="$project" \
    --format='value(description)' 2>/dev/null)" || description={{ t.description }}
  if [ "$description" = {{ t.description }} ]; then
    gone gcloud builds triggers delete "$trigger" --project="$project" --quiet
  else
    echo "    kept: ci-setup.sh did not create it"
  fi
{%- endif %}

  step "Deleting service account $pipeline_account"
  if [ "$pipeline_description" = "$pipeline_mark" ]; then
    gone gcloud iam service-accounts delete "$pipeline_account" --project="$project" --quiet
  else
    echo "    kept: ci-setup.sh did not create it"
  fi
fi
{%- endif %}
{%- for g in grants.iter().rev() %}
{%- if !g.on_service %}

step Removing {{ g.g.role }} on {{ g.g.resource }} from {{ g.g.member }}
gone gcloud{% for word in g.group %} {{ word }}{% endfor %} remove-iam-policy-binding {{ g.resource|safe }} \
  --member={{ g.member|safe }} --role={{ g.g.role }} --condition=None \
  {{ g.scope|safe }} --quiet
{%- endif %}
{%- endfor %}
{%- if let Some(repo) = own_repository %}

step "Deleting Artifact Registry repository $repository"
owner="$(gcloud artifacts repositories describe "$repository" --location={{ repo.location }} --project={{ repo.project }} \
  --format='value(labels.mlgen_service)' 2>/dev/null)" || owner=$service
if [ "$owner" = "$service" ]; then
  gone gcloud artifacts repositories delete "$repository" --location={{ repo.location }} --project={{ repo.project }} --quiet
else
  echo "    kept: deploy.sh did not create it"
fi
{%- endif %}
{%- if d.staging_bucket.is_some() %}

step "Deleting the build's source bucket $staging_bucket"
owner="$(gcloud storage buckets describe "$staging_bucket" --project="$project" \
  --format='value(labels.mlgen_service)' 2>/dev/null)" || owner=$service
if [ "$owner" = "$service" ]; then
  gone gcloud storage rm --recursive "$staging_bucket" --project="$project" --quiet
else
  echo "    kept: deploy.sh did not create it"
fi
{%- endif %}

account_mark="{{ account_mark|safe }}"
# delete_account EMAIL: deletes the service account when deploy.sh created it.
delete_account() {
  local description
  step "Deleting service account $1"
  description="$(gcloud iam service-accounts describe "$1" --project="$project" \
    --format='value(description)' 2>/dev/null)" || description=$account_mark
  if [ "$description" = "$account_mark" ]; then
    gone gcloud iam service-accounts delete "$1" --project="$project" --quiet
  else
    echo "    kept: deploy.sh did not create it"
  fi
}
delete_account "$account"
{%- if d.build_account.is_some() %}
delete_account "$build_account"
{%- endif %}

step "Done: $service and what deploy.sh created for it are gone"
