
        initial_delay_seconds = {{ probe.initial_delay_seconds }}
        period_seconds = {{ probe.period_seconds }}
        timeout_seconds = {{ probe.timeout_seconds }}
        failure_threshold = {{ probe.failure_threshold }}

        http_get {
          path = "{{ probe.path }}"
          port = {{ probe.port }}
        }
