{% for p in prerequisites -%}
# Not created here: when it is missing, `terraform plan` stops, before anything is created.
# Create {{ p.create }}.
data "{{ p.tf_type }}" "{{ p.name }}" {
  {%- for a in p.args %}
  {{ a.name }} = {% match a.value %}{% when Value::Text(text) %}"{{ text }}"{% when Value::Ref(r) %}{{ r|safe }}{% endmatch %}
  {%- endfor %}
}

{% endfor -%}
{%- if let Some(q) = d.gpu_quota -%}
# Not granted here: when the project's GPU quota in the region is short, `terraform plan`
# stops, before anything is created (-1 is unlimited).
data "google_cloud_quotas_quota_info" "gpu" {
  parent = "projects/${var.project}"
  service = "{{ q.service }}"
  quota_id = "{{ q.quota_id }}"

  lifecycle {
    postcondition {
      condition = anytrue([for i in self.dimensions_infos : contains(i.applicable_locations, var.region) && (i.details[0].value == "-1" || tonumber(i.details[0].value) >= {{ q.needed }})])
      error_message = "{{ q.request }}"
    }
  }
}

{% endif -%}
{%- if project_number -%}
# The project's number: the Cloud Run service agent's email holds it.
data "google_project" "project" {
  project_id = var.project
}

{% endif -%}
# APIs the deployment uses. Destroying this configuration leaves them enabled: other
# workloads in the project may need them.
resource "google_project_service" "apis" {
  for_each = toset([
    {%- for api in d.apis %}
    "{{ api }}",
    {%- endfor %}
  ])

  project = var.project
  service = each.value
  disable_on_destroy = false
}

# The identity the service runs as, with no project-wide roles: each grant below names
# the one resource it needs.
resource "google_service_account" "runtime" {
  project = var.project
  account_id = "{{ d.runtime_account.account_id }}"
  display_name = "{{ d.runtime_account.display_name }}"

  depends_on = [{{ apis }}]
}
{%- if let Some(build_account) = d.build_account %}

# The identity the image build runs as, instead of the project's default build identity:
# it may push to the one repository and write the build's logs, nothing else.
resource "google_service_account" "build" {
  project = var.project
  account_id = "{{ build_account.account_id }}"
  display_name = "{{ build_account.display_name }}"

  depends_on = [{{ apis }}]
}
{%- endif %}
{%- if let Some(bucket) = d.staging_bucket %}

# Where the build's source is uploaded: the build's account reads it from here (the
# bucket gcloud would otherwise create on the first build cannot be granted on before).
# Staged sources are deleted after {{ bucket.delete_after_days }} days; a build reads its source once.
resource "google_storage_bucket" "staging" {
  # checkov:skip=CKV_GCP_62:staged sources live {{ bucket.delete_after_days }} days and are read once by the build; Cloud Audit Logs record data access where the project enables it
  # checkov:skip=CKV_GCP_78:staged sources are disposable copies of the build context; versions would only outlive the lifecycle rule
  project = var.project
  name = "{{ bucket.name }}"
  location = "{{ bucket.location }}"
  uniform_bucket_level_access = true
  public_access_prevention = "enforced"
  force_destroy = {{ !d.service.deletion_protection }}

  lifecycle_rule {
    condition {
      age = {{ bucket.delete_after_days }}
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [{{ apis }}]
}
{%- endif %}
{%- if let Some(repo) = d.repository %}
{%- if let Some(create) = repo.prerequisite() %}

# Shared with other images, so neither created nor destroyed here: when it is missing,
# `terraform plan` stops, before anything is created. Create {{ create }}.
data "google_artifact_registry_repository" "images" {
  project = "{{ repo.project }}"
  location = "{{ repo.location }}"
  repository_id = "{{ repo.id }}"
}
{%- else %}

resource "google_artifact_registry_repository" "images" {
  # checkov:skip=CKV_GCP_84:Google-managed encryption; set kms_key_name here if your policy requires CMEK
  project = var.project
  location = var.region
  repository_id = "{{ repo.id }}"
  description = "{{ repo.description }}"
  format = "DOCKER"

  depends_on = [{{ apis }}]
}
{%- endif %}

locals {
  # The build context (the spec's folder) and the files the image is built from. The
  # image is tagged with their hash (the SHA-256 of their SHA-256 digests, in this order;
  # Pulumi and deploy.sh compute the same), so a changed file builds a new image. A
  # folder (ending in `/`) stands for every file under it, in path order.
  build_context = "${path.module}/{{ build.context }}"
  image_inputs = [
    {%- for f in d.build.inputs %}
    "{{ f }}",
    {%- endfor %}
  ]
  image_files = flatten([
    for f in local.image_inputs : endswith(f, "/") ? sort(fileset(local.build_context, "${f}**")) : [f]
  ])
  content_tag = sha256(join("", [for f in local.image_files : filesha256("${local.build_context}/${f}")]))
}

# The image build, rerun when an input changes. It uploads only the image's inputs (the
# ignore file is an allowlist).
resource "terraform_data" "image" {
  triggers_replace = local.content_tag

  provisioner "local-exec" {
    working_dir = local.build_context
    command = "{{ build.submit }}"
    environment = {
      {%- for (name, value) in build.env %}
      {{ name }} = "{{ value }}"
      {%- endfor %}
      CONTENT_TAG = local.content_tag
      PROJECT = var.project
    }
  }

  depends_on = [{{ apis }}{% if !repo.existing %}, {{ repository }}{% endif %}, {{ build_account }}, {{ staging_bucket }}{% for g in build_grants %}, {{ g }}{% endfor %}]
}

# The digest the build pushed, read once the build ran: the service runs the image by
# digest, so a new build rolls out and an unchanged one changes nothing.
data "google_artifact_registry_docker_image" "image" {
  project = var.project
  location = {{ repository }}.location
  repository_id = {{ repository }}.repository_id
  image_name = "{{ d.image.name }}:${local.content_tag}"

  depends_on = [terraform_data.image]
}
{%- endif %}
{%- for g in grants %}

resource "{{ g.tf_type }}" "{{ g.key }}" {
  {%- for a in g.args %}
  {{ a.name }} = {% match a.value %}{% when Value::Text(text) %}"{{ text }}"{% when Value::Ref(r) %}{{ r|safe }}{% endmatch %}
  {%- endfor %}
}
{%- endfor %}

resource "google_cloud_run_v2_service" "service" {
  name = "{{ d.service.name }}"
  project = var.project
  location = var.region
  {%- if let Some(description) = d.service.description %}
  description = "{{ description }}"
  {%- endif %}
  ingress = "{{ d.service.ingress_api }}"
  invoker_iam_disabled = {{ d.service.invoker_iam_disabled }}
  deletion_protection = {{ d.service.deletion_protection }}
  {%- if !d.service.labels.is_empty() %}
  labels = {
    {%- for l in d.service.labels %}
    "{{ l.key }}" = "{{ l.value }}"
    {%- endfor %}
  }
  {%- endif %}

  template {
    {%- if d.rollout.is_some() %}
    revision = local.revision
    {%- endif %}
    service_account = {{ account }}.email
    timeout = "{{ d.scaling.timeout }}"
    max_instance_request_concurrency = {{ d.scaling.concurrency }}
    execution_environment = "{{ d.container.execution_environment_api }}"
    {%- if let Some(gpu) = d.container.gpu %}
    gpu_zonal_redundancy_disabled = {{ gpu.zonal_redundancy_disabled }}
    {%- endif %}

    scaling {
      min_instance_count = {{ d.scaling.min_instances }}
      max_instance_count = {{ d.scaling.max_instances }}
    }
    {%- if let Some(gpu) = d.container.gpu %}

    node_selector {
      accelerator = "{{ gpu.kind }}"
    }
    {%- endif %}
    {%- for v in d.volumes %}

    volumes {
      name = "{{ v.name }}"

      gcs {
        bucket = "{{ v.bucket }}"
        read_only = {{ v.read_only }}
        {%- if !v.mount_options.is_empty() %}
        mount_options = [{% for o in v.mount_options %}"{{ o }}"{% if !loop.last %}, {% endif %}{% endfor %}]
        {%- endif %}
      }
    }
    {%- endfor %}

    containers {
      image = {{ image }}

      ports {
        container_port = {{ d.container.port }}
      }

      resources {
        limits = {
          "cpu" = "{{ d.container.cpu }}"
          "memory" = "{{ d.container.memory }}"
          {%- if let Some(gpu) = d.container.gpu %}
          "nvidia.com/gpu" = "{{ gpu.count }}"
          {%- endif %}
        }
        cpu_idle = {{ d.container.cpu_idle }}
        startup_cpu_boost = {{ d.container.startup_cpu_boost }}
      }
      {%- for e in d.env %}

      env {
        name = "{{ e.name }}"
        value = "{{ e.value }}"
      }
      {%- endfor %}
      {%- for s in d.secrets %}

      env {
        name = "{{ s.name }}"

        value_source {
          secret_key_ref {
            secret = "{{ s.secret }}"
            version = "{{ s.version }}"
          }
        }
      }
      {%- endfor %}
      {%- for v in d.volumes %}

      volume_mounts {
        name = "{{ v.name }}"
        mount_path = "{{ v.mount_path }}"
      }
      {%- endfor %}

{%- let probe = d.probes.startup %}

      startup_probe {
{%- include "terraform/_probe.tf" %}
      }

{%- let probe = d.probes.liveness %}

      liveness_probe {
{%- include "terraform/_probe.tf" %}
      }
    }
  }

  {%- if let Some(r) = d.rollout %}

  # The candidate takes var.candidate_percent and the revision before it the rest; 0 rolls back.
  traffic {
    type = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
    revision = local.stable_revision
    percent = lookup(local.stable_percent, var.candidate_percent)
    tag = "{{ r.stable_tag }}"
  }

  traffic {
    type = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
    revision = local.revision
    percent = var.candidate_percent
    tag = "{{ r.candidate_tag }}"
  }
  {%- endif %}

  {%- if d.service.deletion_protection %}

  # `terraform destroy` stops at plan time, before it deletes anything else.
  lifecycle {
    prevent_destroy = true
  }
  {%- endif %}

  # Cloud Run checks at deploy time that the runtime account can read every secret and
  # the model it mounts, and that the image can be pulled, so those grants come first.
  depends_on = [
    {%- for a in service_depends_on %}
    {{ a }},
    {%- endfor %}
  ]
}
