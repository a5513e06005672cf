output "service_uri" {
  description = "URL of the Cloud Run service."
  value = {{ service }}.uri
}

output "runtime_account_email" {
  description = "Service account the service runs as."
  value = {{ account }}.email
}

output "image" {
  description = "Image the service runs."
  value = {{ image }}
}
{%- if d.rollout.is_some() %}

output "revision" {
  description = "The revision this apply created: pass it as stable_revision once it serves everything."
  value = local.revision
}
{%- endif %}
