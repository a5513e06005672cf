# The canary: each apply creates a revision with a name of its own, tagged {{ r.candidate_tag }},
# beside the revision that served before it, tagged {{ r.stable_tag }}. Promote the candidate with
# `-var candidate_percent=N`; 0 rolls back.

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

locals {
  # The revision this apply creates, named by its image and settings exactly as Pulumi and
  # deploy.sh name it: a new image or new settings get a new name, Cloud Run never reuses one.
  revision_suffix = substr(sha256("${ {{- revision_key -}} }{{ r.revision.template_hash }}"), 0, {{ r.revision.suffix_len }})
  revision = "{{ r.revision.prefix }}${local.revision_suffix}"
  # The revision that served before the candidate; on the first apply, the candidate itself.
  stable_revision = coalesce(var.stable_revision, local.revision)
  # The stable revision's share at each percent the candidate may take.
  stable_percent = {
    {%- for s in r.splits %}
    "{{ s.candidate }}" = {{ s.stable }}
    {%- endfor %}
  }
}

output "revision" {
  description = "The revision this apply created: pass it as stable_revision once it serves everything."
  value = local.revision
}
