#!/usr/bin/env bash
# Sets up the deploy pipeline's cloud side once, after deploy.sh has created the service:
#   - the account the pipeline deploys as ({{ ci.account.email }}), with only what a
#     deploy needs;
{%- if ci.federation.is_some() %}
#   - the Workload Identity pool through which GitHub Actions runs of {{ ci.repository }} on
#     {{ ci.branch }} act as it, so no key exists; it prints the provider name to set as the
#     repository secret the workflow reads.
{%- endif %}
{%- if ci.trigger.is_some() %}
#   - the Cloud Build trigger that runs the pipeline as it on each push to {{ ci.branch }}
#     (connect the repository to Cloud Build once before).
{%- endif %}
# Safe to re-run: nothing is created twice.
#
# Usage: ci-setup.sh   (from any folder; gcloud must be signed in with rights on the project)
set -euo pipefail

project={{ d.service.project }}
service={{ d.service.name }}
account={{ ci.account.email }}
# What this script creates carries a mark, so that teardown.sh deletes only that.
mark="{{ mark|safe }}"

step() {
  printf '==> %s\n' "$*"
}

step "Enabling the pipeline's APIs in $project"
gcloud services enable{% for api in ci.apis %} {{ api }}{% endfor %} --project="$project" --quiet

step "Deploy service account $account"
if gcloud iam service-accounts describe "$account" --project="$project" >/dev/null 2>&1; then
  echo "    exists"
else
  gcloud iam service-accounts create {{ ci.account.account_id }} \
    --display-name={{ ci.account.display_name }} \
    --description="$mark" \
    --project="$project" \
    --quiet
fi
{%- for g in crate::render::ci::gcloud_grants(ci, d) %}

step Granting {{ g.role }} on {{ g.resource }}
gcloud{% for word in g.group %} {{ word }}{% endfor %} add-iam-policy-binding {{ g.resource }} \
  --member="serviceAccount:$account" --role={{ g.role }} --condition=None \
  {% for flag in g.flags %}{{ flag }} {% endfor %}--quiet >/dev/null
{%- endfor %}
{%- if let Some(f) = ci.federation %}

pool={{ f.pool_id }}
step "Workload Identity pool $pool"
if pool_state="$(gcloud iam workload-identity-pools describe "$pool" --location=global --project="$project" \
  --format='value(state)' 2>/dev/null)"; then
  # A deleted pool keeps its id for 30 days, and comes back with its providers.
  if [ "$pool_state" = DELETED ]; then
    gcloud iam workload-identity-pools undelete "$pool" --location=global --project="$project" --quiet
  else
    echo "    exists"
  fi
else
  gcloud iam workload-identity-pools create "$pool" \
    --location=global \
    --display-name={{ f.pool_display_name }} \
    --description={{ f.pool_description }} \
    --project="$project" \
    --quiet
fi

step "Provider {{ f.provider_id }} for {{ ci.repository }} on {{ ci.branch }}"
if gcloud iam workload-identity-pools providers describe {{ f.provider_id }} --workload-identity-pool="$pool" --location=global --project="$project" >/dev/null 2>&1; then
  gcloud iam workload-identity-pools providers update-oidc {{ f.provider_id }} \
    --workload-identity-pool="$pool" \
    --location=global \
    --attribute-mapping={{ attribute_mapping }} \
    --attribute-condition={{ f.attribute_condition }} \
    --project="$project" \
    --quiet
else
  gcloud iam workload-identity-pools providers create-oidc {{ f.provider_id }} \
    --workload-identity-pool="$pool" \
    --location=global \
    --issuer-uri={{ f.issuer_uri }} \
    --attribute-mapping={{ attribute_mapping }} \
    --attribute-condition={{ f.attribute_condition }} \
    --project="$project" \
    --quiet
fi

number="$(gcloud projects describe "$project" --format='value(projectNumber)')"
step "Letting {{ ci.repository }} act as $account"
gcloud iam service-accounts add-iam-policy-binding "$account" \
  --member="principalSet://iam.googleapis.com/projects/$number/locations/global/workloadIdentityPools/$pool/"{{ f.principal_suffix }} \
  --role=roles/iam.workloadIdentityUser --condition=None \
  --project="$project" --quiet >/dev/null

step "Done. Set the GitHub repository secret {{ f.provider_variable }} to:"
echo "projects/$number/locations/global/workloadIdentityPools/$pool/providers/{{ f.provider_id }}"
{%- endif %}
{%- if let Some(t) = ci.trigger %}

trigger={{ t.name }}
step "Cloud Build trigger $trigger"
if gcloud builds triggers describe "$trigger" --project="$project" >/dev/null 2>&1; then
  # Brought to what the spec says, so a changed branch, build file or approval reaches it;
  # its description (the mark of who created it: Terraform and Pulumi give the same) is left
  # as it is.
  gcloud builds triggers update github "$trigger" \
    --repo-owner={{ ci.owner }} \
    --repo-name={{ ci.name }} \
    --branch-pattern={{ ci.branch_regex }} \
    --build-config={{ t.filename }} \
    --service-account="projects/$project/serviceAccounts/$account" \
    {% if t.approval_required %}--require-approval{% else %}--no-require-approval{% endif %} \
    --project="$project" \
    --quiet
else
  gcloud builds triggers create github \
    --name="$trigger" \
    --repo-owner={{ ci.owner }} \
    --repo-name={{ ci.name }} \
    --branch-pattern={{ ci.branch_regex }} \
    --build-config={{ t.filename }} \
    --description={{ t.description }} \
    --service-account="projects/$project/serviceAccounts/$account" \
{%- if t.approval_required %}
    --require-approval \
{%- endif %}
    --project="$project" \
    --quiet
fi

step "Done: pushes to {{ ci.branch }} of {{ ci.repository }} run $trigger"
{%- endif %}
