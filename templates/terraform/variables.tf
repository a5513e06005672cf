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

{%- if !d.image.built_here %}

variable "image" {
  description = "Container image the service runs, built elsewhere; pass a digest (IMAGE@sha256:...) to pin a build."
  type = string
  default = "{{ d.image.url }}"
}
{%- endif %}
