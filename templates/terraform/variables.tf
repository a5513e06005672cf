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

variable "image" {
  description = "Container image the service runs; pass a digest (IMAGE@sha256:...) to pin a build."
  type = string
  default = "{{ d.image.url }}"
}
