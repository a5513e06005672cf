#!/usr/bin/env bash
# Returns all traffic of {{ d.service.name }} to the revision that served before the
# candidate (tag {{ r.stable_tag }}); the candidate keeps its tag and URL, with no traffic.
#
# Usage: rollback.sh
set -euo pipefail

project={{ d.service.project }}
region={{ d.service.region }}
service={{ d.service.name }}

{%- let rolled_back = r.splits[0] %}
printf '==> all of %s back to the {{ r.stable_tag }} revision\n' "$service"
gcloud run services update-traffic "$service" --project="$project" --region="$region" \
  --to-tags={{ r.stable_tag }}={{ rolled_back.stable }},{{ r.candidate_tag }}={{ rolled_back.candidate }} --quiet
