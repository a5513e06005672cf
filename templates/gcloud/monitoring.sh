#!/usr/bin/env bash
# Creates the service's Cloud Monitoring, or brings it up to date with the spec:
{%- if !channels.is_empty() %}
#   - notification channels for [monitoring] notify (`gcloud beta`);
{%- endif %}
#   - the alert policies (`gcloud alpha`: alert policies have no GA command yet);
{%- if let Some(u) = m.uptime_check %}
#   - an uptime check of the service's URL;
{%- endif %}
#   - the dashboard.
# Each is found again by its display name, so a re-run updates instead of duplicating. The
# documents it sends are the JSON files in monitoring/ beside this script.
#
# Usage: monitoring.sh   (from any folder, after deploy.sh, which enables the Monitoring API;
# needs gcloud's alpha and beta components)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/monitoring"
project={{ d.service.project }}

step() {
  printf '==> %s\n' "$*"
}

# The resource name of what the list command (the arguments after $1) shows under display
# name $1, or nothing.
named() {
  local name=$1
  shift
  gcloud "$@" --filter="displayName=\"$name\"" --format='value(name)' --limit=1 \
    --project="$project" --quiet
}

{%- if !channels.is_empty() %}

channels=()
{%- for c in channels %}

step {{ c.item.display_name }}
channel=$(named {{ c.item.display_name }} beta monitoring channels list)
if [ -n "$channel" ]; then
  gcloud beta monitoring channels update "$channel" --channel-content-from-file="$here/{{ c.file }}" \
    --project="$project" --quiet >/dev/null
else
  channel=$(gcloud beta monitoring channels create --channel-content-from-file="$here/{{ c.file }}" \
    --format='value(name)' --project="$project" --quiet)
fi
channels+=("$channel")
{%- endfor %}
notify=$(IFS=,; echo "${channels[*]}")
{%- endif %}
{%- for p in policies %}

step {{ p.item.display_name }}
policy=$(named {{ p.item.display_name }} alpha monitoring policies list)
if [ -n "$policy" ]; then
  gcloud alpha monitoring policies update "$policy" --policy-from-file="$here/{{ p.file }}" \
    {% if !channels.is_empty() %}--set-notification-channels="$notify" {% endif %}--project="$project" --quiet >/dev/null
else
  gcloud alpha monitoring policies create --policy-from-file="$here/{{ p.file }}" \
    {% if !channels.is_empty() %}--notification-channels="$notify" {% endif %}--project="$project" --quiet >/dev/null
fi
{%- endfor %}
{%- if let Some(u) = m.uptime_check %}

step {{ u.display_name }}
check=$(named {{ u.display_name }} monitoring uptime list-configs)
settings=(--path={{ u.path }} --port=443 --validate-ssl=true --period={{ uptime_period_minutes }} --timeout={{ u.timeout_seconds }})
if [ -n "$check" ]; then
  gcloud monitoring uptime update "$check" "${settings[@]}" --project="$project" --quiet >/dev/null
else
  gcloud monitoring uptime create {{ u.display_name }} "${settings[@]}" --protocol=https \
    --resource-type={{ uptime_resource_type }} --resource-labels={{ uptime_resource_labels }} \
    --project="$project" --quiet >/dev/null
fi
{%- endif %}

step {{ m.dashboard.display_name }}
dashboard=$(named {{ m.dashboard.display_name }} monitoring dashboards list)
if [ -n "$dashboard" ]; then
  gcloud monitoring dashboards update "$dashboard" --config-from-file="$here/{{ dashboard_file }}" \
    --project="$project" --quiet >/dev/null
else
  gcloud monitoring dashboards create --config-from-file="$here/{{ dashboard_file }}" \
    --project="$project" --quiet >/dev/null
fi
