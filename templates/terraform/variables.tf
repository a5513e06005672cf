variable "project" {
  description = "Google Cloud project that holds every resource."
  type = string
  default = "{{ d.service.project }}"
}

variable "region" {
  description = "Region of the Cloud Run service and the image repository."
  type = string
  default = "{{ d.service.region }}"
}

{%- if let Some(p) = d.image.promoted %}

variable "image" {
  description = "The image environment {{ p.from }} built and deployed, by digest: {{ p.digest_prefix }}<64 hex digits>. It is never built again here."
  type = string

  validation {
    condition = can(regex("{{ p.digest_pattern }}", trimprefix(var.image, "{{ p.digest_prefix }}")))
    error_message = "Pass the image of environment {{ p.from }} by digest: {{ p.digest_prefix }}<64 hex digits>."
  }
}
{%- else if !d.image.built_here %}

variable "image" {
  description = "Container image the service runs, built elsewhere; pass a digest (IMAGE@sha256:...) to pin a build."
  type = string
  default = "{{ d.image.url }}"
}
{%- endif %}
