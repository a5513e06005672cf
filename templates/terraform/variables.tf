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
{%- if let Some(r) = d.rollout %}

variable "candidate_percent" {
  description = "Percent of traffic the candidate revision (tag {{ r.candidate_tag }}) takes: 0 when deployed, then {% for s in r.steps %}{{ s }}{% if !loop.last %}, {% endif %}{% endfor %} in turn; 0 again rolls back to the stable revision."
  type = number
  default = 0

  validation {
    condition = contains([{% for s in r.splits %}{{ s.candidate }}{% if !loop.last %}, {% endif %}{% endfor %}], var.candidate_percent)
    error_message = "The candidate's percent is one of {% for s in r.splits %}{{ s.candidate }}{% if !loop.last %}, {% endif %}{% endfor %}."
  }
}

variable "stable_revision" {
  description = "The revision that served before this apply (the `revision` output of the apply that created it), tagged {{ r.stable_tag }}; it takes the traffic the candidate does not. Empty on the first apply: the candidate then serves everything."
  type = string
  default = ""
}
{%- endif %}
