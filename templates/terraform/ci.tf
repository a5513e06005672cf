# The deploy pipeline's cloud side ({{ ci.repository }}, branch {{ ci.branch }}): the account it
# deploys as, with only what a deploy needs{% if ci.federation.is_some() %}, and the Workload Identity pool through which
# GitHub Actions runs of that repository and branch act as it: no key exists{% endif %}{% if ci.trigger.is_some() %}, and the Cloud Build
# trigger that runs the pipeline as it{% endif %}.
resource "google_project_service" "ci_apis" {
  for_each = toset([
    {%- for api in ci.apis %}
    "{{ api }}",
    {%- endfor %}
  ])

  project = var.project
  service = each.value
  disable_on_destroy = false
}

resource "google_service_account" "ci" {
  project = var.project
  account_id = "{{ ci.account.account_id }}"
  display_name = "{{ ci.account.display_name }}"

  depends_on = [google_project_service.apis]
}
{%- for g in grants %}

resource "{{ g.tf_type }}" "{{ g.key }}" {
  {%- for a in g.args %}
  {{ a.name }} = {% match a.value %}{% when Value::Text(text) %}"{{ text }}"{% when Value::Ref(r) %}{{ r }}{% endmatch %}
  {%- endfor %}
  role = "{{ g.role }}"
  member = google_service_account.ci.member
}
{%- endfor %}
{%- if let Some(f) = ci.federation %}

# Pool ids stay reserved for 30 days after deletion: recreating it under the same id fails
# until then (undelete it instead).
resource "google_iam_workload_identity_pool" "ci" {
  project = var.project
  workload_identity_pool_id = "{{ f.pool_id }}"
  display_name = "{{ f.pool_display_name }}"
  description = "{{ f.pool_description }}"

  depends_on = [google_project_service.apis, google_project_service.ci_apis]
}

resource "google_iam_workload_identity_pool_provider" "ci" {
  # checkov:skip=CKV_GCP_125:the condition pins the repository and the branch ref; deploy jobs run in GitHub environments, whose sub claim (repo:O/N:environment:E) a sub-based condition would refuse
  project = var.project
  workload_identity_pool_id = google_iam_workload_identity_pool.ci.workload_identity_pool_id
  workload_identity_pool_provider_id = "{{ f.provider_id }}"
  attribute_mapping = {
    {%- for (attribute, assertion) in f.attribute_mapping %}
    "{{ attribute }}" = "{{ assertion }}"
    {%- endfor %}
  }
  attribute_condition = "{{ f.attribute_condition }}"

  oidc {
    issuer_uri = "{{ f.issuer_uri }}"
  }
}

resource "google_service_account_iam_member" "ci_federated" {
  service_account_id = google_service_account.ci.name
  role = "roles/iam.workloadIdentityUser"
  # The pool's name is projects/NUMBER/locations/global/workloadIdentityPools/POOL.
  member = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.ci.name}/{{ f.principal_suffix }}"
}

output "ci_workload_identity_provider" {
  description = "Set the GitHub repository secret {{ f.provider_variable }} to this."
  value = google_iam_workload_identity_pool_provider.ci.name
}
{%- endif %}
{%- if let Some(t) = ci.trigger %}

# Runs the pipeline on each push. Connect the repository to Cloud Build (the Cloud Build
# GitHub app) once before applying.
resource "google_cloudbuild_trigger" "ci" {
  project = var.project
  location = "global"
  name = "{{ t.name }}"
  description = "{{ t.description }}"
  filename = "{{ t.filename }}"
  service_account = google_service_account.ci.id

  github {
    owner = "{{ ci.owner }}"
    name = "{{ ci.name }}"
    push {
      branch = "{{ ci.branch_regex }}"
    }
  }

  approval_config {
    approval_required = {{ t.approval_required }}
  }

  depends_on = [google_project_service.apis, google_project_service.ci_apis]
}
{%- endif %}

output "ci_service_account" {
  description = "The account the deploy pipeline acts as."
  value = google_service_account.ci.email
}
