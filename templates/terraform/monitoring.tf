# Cloud Monitoring for "{{ d.service.name }}": where alerts go, the alert policies, {% if m.uptime_check.is_some() %}an uptime
# check {% endif %}and a dashboard. Thresholds come from the spec's [monitoring] table.
{%- for c in m.channels %}

resource "google_monitoring_notification_channel" "{{ c.key }}" {
  project = var.project
  depends_on = [{{ apis }}]
  display_name = "{{ c.display_name }}"
  type = "{{ c.kind }}"
  labels = {
{%- for label in c.labels %}
    {{ label.key }} = "{{ label.value }}"
{%- endfor %}
  }
}
{%- endfor %}
{%- for p in m.policies %}

resource "google_monitoring_alert_policy" "{{ p.key }}" {
  project = var.project
  depends_on = [{{ apis }}]
  display_name = "{{ p.display_name }}"
  combiner = "OR"
  notification_channels = [{% for c in m.channels %}{% if !loop.first %}, {% endif %}google_monitoring_notification_channel.{{ c.key }}.name{% endfor %}]

  documentation {
    content = "{{ p.documentation }}"
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "{{ p.condition.display_name }}"

    condition_threshold {
      filter = "{{ p.condition.series.filter }}"
{%- if let Some(den) = p.condition.denominator %}
      denominator_filter = "{{ den.filter }}"
{%- endif %}
      comparison = "{{ p.condition.comparison }}"
      threshold_value = {{ p.condition.threshold }}
      duration = "{{ p.condition.duration }}"
{%- let s = p.condition.series %}

      aggregations {
{%- include "terraform/_aggregation.tf" %}
      }
{%- if let Some(s) = p.condition.denominator %}

      denominator_aggregations {
{%- include "terraform/_aggregation.tf" %}
      }
{%- endif %}

      trigger {
        count = 1
      }
    }
  }
}
{%- endfor %}
{%- if let Some(u) = m.uptime_check %}

resource "google_monitoring_uptime_check_config" "{{ u.key }}" {
  project = var.project
  depends_on = [{{ apis }}]
  display_name = "{{ u.display_name }}"
  period = "{{ u.period_seconds }}s"
  timeout = "{{ u.timeout_seconds }}s"

  http_check {
    path = "{{ u.path }}"
    port = 443
    use_ssl = true
    validate_ssl = true
  }

  monitored_resource {
    type = "{{ u.resource_type }}"
    labels = {
{%- for label in u.resource_labels %}
      {{ label.key }} = "{{ label.value }}"
{%- endfor %}
    }
  }
}
{%- endif %}

# The same dashboard the other targets create, from the JSON document beside this file.
resource "google_monitoring_dashboard" "dashboard" {
  project = var.project
  depends_on = [{{ apis }}]
  dashboard_json = file("${path.module}/{{ dashboard_file }}")
}
