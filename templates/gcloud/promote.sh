#!/usr/bin/env bash
# Sends PERCENT of the traffic of {{ d.service.name }} to the candidate revision (tag
# {{ r.candidate_tag }}, the one deploy.sh created last) and the rest to the revision that served
# before it (tag {{ r.stable_tag }}): {% for s in r.steps %}{{ s }}{% if !loop.last %}, {% endif %}{% endfor %} in turn. rollback.sh undoes it.
#
# Usage: promote.sh PERCENT   (one of{% for s in r.steps %} {{ s }}{% endfor %})
set -euo pipefail

project={{ d.service.project }}
region={{ d.service.region }}
service={{ d.service.name }}

# The stable revision's share at each percent the candidate may take.
case "${1:-}" in
{%- for s in r.splits %}
{%- if s.candidate > 0 %}
  {{ s.candidate }}) stable_percent={{ s.stable }} ;;
{%- endif %}
{%- endfor %}
  *)
    echo "usage: promote.sh PERCENT   (one of{% for s in r.steps %} {{ s }}{% endfor %})" >&2
    exit 2
    ;;
esac

printf '==> %s%% of %s to the {{ r.candidate_tag }} revision, %s%% to the {{ r.stable_tag }} one\n' "$1" "$service" "$stable_percent"
gcloud run services update-traffic "$service" --project="$project" --region="$region" \
  --to-tags={{ r.candidate_tag }}="$1",{{ r.stable_tag }}="$stable_percent" --quiet
