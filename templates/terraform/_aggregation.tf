
        alignment_period = "{{ s.alignment_period }}"
        per_series_aligner = "{{ s.aligner }}"
        cross_series_reducer = "{{ s.reducer }}"
