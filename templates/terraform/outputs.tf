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
