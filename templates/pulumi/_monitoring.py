{%- if let Some(m) = d.monitoring %}

# Cloud Monitoring: where alerts go, the alert policies, {% if m.uptime_check.is_some() %}an uptime check {% endif %}and a dashboard.
# Thresholds come from the spec's [monitoring] table.
channels = [
{%- for c in m.channels %}
    gcp.monitoring.NotificationChannel(
        "channel-{{ c.key }}",
        project=PROJECT,
        display_name="{{ c.display_name }}",
        type="{{ c.kind }}",
        labels={
{%- for label in c.labels %}
            "{{ label.key }}": "{{ label.value }}",
{%- endfor %}
        },
        opts=pulumi.ResourceOptions(depends_on=apis),
    ),
{%- if loop.last %}
{% endif %}
{%- endfor -%}
]
{%- for p in m.policies %}

gcp.monitoring.AlertPolicy(
    "alert-{{ p.key }}",
    project=PROJECT,
    display_name="{{ p.display_name }}",
    combiner="OR",
    notification_channels=[c.name for c in channels],
    documentation={"content": "{{ p.documentation }}", "mime_type": "text/markdown"},
    conditions=[
        {
            "display_name": "{{ p.condition.display_name }}",
            "condition_threshold": {
                "filter": "{{ p.condition.series.filter }}",
{%- if let Some(den) = p.condition.denominator %}
                "denominator_filter": "{{ den.filter }}",
{%- endif %}
                "comparison": "{{ p.condition.comparison }}",
                "threshold_value": {{ p.condition.threshold }},
                "duration": "{{ p.condition.duration }}",
{%- let s = p.condition.series %}
                "aggregations": [{"alignment_period": "{{ s.alignment_period }}", "per_series_aligner": "{{ s.aligner }}", "cross_series_reducer": "{{ s.reducer }}"}],
{%- if let Some(s) = p.condition.denominator %}
                "denominator_aggregations": [{"alignment_period": "{{ s.alignment_period }}", "per_series_aligner": "{{ s.aligner }}", "cross_series_reducer": "{{ s.reducer }}"}],
{%- endif %}
                "trigger": {"count": 1},
            },
        }
    ],
    opts=pulumi.ResourceOptions(depends_on=apis),
)
{%- endfor %}
{%- if let Some(u) = m.uptime_check %}

gcp.monitoring.UptimeCheckConfig(
    "{{ u.key }}",
    project=PROJECT,
    display_name="{{ u.display_name }}",
    period="{{ u.period_seconds }}s",
    timeout="{{ u.timeout_seconds }}s",
    http_check={"path": "{{ u.path }}", "port": 443, "use_ssl": True, "validate_ssl": True},
    monitored_resource={
        "type": "{{ u.resource_type }}",
        "labels": {
{%- for label in u.resource_labels %}
            "{{ label.key }}": "{{ label.value }}",
{%- endfor %}
        },
    },
    opts=pulumi.ResourceOptions(depends_on=apis),
)
{%- endif %}

# The same dashboard document the other targets create.
gcp.monitoring.Dashboard(
    "dashboard",
    project=PROJECT,
    dashboard_json=(
{%- for line in m.dashboard.api_json_lines() %}
        "{{ line }}\n"
{%- endfor %}
    ),
    opts=pulumi.ResourceOptions(depends_on=apis),
)
{%- endif %}
