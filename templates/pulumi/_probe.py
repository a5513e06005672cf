{%- for s in probe.settings() %}
                    "{{ s.name }}": {{ s.value }},
{%- endfor %}
                    "http_get": {"path": "{{ probe.path }}", "port": {{ probe.port }}},
